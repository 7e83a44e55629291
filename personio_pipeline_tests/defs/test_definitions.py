"""The code location loads, and its graph has the shape the data team relies on."""

import dagster as dg

from personio_pipeline.definitions import defs


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_every_asset_is_partitioned_by_company_and_documented():
    for spec in defs.resolve_all_asset_specs():
        assert spec.partitions_def is not None and spec.partitions_def.name == "companies", spec.key
        assert spec.description, f"{spec.key.to_user_string()} needs a docstring"
        assert spec.group_name != "default", spec.key
        assert spec.owners, spec.key


def test_teammeter_assets_name_the_configured_store():
    from personio_pipeline.common import settings

    kinds = {spec.key: spec.kinds for spec in defs.resolve_all_asset_specs()}
    assert kinds[dg.AssetKey(["teammeter", "users"])] == {"sqlalchemy", settings.teammeter_database_kind()}
    assert settings.teammeter_database_kind("sqlite:////tmp/teammeter.sqlite") == "sqlite"
    assert settings.teammeter_database_kind("postgresql://teammeter@db/teammeter") == "postgres"
    assert settings.teammeter_database_kind("postgresql+psycopg://teammeter@db/teammeter") == "postgres"
