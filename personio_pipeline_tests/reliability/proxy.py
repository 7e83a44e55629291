"""A tiny HTTP proxy in front of the sandbox that breaks `/hris/employees` answers on demand.

The sandbox itself only serves spec-valid responses; what a real network and real gateways
add (connections cut mid-page, truncated JSON, HTML error pages, bodies of the wrong shape)
is done here, between the client and the sandbox.
"""

from __future__ import annotations

import collections
import http.client
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HTML_PAGE = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
             b"<body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>")
FAULTS = ("drop_mid_body", "drop_before_response", "malformed_json", "html_502", "html_200",
          "data_not_list", "data_null")


class FaultProxy:
    """Forwards to `upstream`; each /hris request takes the next queued fault (None = pass through),
    or `always` when the queue is empty."""

    def __init__(self, upstream: str):
        target = urlsplit(upstream)
        self.upstream = (target.hostname, target.port)
        self.faults: collections.deque[str | None] = collections.deque()
        self.always: str | None = None
        self.served: list[str] = []  # what each /hris request got
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: simple and honest

            def do_GET(self):
                proxy._handle(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def queue(self, *faults: str | None) -> None:
        unknown = set(faults) - set(FAULTS) - {None}
        assert not unknown, f"unknown faults {unknown}"
        with self._lock:
            self.faults.extend(faults)

    def _next_fault(self) -> str | None:
        with self._lock:
            fault = self.faults.popleft() if self.faults else self.always
            self.served.append(fault or "ok")
            return fault

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        fault = self._next_fault() if handler.path.startswith("/hris/") else None
        if fault == "drop_before_response":
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        upstream = http.client.HTTPConnection(*self.upstream, timeout=30)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "connection")}
        upstream.request("GET", handler.path, headers=headers)
        response = upstream.getresponse()
        status, body = response.status, response.read()
        passed = {k: v for k, v in response.getheaders()
                  if k.lower() not in ("content-length", "connection", "transfer-encoding")}
        upstream.close()
        content_type = passed.pop("Content-Type", "application/json; charset=utf-8")
        if fault == "malformed_json":
            body = body[: len(body) * 2 // 3]  # valid length, broken JSON
        elif fault in ("html_502", "html_200"):
            status, body, content_type = (502 if fault == "html_502" else 200), HTML_PAGE, "text/html"
        elif fault in ("data_not_list", "data_null"):
            document = json.loads(body)
            document["data"] = {"employees": document["data"]} if fault == "data_not_list" else None
            body = json.dumps(document).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in passed.items():
            handler.send_header(name, value)
        handler.end_headers()
        if fault == "drop_mid_body":
            handler.wfile.write(body[: len(body) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        handler.wfile.write(body)
