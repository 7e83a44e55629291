"""A pure check verdict (`org/checks.py`) as the Dagster result of the step that evaluated it."""

from typing import Any

import dagster as dg

from personio_pipeline.org.checks import CheckOutcome


def to_result(check_name: str, outcome: CheckOutcome, asset_key: dg.AssetKey | None = None) -> dg.AssetCheckResult:
    """The Dagster result of a verdict, naming the company (the running step's partition) so a
    result read on its own, in an alert or a plot, still says whose it is."""
    metadata: dict[str, Any] = {"company": dg.AssetExecutionContext.get().partition_key}
    for key, value in outcome.metadata.items():
        if key == "preview_md":
            metadata["preview"] = dg.MetadataValue.md(value)
        elif isinstance(value, (list, dict)):
            metadata[key] = dg.MetadataValue.json(value)
        else:
            metadata[key] = value
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=check_name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity[outcome.severity],
        description=outcome.description,
        metadata=metadata,
    )
