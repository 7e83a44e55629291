"""The sandbox's HTTP plumbing: a threading HTTP server that remembers its open connections (so
`stop()` can cut keep-alive clients off) and a handler that hands each request to the sandbox's
`handle` and writes the reply."""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Mapping, Protocol

from personio_pipeline.sandbox.replies import Reply, fault_reply

log = logging.getLogger("personio_pipeline.sandbox.server")


class Handles(Protocol):
    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply: ...


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], sandbox: Handles):
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, for pooled clients
    disable_nagle_algorithm = True  # headers and body go out as two writes; don't wait for an ACK between
    server_version = "ApideckSandbox/1.0"
    server: SandboxHTTPServer

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            reply = self.server.sandbox.handle(self.command, self.path, self.headers, body)
        except Exception:
            log.exception(f"sandbox failed on {self.command} {self.path}")
            reply = fault_reply(500)
        payload = reply.encoded()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        try:
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (timeout tests)
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(f"{self.address_string()} {format % args}")
