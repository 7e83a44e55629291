"""Shared by the benchmark driver and its child processes: the sandbox process, fresh
databases, the machine description. No Dagster import here, so the baseline child stays light."""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import httpx

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
API_KEY = "sk_bench_not_a_secret"
APP_ID = "bench-app"
PAGE_SIZE = 200
POSTGRES_ADMIN_URLS = ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://root@127.0.0.1:5432/test")


def consumer_id(size: int) -> str:
    return f"bench-{size}"


def expected_requests(size: int) -> int:
    return max(1, math.ceil(size / PAGE_SIZE))


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> dict[str, Any]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or "?",
    )
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:")
    )
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "personio_pipeline"],
                               capture_output=True, text=True, check=True).stdout.strip()
        commit += " + uncommitted changes in personio_pipeline/" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "?"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "commit": commit,
        "load_1min": round(os.getloadavg()[0], 2),
    }


# -- the sandbox, as its own process ---------------------------------------------------------------


class SandboxProcess:
    """`personio-pipeline sandbox` in a separate process, on a free port, driven over /_sandbox/."""

    def __init__(self, sizes: dict[str, int], *, day: int = 0, default_size: int = 120, profile: str = "diverse"):
        command = [sys.executable, "-m", "personio_pipeline.cli", "sandbox", "--port", "0",
                   "--size", str(default_size), "--day", str(day), "--api-key", API_KEY, "--profile", profile]
        for company, size in sizes.items():
            command += ["--company", f"{company}={size}"]
        self.process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"sandbox did not start: {line!r}")
        self.url = line.rsplit(" ", 1)[1].strip()
        self.http = httpx.Client(base_url=self.url, timeout=600)

    def reset(self) -> None:
        self.http.post("/_sandbox/reset").raise_for_status()

    def requests(self, company: str) -> int:
        log = self.http.get("/_sandbox/requests").raise_for_status().json()["requests"]
        return sum(1 for r in log if r["path"] == "/hris/employees" and r["consumer_id"] == company)

    def warm(self, company: str, fields: str) -> int:
        """List the company once so generation and JSON encoding are cached before anything is timed."""
        headers = {"Authorization": f"Bearer {API_KEY}", "x-apideck-app-id": APP_ID,
                   "x-apideck-consumer-id": company, "x-apideck-service-id": "personio"}
        rows, cursor = 0, None
        while True:
            params = {"limit": PAGE_SIZE, "fields": fields, **({"cursor": cursor} if cursor else {})}
            body = self.http.get("/hris/employees", params=params, headers=headers).raise_for_status().json()
            rows += len(body["data"])
            cursor = body["meta"]["cursors"]["next"]
            if not cursor:
                return rows

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# -- fresh databases -------------------------------------------------------------------------------


def postgres_admin_url(explicit: str | None = None) -> str | None:
    import sqlalchemy as sa

    for url in ([explicit] if explicit else POSTGRES_ADMIN_URLS):
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            with engine.connect():
                return url
        except sa.exc.OperationalError:
            continue
        finally:
            engine.dispose()
    return None


@contextmanager
def fresh_database(kind: str, workdir: Path, label: str, admin_url: str | None) -> Iterator[str]:
    """An empty database of `kind` ("sqlite" or "postgres"), dropped afterwards; yields its URL."""
    if kind == "sqlite":
        path = workdir / f"{label}-{uuid.uuid4().hex[:8]}.sqlite"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import sqlalchemy as sa
    from psycopg import sql

    if admin_url is None:
        raise RuntimeError("PostgreSQL is not reachable; pass --postgres-url or use --databases sqlite")
    name = f"bench_{label.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://", 1),
                             isolation_level="AUTOCOMMIT")

    def ddl(statement: str) -> None:
        with admin.connect() as conn:
            conn.connection.driver_connection.execute(sql.SQL(statement).format(sql.Identifier(name)))

    ddl("CREATE DATABASE {}")
    try:
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        ddl("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        admin.dispose()


def register_company(database_url: str, company: str) -> None:
    """Migrate the fresh store and register the company, as `personio-pipeline tenants add` does."""
    from personio_pipeline.companies import registry
    from personio_pipeline.store.db import create_engine, migrate

    engine = create_engine(database_url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            registry.register(conn, company, f"Benchmark {company}")
    finally:
        engine.dispose()


def run_child(script: str, args: dict[str, Any], *, timeout: float = 1800) -> dict[str, Any]:
    """Run bench/<script> in a fresh interpreter; it writes its result as JSON to --out."""
    out = Path(args["workdir"]) / f"result-{uuid.uuid4().hex[:8]}.json"
    command = [sys.executable, str(BENCH / script), "--out", str(out)]
    for key, value in args.items():
        if key != "workdir" and value is not None:
            command += [f"--{key.replace('_', '-')}", str(value)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - started
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"{script} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    result = json.loads(out.read_text())
    out.unlink()
    result["process_seconds"] = wall
    return result
