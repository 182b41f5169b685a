"""What the command line prints: log records as ``error:``/``warning:`` lines, and the
warnings a run collected."""

from __future__ import annotations

import logging
import sys

from publisher.diagnostics import Diagnostics

log = logging.getLogger("publisher")


def configure_logging(level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    root = logging.getLogger("publisher")
    root.handlers[:] = [handler]
    root.propagate = False
    root.setLevel(logging.DEBUG if level > 0 else logging.INFO if level == 0 else logging.WARNING)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            return f"error: {message}"
        if record.levelno >= logging.WARNING:
            return f"warning: {message}"
        return message


def report(diag: Diagnostics) -> None:
    """Show the warnings a run collected (its errors are raised as one PublisherError)."""
    for warning in diag.warnings:
        log.warning("%s", warning)
