"""personio_pipeline: keeps each customer company's Teammeter in step with its Personio, read through
Apideck.

The flow in the folder names: `apideck/` (read) → `org/` (the org model, pure) → `store/` (Teammeter,
one transaction per company) → `invitations/`; `companies/` is who the customers are, `defs/` wires
it all into Dagster, `runtime/` runs it, `cli/` is the operator's command line.
"""
