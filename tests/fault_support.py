"""Test support for the fault-injection suite: an SMTP server with scripted faults.

:class:`Faulty` is an aiosmtpd handler (run it with :func:`send_support.smtp_server`)
that records what it accepts, counts connections and tries per address, and plays
a script: per address, a list of faults used one per transaction, then normal
service; or the same fault every time.  A fault is one of

- ``rcpt:<reply>``: answer ``<reply>`` to RCPT (a ``421`` also closes the connection);
- ``data:<reply>``: answer ``<reply>`` after the data, the message not kept;
- ``keep-drop``: keep the message, then drop the connection before the reply;
- ``drop``: drop the connection after the data, the message not kept;
- ``keep-reply:<line>``: keep the message, then answer ``<line>`` as it is (a line that
  is no SMTP reply, a 3xx, a 6xx);

``mail`` holds replies for the next MAIL commands, whoever they are for, and ``rset``
for the next RSET commands (a ``421`` also closes the connection).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from dataclasses import dataclass, field

from aiosmtpd.smtp import Envelope, Session

from send_support import Received, Recorder, parse_header


def _close_soon(server: object) -> None:
    """Close the connection once the reply just returned is written (as a 421 means)."""
    transport = server.transport  # type: ignore[attr-defined]
    asyncio.get_running_loop().call_later(0.005, transport.close)


@dataclass
class Faulty(Recorder):
    once: dict[str, list[str]] = field(default_factory=dict)  # address -> faults, in turn
    always: dict[str, str] = field(default_factory=dict)  # address -> fault, every time
    mail: list[str] = field(default_factory=list)  # replies to the next MAIL commands
    rset: list[str] = field(default_factory=list)  # replies to the next RSET commands
    connections: int = 0
    tries: Counter[str] = field(default_factory=Counter)  # RCPT commands per address
    lock: threading.Lock = field(default_factory=threading.Lock)

    def heal(self) -> None:
        """No more faults from now on."""
        with self.lock:
            self.once.clear()
            self.always.clear()
            self.mail.clear()

    def _fault(self, address: str, session: Session) -> str:
        with self.lock:
            if address in self.always:
                return self.always[address]
            queue = self.once.get(address)
            return queue.pop(0) if queue else ""

    async def handle_EHLO(self, server: object, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server: object, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        with self.lock:
            reply = self.mail.pop(0) if self.mail else ""
        if reply:
            if reply.startswith("421"):
                _close_soon(server)
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RSET(self, server: object, session: Session,
                          envelope: Envelope) -> str:
        with self.lock:
            reply = self.rset.pop(0) if self.rset else "250 OK"
        if reply.startswith("421"):
            _close_soon(server)
        return reply

    async def handle_RCPT(self, server: object, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        address = address.lower()
        with self.lock:
            self.tries[address] += 1
        fault = self._fault(address, session)
        envelope.fault = fault  # type: ignore[attr-defined]
        if fault.startswith("rcpt:"):
            reply = fault[5:]
            if reply.startswith("421"):
                _close_soon(server)
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        fault: str = getattr(envelope, "fault", "")
        if fault.startswith("data:"):
            if fault[5:].startswith("421"):
                _close_soon(server)
            return fault[5:]
        if fault == "drop":
            server.transport.abort()  # type: ignore[attr-defined]
            return "421 4.3.0 dropped"
        data = envelope.original_content or b""
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.received.append(Received(rcpt.lower(), parse_header(data, "Message-ID"),
                                              data, tuple(envelope.mail_options)))
        if fault.startswith("keep-reply:"):
            return fault[11:]
        if fault == "keep-drop":
            server.transport.abort()  # type: ignore[attr-defined]
            return "421 4.3.0 dropped"
        return "250 2.0.0 queued"
