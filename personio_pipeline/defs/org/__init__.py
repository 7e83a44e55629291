"""The org model layer (`org/*` assets) and its asset checks: wiring around `personio_pipeline.org`."""
