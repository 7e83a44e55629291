"""What normalising people costs when their addresses are international: `normalise_employees`
on N generated people (`bench/international.py`), medians of R repetitions in one process.

    .venv/bin/python bench/addresses.py --size 100000 --repeat 3
    # the same data on older code, e.g. the commit before the address policy:
    git archive <commit> personio_pipeline | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before .venv/bin/python bench/addresses.py --size 100000 --repeat 3

Prints JSON: which code was measured (the module's path), the data's shares, the median and all
times, and how many people got an address.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from international import records, shares  # noqa: E402


def first_module(*names: str):
    """The first of `names` that imports: the current module path, then where an older checkout
    (measured through PYTHONPATH) kept it, before the package was laid out by domain."""
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError(f"none of {', '.join(names)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    employees = first_module("personio_pipeline.org.employees", "personio_pipeline.model.employees")

    people = records(args.size, args.seed)
    times, valid = [], None
    for _ in range(args.repeat):
        for cache in ("_checked_email", "_validated_domain"):  # older code cached per address: start cold
            getattr(getattr(employees, cache, None), "cache_clear", lambda: None)()
        try:
            first_module("personio_pipeline.org.addresses", "personio_pipeline.addresses")._domain.cache_clear()
        except ImportError:
            pass
        started = time.perf_counter()
        table = employees.normalise_employees(people, date(2026, 1, 6)).table
        times.append(time.perf_counter() - started)
        valid = int(table["email"].notna().sum())
    print(json.dumps({
        "code": employees.__file__,
        "size": args.size,
        **shares(people),
        "with_address": valid,
        "median_s": round(statistics.median(times), 3),
        "times_s": [round(t, 3) for t in times],
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
