"""A small inbound SMTP server for bounces (``publisher bounces serve``).

Point the bounce domain's MX at it (``PUBLISHER_BOUNCE_DOMAIN``): receiving MTAs
send their reports straight to the return path, and each message is read as it
arrives. It accepts mail only for addresses at the bounce domain (any other
recipient: ``550 5.7.1``, so it is no open relay), refuses a message over the
size limit (``PUBLISHER_BOUNCE_MAX_KB``, 1024; ``552`` at once when the client
declares the size, else after the data), and answers ``451`` when a report
could not be recorded, so that the sender keeps it and tries again.

aiosmtpd runs the server in a thread of its own; :meth:`Listener.handle` runs
the report through the intake in that thread, one message at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from publisher.errors import PublisherError

log = logging.getLogger(__name__)

DEFAULT_MAX_KB = 1024


class _Handler:
    def __init__(self, domain: str, handle: Callable[[bytes, str], object]):
        self.domain = domain.lower()
        self.handle = handle
        self.lock = threading.Lock()
        self.received = 0

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        _local, at, domain = address.rpartition("@")
        if not at or domain.lower().rstrip(".") != self.domain:
            return "550 5.7.1 relaying denied: this server takes bounces only"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        try:
            with self.lock:
                self.handle(data, "smtp")
                self.received += 1
        except PublisherError as exc:  # the store is busy or full: the sender tries again
            log.warning("a report was not recorded, the sender is asked to try again: %s",
                        exc)
            return "451 4.3.0 not recorded now, try again later"
        return "250 2.0.0 OK: taken in"


class _LenientSMTP(SMTP):
    """Takes lines longer than RFC 5321's 1,000 octets: some report writers (JSON
    notifications, HTML notices) send them, and a bounce refused is a bounce lost."""

    line_length_limit = 64 * 1024


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _LenientSMTP(self.handler, **self.SMTP_kwargs)


class Listener:
    """The SMTP server on ``host``:``port`` (:attr:`port` says which)."""

    def __init__(self, domain: str, handle: Callable[[bytes, str], object], *,
                 host: str = "127.0.0.1", port: int = 2525, max_kb: int = DEFAULT_MAX_KB):
        self.handler = _Handler(domain, handle)
        kwargs: dict[str, Any] = {"data_size_limit": max_kb * 1024,
                                  "server_hostname": domain, "ident": "publisher bounces"}
        self.controller = _Controller(self.handler, hostname=host, port=port, **kwargs)

    @property
    def port(self) -> int:
        server = self.controller.server
        assert server is not None and server.sockets
        return int(server.sockets[0].getsockname()[1])

    def start(self) -> Listener:
        try:
            self.controller.start()
        except (OSError, RuntimeError) as exc:
            raise PublisherError(f"cannot listen on {self.controller.hostname}:"
                                 f"{self.controller.port}: {exc}") from None
        return self

    def stop(self) -> None:
        self.controller.stop()
