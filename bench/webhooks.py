"""Benchmark of the webhook receiver: a steady rate of signed events over loopback for a fixed
time, against `personio-pipeline webhooks serve` in its own process, on SQLite and PostgreSQL.

    .venv/bin/python bench/webhooks.py                                  # 1,000 events/s for 10 s, both databases
    .venv/bin/python bench/webhooks.py --rate 2000 --seconds 10 --databases postgres

Open loop: event i is due at start + i/rate whatever the answers before it; its response time
counts from that moment (so a server falling behind shows in the figures rather than slowing
the sender). The client is a small asyncio HTTP/1.1 client over keep-alive connections, bodies
signed before the clock starts. 2 % of the events are sent a second time with the same
idempotency key (Apideck's redeliveries) and 2 % name an unknown company. Afterwards the inbox
is checked: every event answered 2xx, each idempotency key stored exactly once, unknown
companies ignored. Exit status 1 if anything was lost or stored twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import API_KEY, REPO, fresh_database, machine, postgres_admin_url  # noqa: E402

COMPANIES = 50
DUPLICATE_SHARE = UNKNOWN_SHARE = 0.02


def events(count: int, seed: int = 7) -> list[tuple[str, bytes, dict[str, str]]]:
    """(idempotency key, body, headers) of each request, duplicates included, signed as Apideck
    signs (over the sorted form) and sent as Apideck may send it (another key order, whitespace)."""
    from personio_pipeline.webhooks.signature import sign_event

    rng = random.Random(seed)
    requests = []
    for n in range(count):
        unknown = rng.random() < UNKNOWN_SHARE
        key = str(uuid.UUID(int=rng.getrandbits(128)))
        payload = {
            "event_type": rng.choice(["hris.employee.created", "hris.employee.updated", "hris.employee.terminated"]),
            "unified_api": "hris", "service_id": "personio",
            "consumer_id": f"stranger-{n}" if unknown else f"bench-co-{rng.randrange(COMPANIES):02d}",
            "event_id": key, "entity_id": str(rng.randrange(100_000)), "entity_type": "employee",
            "occurred_at": "2026-11-29T09:00:00.000Z",
        }
        document = {"payload": payload}
        body = json.dumps(document).encode()
        headers = {"x-apideck-event-type": payload["event_type"], "x-apideck-idempotency-key": key,
                   "x-apideck-signature": sign_event(document, API_KEY)}
        requests.append((key, body, headers))
        if rng.random() < DUPLICATE_SHARE:
            requests.append((key, body, headers))
    return requests[:count]


def _request_bytes(port: int, body: bytes, headers: dict[str, str]) -> bytes:
    head = [f"POST /webhooks/apideck HTTP/1.1", f"host: 127.0.0.1:{port}", "content-type: application/json",
            f"content-length: {len(body)}", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def load(port: int, requests: list, rate: float, connections: int) -> list[tuple[float, float, int]]:
    """(response time from due, from sent, status) per request."""
    queue: asyncio.Queue = asyncio.Queue()
    results: list[tuple[float, float, int]] = []
    wire = [_request_bytes(port, body, headers) for _, body, headers in requests]

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while True:
            item = await queue.get()
            if item is None:
                break
            due, data = item
            sent = time.perf_counter()
            writer.write(data)
            status = await _read_response(reader)
            done = time.perf_counter()
            results.append((done - due, done - sent, status))
        writer.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    start = time.perf_counter() + 0.2
    for index, data in enumerate(wire):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, data))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return results


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(kind: str, url: str, rate: float, seconds: float, connections: int) -> dict:
    import sqlalchemy as sa

    from personio_pipeline.companies import registry
    from personio_pipeline.store.db import create_engine, migrate
    from personio_pipeline.store.schema import webhook_events

    engine = create_engine(url)
    migrate(engine)
    with engine.begin() as conn:
        for n in range(COMPANIES):
            registry.register(conn, f"bench-co-{n:02d}", f"Bench {n}")
    port = _free_port()
    env = {**os.environ, "TEAMMETER_DATABASE_URL": url, "APIDECK_API_KEY": API_KEY,
           "PERSONIO_LOG_FORMAT": "json"}
    server = subprocess.Popen([str(Path(sys.executable).parent / "personio-pipeline"), "webhooks", "serve",
                               "--port", str(port)], env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        _wait_healthy(port)
        requests = events(int(rate * seconds))
        began = time.perf_counter()
        cpu_before = _cpu_seconds(server.pid)
        results = asyncio.run(load(port, requests, rate, connections))
        elapsed = time.perf_counter() - began
        server_cpu = _cpu_seconds(server.pid) - cpu_before
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    keys = {key for key, _, _ in requests}
    with engine.connect() as conn:
        stored = conn.execute(sa.select(webhook_events.c.idempotency_key, sa.func.count())
                              .group_by(webhook_events.c.idempotency_key)).all()
        ignored = conn.execute(sa.select(sa.func.count()).where(webhook_events.c.ignored_reason == "unknown_company")
                               ).scalar_one()
    engine.dispose()
    statuses = [status for _, _, status in results]
    from_due = [latency for latency, _, _ in results]
    from_sent = [latency for _, latency, _ in results]
    return {
        "database": kind,
        "requests": len(requests),
        "distinct_events": len(keys),
        "sent_in_s": round(elapsed, 2),
        "answered_2xx": sum(200 <= s < 300 for s in statuses),
        "other_answers": len(statuses) - sum(200 <= s < 300 for s in statuses),
        "stored_rows": sum(count for _, count in stored),
        "stored_more_than_once": sum(1 for _, count in stored if count > 1),
        "lost": len(keys - {key for key, _ in stored}),
        "unknown_company_ignored": ignored,
        "p50_ms": round(percentile(from_due, 0.50) * 1000, 1),
        "p99_ms": round(percentile(from_due, 0.99) * 1000, 1),
        "max_ms": round(max(from_due) * 1000, 1),
        "p99_from_send_ms": round(percentile(from_sent, 0.99) * 1000, 1),
        "receiver_cpu_ms_per_request": round(server_cpu / len(requests) * 1000, 2),
        "server_stderr_lines": len(stderr.decode(errors="replace").splitlines()),
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_healthy(port: int) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the receiver did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections of the sender")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default=None)
    args = parser.parse_args()
    info = machine()
    print(f"machine: {info['nproc']} cores {info['cpu']}, {info['ram_gb']} GB, Python {info['python']}, "
          f"commit {info['commit']}, load before {os.getloadavg()}")
    failed = False
    with tempfile.TemporaryDirectory() as workdir:
        for kind in args.databases.split(","):
            admin = postgres_admin_url(args.postgres_url) if kind == "postgres" else None
            with fresh_database(kind, Path(workdir), "webhooks", admin) as url:
                result = measure(kind, url, args.rate, args.seconds, args.connections)
            print(json.dumps(result))
            failed |= bool(result["lost"] or result["stored_more_than_once"] or result["other_answers"])
    print(f"load after: {os.getloadavg()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
