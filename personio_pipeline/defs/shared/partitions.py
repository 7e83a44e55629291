"""One partition per customer company; the key is the Apideck consumer id."""

import warnings

import dagster as dg

from personio_pipeline.defs.shared.keys import COMPANY_PARTITIONS

# Checks partitioned by company are a Dagster preview that the project relies on knowingly
# (personio_pipeline_tests/defs/test_check_partitions.py): no warning on every CLI call.
warnings.filterwarnings("ignore", "Specifying a partitions_def on an AssetCheckSpec", dg.PreviewWarning)

companies = dg.DynamicPartitionsDefinition(name=COMPANY_PARTITIONS)
