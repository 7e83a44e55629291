"""A local relay for the invitation benchmark: aiosmtpd (SMTPUTF8 on) in its own process, so it
does not share the sender's interpreter. Appends each accepted recipient, one per line, to
--log; runs until terminated."""

from __future__ import annotations

import argparse
import signal
import threading

from aiosmtpd.controller import Controller


class CountingHandler:
    def __init__(self, log):
        self.log = log

    async def handle_DATA(self, server, session, envelope):
        for recipient in envelope.rcpt_tos:
            self.log.write(recipient + "\n")
        self.log.flush()
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    with open(args.log, "a", encoding="utf-8") as log:
        controller = Controller(CountingHandler(log), hostname="127.0.0.1", port=args.port, enable_SMTPUTF8=True)
        controller.start()
        print("ready", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()
        controller.stop()


if __name__ == "__main__":
    main()
