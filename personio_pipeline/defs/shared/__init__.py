"""What every part of the wiring shares: names (keys.py), resources, the IO manager, the company
partitions, the asset jobs, step retries, check results and the executor."""
