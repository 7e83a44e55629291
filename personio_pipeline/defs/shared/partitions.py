"""One partition per customer company; the key is the Apideck consumer id."""

import dagster as dg

companies = dg.DynamicPartitionsDefinition(name="companies")
