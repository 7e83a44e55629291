"""What the verification report costs at scale: a sandbox company (diverse profile) synced twice into
a fresh SQLite Teammeter (day 0, then the churn of day 1, so the page has changes to show), then
the report built from the store and the organisation model, as the `teammeter/review_report`
asset builds it; prints its size, the time to build it and how long headless Chromium takes to
open it. Above `SUMMARY_FROM` active people (2,000) the report is a summary page with its long
lists as CSV files next to it: the figures give the page and the CSV files apart; `--summary-from`
moves the threshold (`--summary-from 1000000` builds the single page of before at any size).

    .venv/bin/python bench/review_report.py                        # 10,000 people, 5 browser loads
    .venv/bin/python bench/review_report.py --size 100000 --repeat 1
    .venv/bin/python bench/review_report.py --size 100000 --repeat 1 --summary-from 1000000   # one page
    .venv/bin/python bench/review_report.py --keep /tmp/report.html    # CSV files next to it, if any
    .venv/bin/python bench/review_report.py --page data/teammeter/review_report/acme-sandbox.html \
        --screenshot docs/review_report.png          # the README's picture, after `make demo`

The browser is driven over the DevTools protocol (`websockets`, installed with uvicorn[standard]):
each load navigates to the file and waits for the load event; the figures are the page's own
Navigation Timing (`loadEventEnd`: parsed, styled, laid out and loaded, sections closed as they
start) and the first contentful paint, plus the time to open every section at once. Needs
`chromium` (Debian: `apt-get install chromium`); without it the browser figures are left out.
Prints JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine  # noqa: E402

DAY0 = date(2026, 1, 5)  # the sandbox's day 0
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
OPEN_EVERYTHING = ("(() => {const t = performance.now(); document.querySelectorAll('details')"
                   ".forEach(d => d.open = true); document.body.getBoundingClientRect(); "
                   "return performance.now() - t;})()")
TIMINGS = ("JSON.stringify({load: performance.getEntriesByType('navigation')[0].loadEventEnd, "
           "dcl: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd, "
           "fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null, "
           "nodes: document.getElementsByTagName('*').length})")


def model_of(records: list[dict], today: date):
    from personio_pipeline.org.employees import normalise_employees
    from personio_pipeline.org.structure import (
        derive_reporting_lines,
        derive_roles,
        derive_teams,
        derive_units,
    )
    from personio_pipeline.store.diff import OrgModel

    table = normalise_employees(records, today).table
    return OrgModel(table, derive_teams(table), derive_units(table), derive_roles(table),
                    derive_reporting_lines(table).lines)


def build(size: int, profile: str, workdir: Path, company: str, summary_from: int | None = None):
    from personio_pipeline.common.memory import cyclic_gc_paused
    from personio_pipeline.companies import registry
    from personio_pipeline.reporting.verification import gather, report_from
    from personio_pipeline.sandbox.generator import generate_company
    from personio_pipeline.store.db import create_engine, migrate
    from personio_pipeline.store.sync import sync_company

    engine = create_engine(f"sqlite:///{workdir / 'teammeter.sqlite'}")
    migrate(engine)
    with engine.begin() as conn:
        registry.register(conn, company, f"Benchmark {company}")
    model = None
    for day in (0, 1):
        model = model_of(generate_company(company, size, day=day, profile=profile), DAY0)
        sync_company(engine, company, model, run_id=f"day-{day}", approve_deactivations=True)
    with cyclic_gc_paused(), engine.connect() as conn:  # as build_report, which the asset calls
        started = time.perf_counter()
        content = gather(conn, company, model.employees)
        gathered = time.perf_counter()
        report = report_from(content, "report", summary_from)
        rendered = time.perf_counter()
    engine.dispose()
    return report, {
        "people": content.header.people,
        "summary_page": report.summary,
        "build_s": round(rendered - started, 3),
        "gather_s": round(gathered - started, 3),
        "render_s": round(rendered - gathered, 3),  # the page and, for a summary, its CSV files
        "counts": content.counts(),
    }


class Browser:
    """Headless Chromium on a DevTools port, one page driven over its WebSocket."""

    def __init__(self, executable: str, workdir: Path, window: str = "1200,1600"):
        profile = workdir / "chromium-profile"
        self.process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
             f"--window-size={window}", "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        from websockets.sync.client import connect

        self.connection = contextlib.ExitStack()
        self.socket = self.connection.enter_context(connect(url, max_size=None))
        self.next_id = 0
        self.call("Page.enable")

    def call(self, method: str, **params):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=120))
            if message.get("id") == self.next_id:
                return message.get("result", {})

    def wait_for(self, event: str) -> None:
        while json.loads(self.socket.recv(timeout=120)).get("method") != event:
            pass

    def load(self, url: str) -> dict:
        self.call("Page.navigate", url="about:blank")
        self.wait_for("Page.loadEventFired")
        started = time.perf_counter()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        wall = time.perf_counter() - started
        timings = json.loads(self.evaluate(TIMINGS))
        return {"wall_s": round(wall, 3), "load_event_s": round(timings["load"] / 1000, 3),
                "dom_content_loaded_s": round(timings["dcl"] / 1000, 3),
                "first_contentful_paint_s": round(timings["fcp"] / 1000, 3) if timings["fcp"] else None,
                "elements": timings["nodes"]}

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"]["value"]

    def close(self) -> None:
        self.connection.close()
        self.process.terminate()
        self.process.wait(timeout=30)


def browser_figures(page_file: Path, workdir: Path, repeat: int) -> dict | None:
    executable = next((found for name in BROWSERS if (found := shutil.which(name))), None)
    if executable is None:
        return None
    browser = Browser(executable, workdir)
    try:
        loads = []
        for _ in range(repeat):
            load = os.getloadavg()[0]
            loads.append({**browser.load(page_file.as_uri()), "load_1min": round(load, 2)})
        opened_ms = browser.evaluate(OPEN_EVERYTHING)
    finally:
        browser.close()
    version = subprocess.run([executable, "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "browser": version,
        "loads": loads,
        "median_load_event_s": round(statistics.median(run["load_event_s"] for run in loads), 3),
        "median_wall_s": round(statistics.median(run["wall_s"] for run in loads), 3),
        "open_every_section_s": round(opened_ms / 1000, 3),
    }


def screenshot(page: str, target: Path, workdir: Path, sections: tuple[str, ...]) -> None:
    """A picture of the page with `sections` opened (the page itself starts with all closed)."""
    executable = next((found for name in BROWSERS if (found := shutil.which(name))), None)
    if executable is None:
        raise SystemExit("--screenshot needs chromium")
    for section in sections:
        page = page.replace(f'<section id="{section}"><details>', f'<section id="{section}"><details open>')
    opened = workdir / "opened.html"
    opened.write_text(page, encoding="utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([executable, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1100,1800", f"--screenshot={target.resolve()}", opened.as_uri()],
                   check=True, capture_output=True, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--profile", default="diverse", choices=["diverse", "standard"])
    parser.add_argument("--repeat", type=int, default=5, help="browser loads (the first one starts the browser cold)")
    parser.add_argument("--company", default="bench-report")
    parser.add_argument("--keep", type=Path, help="also write the page here (and its CSV files next to it)")
    parser.add_argument("--summary-from", type=int, default=None,
                        help="the threshold above which the report is a summary page (default SUMMARY_FROM)")
    parser.add_argument("--screenshot", type=Path, help="write a PNG of the page with some sections open")
    parser.add_argument("--open", default="people,sizes,managers", help="sections opened for --screenshot")
    parser.add_argument("--page", type=Path, help="with --screenshot: picture this report instead of building one")
    args = parser.parse_args()

    if args.page:
        if not args.screenshot:
            parser.error("--page goes with --screenshot")
        with tempfile.TemporaryDirectory(prefix="bench-review-report-") as folder:
            screenshot(args.page.read_text(encoding="utf-8"), args.screenshot, Path(folder), tuple(args.open.split(",")))
        print(f"screenshot of {args.page} written to {args.screenshot}")
        return

    with tempfile.TemporaryDirectory(prefix="bench-review-report-") as folder:
        workdir = Path(folder)
        load_before = os.getloadavg()[0]
        from personio_pipeline.reporting.verification import write_report  # as the asset writes it

        report, figures = build(args.size, args.profile, workdir, args.company, args.summary_from)
        page_file = workdir / "report.html"
        write_report(page_file, report)
        csv_bytes = {path.name: len(data) for path, data in report.files(page_file).items() if path != page_file}
        if args.keep:  # the CSV files are named after the page its links name
            from personio_pipeline.reporting.verification import page_stem, report_from

            write_report(args.keep, report_from(report.content, page_stem(args.keep), args.summary_from))
        if args.screenshot:
            screenshot(report.page, args.screenshot, workdir, tuple(args.open.split(",")))
        result = {
            "size": args.size,
            "profile": args.profile,
            "file_bytes": page_file.stat().st_size,
            "file_mb": round(page_file.stat().st_size / 1e6, 2),
            "csv_files": csv_bytes,
            "csv_mb": round(sum(csv_bytes.values()) / 1e6, 2),
            **figures,
            "load_1min_before": round(load_before, 2),
            "browser": browser_figures(page_file, workdir, args.repeat) or "chromium not found: no browser figures",
            "machine": machine(),
        }
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
