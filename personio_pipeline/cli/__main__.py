"""`python -m personio_pipeline.cli …`, the same as `personio-pipeline …`."""

from personio_pipeline.cli import main

main()
