"""What the `org/employees` step's transform costs: `normalise_extract` reading a sandbox
company's raw extract back from disk (JSON Lines, as the asset does: columnar through Arrow), and
with `--reader records` the record-by-record path it falls back to; best and median of R
repetitions in one process, with the machine's load average and CPU seconds next to each figure.

    .venv/bin/python bench/org_employees.py                                  # 100,000, diverse, best of 3
    .venv/bin/python bench/org_employees.py --size 100000 --profile standard
    .venv/bin/python bench/org_employees.py --reader records                 # the fallback path
    .venv/bin/python bench/org_employees.py --pyinstrument /tmp/org-employees  # + call tree (.txt, .html)

The records are generated (`sandbox.generator.generate_company`) and written to the extract
before anything is timed. Every repetition starts with cold caches (the address policy's
per-domain cache and the model's per-value caches), as a fresh run worker does. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

TODAY = date(2026, 1, 5)  # the sandbox's day 0


def _cold_caches() -> None:
    """Forget what an earlier repetition learnt: each run worker starts afresh."""
    from addresses import first_module

    for module in (first_module("personio_pipeline.org.addresses", "personio_pipeline.addresses"),
                   first_module("personio_pipeline.org.employees", "personio_pipeline.model.employees")):
        for value in vars(module).values():
            clear = getattr(value, "cache_clear", None)
            if callable(clear):
                clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--profile", default="diverse", choices=["diverse", "standard"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reader", default="columnar", choices=["columnar", "records"],
                        help="columnar: the step's path (Arrow); records: the record-by-record fallback")
    parser.add_argument("--company", default="bench-org-employees")
    parser.add_argument("--pyinstrument", metavar="PREFIX", help="profile one more repetition, write PREFIX.txt/.html")
    args = parser.parse_args()

    from addresses import first_module

    from personio_pipeline.apideck.extract import RawExtractSpool

    generate_company = first_module("personio_pipeline.sandbox.generator",
                                    "personio_pipeline.apideck.sandbox.generator").generate_company
    normalise_employees = first_module("personio_pipeline.org.employees",
                                       "personio_pipeline.model.employees").normalise_employees
    normalise_extract = first_module("personio_pipeline.org.employees_columnar",
                                     "personio_pipeline.model.employees_columnar").normalise_extract

    def normalise(extract):
        if args.reader == "records":
            return normalise_employees(extract.iter_records(), today=TODAY)
        return normalise_extract(extract, today=TODAY)

    records = generate_company(args.company, args.size, profile=args.profile)
    with tempfile.TemporaryDirectory(prefix="bench-org-employees-") as folder:
        with RawExtractSpool(folder) as spool:
            for start in range(0, len(records), 200):  # pages, as the listing writes them
                spool.write(records[start:start + 200])
            extract = spool.finish()
        del records
        runs = []
        for _ in range(args.repeat):
            _cold_caches()
            load = os.getloadavg()[0]
            started, cpu = time.perf_counter(), time.process_time()
            normalised = normalise(extract)
            runs.append({"s": round(time.perf_counter() - started, 3), "cpu_s": round(time.process_time() - cpu, 3),
                         "load_1min": round(load, 2)})
        if args.pyinstrument:
            from pyinstrument import Profiler

            _cold_caches()
            profiler = Profiler(interval=0.001)
            with profiler:
                normalise(extract)
            Path(f"{args.pyinstrument}.txt").write_text(profiler.output_text(unicode=True, show_all=False))
            Path(f"{args.pyinstrument}.html").write_text(profiler.output_html())
    times = [run["s"] for run in runs]
    print(json.dumps({
        "code": normalise_employees.__code__.co_filename,
        "reader": normalised.reader,
        "size": args.size,
        "profile": args.profile,
        "rows": len(normalised.table),
        "with_email": int(normalised.table["email"].notna().sum()),
        "best_s": min(times),
        "median_s": round(statistics.median(times), 3),
        "runs": runs,
    }))


if __name__ == "__main__":
    main()
