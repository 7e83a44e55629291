"""A plain HTTP endpoint on loopback that keeps every JSON body POSTed to it: the data team's alert
webhook, or the extra delivery URL of the sandbox's webhooks. (The pipeline's own Apideck webhook
receiver is personio_pipeline.webhooks.receiver; see support/webhook_events.py.)"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class WebhookReceiver:
    """Answers every POST with `status` (200 unless a test changes it); keeps the bodies of the
    ones it answered 200 in `payloads`."""

    def __init__(self):
        self.payloads: list[dict] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if receiver.status == 200:
                    receiver.payloads.append(json.loads(body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver():
    receiver = WebhookReceiver()
    try:
        yield receiver
    finally:
        receiver.close()
