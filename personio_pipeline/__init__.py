"""personio_pipeline: keeps Teammeter organisations in step with each customer's Personio via Apideck."""
