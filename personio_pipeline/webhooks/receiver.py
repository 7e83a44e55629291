"""The webhook receiver: a small ASGI app (Starlette, served by uvicorn) in front of the inbox.

`POST /webhooks/apideck` reads at most `max_body_bytes` of the raw body, checks Apideck's
signature over exactly those bytes, stores the event once in `webhook_events` and answers; it
never syncs. Storing goes through one writer thread that commits whatever requests are waiting
as one transaction (group commit): a request is answered 2xx only once its event is committed,
and a burst costs a few commits instead of one per event. `GET /healthz` answers liveness probes.

Logs name the event type and the company, never the entity (an employee's HR id), the body or
the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import socket
import threading
import time
from datetime import datetime, timezone

import sqlalchemy as sa
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from personio_pipeline.common import settings
from personio_pipeline.webhooks import inbox
from personio_pipeline.webhooks.events import (
    EVENT_TYPE_HEADER,
    IDEMPOTENCY_HEADER,
    InvalidEvent,
    WebhookEvent,
    parse_event,
)
from personio_pipeline.webhooks.signature import SIGNATURE_HEADER, is_valid

PATH = "/webhooks/apideck"
MAX_BODY_BYTES = 64 * 1024  # Apideck's events are ~1-2 KB; anything near this is not one
MAX_BATCH = 500

log = logging.getLogger(__name__)


class BodyTooLarge(Exception):
    pass


class InboxWriter:
    """One thread that stores events in batches; `store` resolves when the batch has committed."""

    def __init__(self, engine: sa.Engine, max_batch: int = MAX_BATCH):
        self.engine = engine
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="webhook-inbox-writer", daemon=True)
        self._stopping = threading.Event()
        self._organisation_ids: dict[str, int] = {}  # consumer id → organisation id, filled on demand

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout=10)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    async def store(self, event: WebhookEvent) -> inbox.Stored:
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self._queue.put((event, future, loop))
        return await future

    def _run(self) -> None:
        while not self._stopping.is_set():
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._stopping.set()
                    break
                batch.append(item)
            self._write(batch)

    def _write(self, batch: list) -> None:
        try:
            with self.engine.begin() as conn:
                results = inbox.store(conn, [event for event, _, _ in batch], datetime.now(timezone.utc),
                                      self._organisation_ids)
        except Exception as error:  # the database is down or refused the batch: every request sees it
            log.error(f"webhook inbox: storing {len(batch)} event(s) failed: {type(error).__name__}")
            for _, future, loop in batch:
                loop.call_soon_threadsafe(_settle, future, None, error)
            return
        for (_, future, loop), result in zip(batch, results):
            loop.call_soon_threadsafe(_settle, future, result, None)


def _settle(future: asyncio.Future, result, error) -> None:
    if future.done():  # the client went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _is_validation_request(body: bytes, headers) -> bool:
    """Apideck checks a delivery URL, when a subscription is created or changed, with a signed
    POST that is no event: no event headers and no `payload`. It is answered 2xx, nothing stored."""
    if headers.get(EVENT_TYPE_HEADER) or headers.get(IDEMPOTENCY_HEADER):
        return False
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        return False
    return isinstance(document, dict) and "payload" not in document


def create_app(engine: sa.Engine, api_key: str, *, max_body_bytes: int = MAX_BODY_BYTES) -> Starlette:
    """The receiver for events signed with `api_key` (Apideck's API key), storing into `engine`."""
    if not api_key:
        raise ValueError("the webhook receiver needs the Apideck API key (APIDECK_API_KEY) to check signatures")
    writer = InboxWriter(engine)

    async def receive(request: Request) -> JSONResponse:
        try:
            body = await _read_body(request, max_body_bytes)
        except BodyTooLarge:
            log.warning(f"webhook refused: body over {max_body_bytes} bytes")
            return JSONResponse({"error": f"body larger than {max_body_bytes} bytes"}, status_code=413)
        if not is_valid(body, api_key, request.headers.get(SIGNATURE_HEADER)):
            log.warning("webhook refused: missing or wrong x-apideck-signature")
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        if _is_validation_request(body, request.headers):
            return JSONResponse({"stored": False, "validation": True})
        try:
            event = parse_event(body, request.headers)
        except InvalidEvent as problem:
            log.warning(f"webhook refused: {problem}")
            return JSONResponse({"error": str(problem)}, status_code=400)
        try:
            stored = await writer.store(event)
        except Exception:
            # Apideck retries failed deliveries: answering 503 loses nothing.
            return JSONResponse({"error": "the inbox is unavailable; retry later"}, status_code=503)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(f"webhook {event.event_type} for company '{event.consumer_id}': "
                      f"{'stored' if stored.new else 'duplicate'}, {stored.status}")
        if stored.new and stored.reason == inbox.UNKNOWN_COMPANY:
            log.info(f"webhook {event.event_type} for unknown company '{event.consumer_id}' recorded as ignored")
        return JSONResponse(
            {"stored": stored.new, "duplicate": not stored.new, "status": stored.status, "reason": stored.reason}
        )

    async def healthz(request: Request) -> JSONResponse:
        if not writer.alive:
            return JSONResponse({"status": "inbox writer stopped"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        writer.start()
        try:
            yield
        finally:
            writer.stop()

    app = Starlette(
        routes=[Route(PATH, receive, methods=["POST"]), Route("/healthz", healthz, methods=["GET"])],
        lifespan=lifespan,
    )
    app.state.writer = writer
    return app


class ReceiverServer:
    """The receiver under uvicorn in a background thread, as the tests run it: `url`, `stop()`."""

    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 0):
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name=f"webhook receiver :{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "ReceiverServer":
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the webhook receiver did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._socket.close()

    def __enter__(self) -> "ReceiverServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(app: Starlette, host: str, port: int, *, access_log: bool = False) -> None:
    """Run the receiver in the foreground (the CLI) until SIGINT/SIGTERM."""
    # Lazy: the JSON log handler comes with Dagster, which the receiver needs for nothing else.
    from personio_pipeline.common.logs import json_handler

    if settings.json_logs_enabled():  # uvicorn's own lines as JSON too
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).handlers[:] = [json_handler()]
            logging.getLogger(name).propagate = False
        log_config = None
    else:
        logging.getLogger("personio_pipeline").setLevel(logging.INFO)
        logging.getLogger("personio_pipeline").addHandler(logging.StreamHandler())
        log_config = uvicorn.config.LOGGING_CONFIG
    # The access log names paths and status codes only; off by default at high event rates.
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log, server_header=False,
                log_config=log_config)
