"""The customer companies: the registry (Teammeter's `organisations` table), the health of each
company's Personio connection, its sync runs, the data team's alert log, its files in the data
folder, and removing a company from the pipeline (offboarding)."""
