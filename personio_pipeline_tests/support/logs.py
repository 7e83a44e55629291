"""Log lines a test can assert on: a handler that keeps them, and a private logger using it."""

from __future__ import annotations

import logging

import pytest


class ListHandler(logging.Handler):
    """Collects formatted log lines so tests can assert what was (not) logged."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured_logger():
    """A logger of its own (not propagating) and the list its lines go to: `logger, lines`."""
    logger = logging.getLogger(f"personio_pipeline.tests.{id(object())}")
    logger.setLevel(logging.DEBUG)
    handler = ListHandler()
    logger.addHandler(handler)
    logger.propagate = False
    yield logger, handler.lines
    logger.removeHandler(handler)
