"""No secret reaches what the Dagster UI shows: the Deployment → Resources page, the launchpad's
job presets and default run config.

The code location is loaded the way the webserver loads it (a code server in its own process,
queried over Dagster's GraphQL API), with a canary value in every secret-bearing variable: the
Apideck key, the Teammeter database URL (password inside), SMTP user and password, and the data
team's webhook URL (token inside). Every GraphQL answer is searched for the canaries; the
resource page must name the variables instead.
"""

from __future__ import annotations

import json
import secrets

import dagster as dg
import pytest
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

from personio_pipeline_tests.support.processes import REPO

pytestmark = pytest.mark.slow

TOKEN = secrets.token_hex(8)
CANARIES = {
    "APIDECK_API_KEY": f"sk_live_CANARY_KEY_{TOKEN}",
    "APIDECK_APP_ID": "canary-app",
    "TEAMMETER_DATABASE_URL": f"postgresql://teammeter:CANARY_DB_{TOKEN}@db.example.internal:5432/teammeter",
    "SMTP_HOST": "smtp.example.internal",
    "SMTP_USER": f"CANARY_SMTP_USER_{TOKEN}",
    "SMTP_PASSWORD": f"CANARY_SMTP_PASSWORD_{TOKEN}",
    "DATA_TEAM_EMAIL": "data-team@example.com",
    "DATA_TEAM_WEBHOOK_URL": f"https://hooks.example.com/services/CANARY_HOOK_{TOKEN}",
}
SECRET_FRAGMENTS = [f"CANARY_KEY_{TOKEN}", f"CANARY_DB_{TOKEN}", f"CANARY_SMTP_USER_{TOKEN}",
                    f"CANARY_SMTP_PASSWORD_{TOKEN}", f"CANARY_HOOK_{TOKEN}"]
LOCATION = "personio_pipeline"
REPOSITORY = "__repository__"

RESOURCES = """
query Resources($selector: RepositorySelector!) {
  allTopLevelResourceDetailsOrError(repositorySelector: $selector) {
    __typename
    ... on ResourceDetailsList {
      results {
        name
        configuredValues { key value type }
        nestedResources { name type resource { name configuredValues { key value type } } }
      }
    }
  }
}
"""

JOB = """
query Job($selector: PipelineSelector!) {
  pipelineOrError(params: $selector) {
    __typename
    ... on Pipeline { name presets { name runConfigYaml } }
  }
  runConfigSchemaOrError(selector: $selector) {
    __typename
    ... on RunConfigSchema { rootDefaultYaml }
  }
}
"""


@pytest.fixture(scope="module")
def graphql_context(tmp_path_factory):
    """A workspace of the project's code location in a code server process, with the canaries set."""
    folder = tmp_path_factory.mktemp("ui")
    workspace = folder / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: personio_pipeline.definitions\n"
        f"      location_name: {LOCATION}\n      working_directory: {REPO}\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CANARIES.items():
            patch.setenv(name, value)
        patch.setenv("PERSONIO_PIPELINE_DATA_DIR", str(folder / "data"))
        with dg.instance_for_test(temp_dir=str(folder)) as instance:
            with define_out_of_process_context(str(workspace), None, instance) as context:
                yield context


def query(context, text: str, variables: dict) -> dict:
    result = execute_dagster_graphql(context, text, variables)
    assert not result.errors, result.errors
    return result.data


def assert_no_canary(answer: dict) -> None:
    text = json.dumps(answer)
    leaked = [fragment for fragment in SECRET_FRAGMENTS if fragment in text]
    assert not leaked, f"secrets shown by the UI: {leaked}"


def test_resource_page_names_the_variables_not_the_secrets(graphql_context):
    answer = query(graphql_context, RESOURCES,
                   {"selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}})
    details = answer["allTopLevelResourceDetailsOrError"]
    assert details["__typename"] == "ResourceDetailsList", details
    assert_no_canary(answer)

    configured = {
        (resource["name"], value["key"]): (value["type"], value["value"])
        for resource in details["results"]
        for value in resource["configuredValues"]
    }
    assert configured[("apideck", "api_key")] == ("ENV_VAR", "APIDECK_API_KEY")
    assert configured[("teammeter_db", "url")] == ("ENV_VAR", "TEAMMETER_DATABASE_URL")
    assert configured[("mailer", "smtp_user")] == ("ENV_VAR", "SMTP_USER")
    assert configured[("mailer", "smtp_password")] == ("ENV_VAR", "SMTP_PASSWORD")
    assert configured[("data_team_alerts", "webhook_url")] == ("ENV_VAR", "DATA_TEAM_WEBHOOK_URL")
    # Plain settings stay readable, so the page still tells the operator something.
    assert configured[("mailer", "smtp_host")] == ("VALUE", json.dumps(CANARIES["SMTP_HOST"]))


@pytest.mark.parametrize("job", ["sync_company", "invite_company"])
def test_launchpad_presets_and_default_config_hold_no_secret(graphql_context, job):
    answer = query(graphql_context, JOB, {"selector": {"repositoryLocationName": LOCATION,
                                                       "repositoryName": REPOSITORY, "pipelineName": job}})
    assert answer["pipelineOrError"]["__typename"] == "Pipeline", answer
    assert answer["runConfigSchemaOrError"]["__typename"] == "RunConfigSchema", answer
    assert_no_canary(answer)
