"""Dagster wiring only: partitions, resources, IO, assets, checks, sensors, schedules."""
