"""Keeping companies going: the daily sync schedule, the connection and failure sensors, and the
change-log retention job."""
