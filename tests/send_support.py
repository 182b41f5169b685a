"""Test support for sending: a stand-in ``email.eml`` and a recording SMTP server.

The stand-in is built with the ``email`` package the way the email renderer
builds the real one: multipart/related around multipart/alternative (a
quoted-printable text part and a base64 HTML part) and a cid image, non-ASCII
text, and the placeholders of :mod:`publisher.render.email.placeholders` in To,
List-Unsubscribe, the greeting and the body links.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formataddr

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from publisher.render.email import placeholders as ph

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


def fake_eml(*, padding: int = 40, image: bytes = PNG, link: str = ph.UNSUBSCRIBE_URL,
             list_unsubscribe: bool = True, text_cte: str = "quoted-printable") -> bytes:
    """A finished newsletter with every placeholder, as the email renderer writes it."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["Subject"] = "KOREA — August 2023: 한국의 안보 협력"
    msg["From"] = formataddr(("Webzine KOREA", "newsletter@webzine.example.org"))
    msg["To"] = f"{ph.RECIPIENT_NAME} <{ph.RECIPIENT_EMAIL}>"
    msg["Date"] = "Tue, 01 Aug 2023 00:00:00 +0000"
    msg["Message-ID"] = "<2023-08@webzine.example.org>"
    if list_unsubscribe:
        msg["List-Unsubscribe"] = f"<{ph.UNSUBSCRIBE_MAILTO}>, <{ph.UNSUBSCRIBE_URL}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    filler = "Korea’s push for greater security ties — 한국어 본문. " * padding
    text = (f"Dear {ph.RECIPIENT_NAME},\n\n{filler}\n.A line that starts with a dot.\n"
            f".{ph.RECIPIENT_EMAIL}, a dot and a placeholder.\n\n"
            f"This issue was sent to {ph.RECIPIENT_EMAIL}.\n"
            f"Unsubscribe: {link}\n")
    page = (f"<html><body><p>Dear {ph.RECIPIENT_NAME},</p><p>{filler}</p>"
            '<img src="cid:cover@publisher" alt="cover">'
            f'<p>Sent to {ph.RECIPIENT_EMAIL}. '
            f'<a href="{link}">Unsubscribe</a></p></body></html>\n')
    msg.set_content(text, cte=text_cte)
    msg.add_alternative(page, subtype="html", cte="base64")
    html_part = msg.get_payload()[1]
    html_part.add_related(image, "image", "png", cid="<cover@publisher>")
    return msg.as_bytes()


def parse(data: bytes) -> EmailMessage:
    msg = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(msg, EmailMessage)
    return msg


def bodies(msg: EmailMessage) -> tuple[str, str]:
    """(plain text, HTML) of a parsed newsletter."""
    text = msg.get_body(("plain",))
    page = msg.get_body(("html",))
    assert text is not None and page is not None
    return text.get_content(), page.get_content()


@dataclass
class Received:
    rcpt: str
    message_id: str
    data: bytes
    mail_options: tuple[str, ...] = ()
    mail_from: str = ""  # the envelope sender (the return path)


@dataclass
class Recorder:
    """An aiosmtpd handler that records every accepted message and injects faults."""

    temp_fail_every: int = 0          # every Nth DATA answers 451
    reject: frozenset[str] = frozenset()  # these recipients answer 550 at RCPT
    busy: frozenset[str] = frozenset()  # these recipients answer 451 at RCPT
    drop_at: frozenset[int] = frozenset()  # DATA transactions (1-based) that drop the line
    delay: float = 0.0
    vanish_at: int = 0  # at this DATA transaction the server drops the line and stops listening
    controller: Controller | None = None
    received: list[Received] = field(default_factory=list)
    transactions: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: object, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address.lower() in self.reject:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        if address.lower() in self.busy:
            return "451 4.2.1 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.transactions += 1
            n = self.transactions
        if self.delay:
            await asyncio.sleep(self.delay)
        if n == self.vanish_at and self.controller is not None:
            self.controller.server.close()  # no more connections: reconnects are refused
            server.transport.abort()  # type: ignore[attr-defined]
            return "421 4.3.0 gone"
        if n in self.drop_at:
            server.transport.abort()  # type: ignore[attr-defined]
            return "421 4.3.0 dropped"
        if self.temp_fail_every and n % self.temp_fail_every == 0:
            return "451 4.3.0 try again later"
        data = envelope.original_content or b""
        msg_id = parse_header(data, "Message-ID")
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.received.append(Received(rcpt.lower(), msg_id, data,
                                              tuple(envelope.mail_options),
                                              str(envelope.mail_from or "")))
        return "250 2.0.0 queued"

    def per_rcpt(self) -> Counter[str]:
        return Counter(r.rcpt for r in self.received)

    def message_ids(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = defaultdict(set)
        for r in self.received:
            found[r.rcpt].add(r.message_id)
        return found


def parse_header(data: bytes, name: str) -> str:
    head = data.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ")
    for line in head.split(b"\r\n"):
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.lower().encode():
            return value.strip().decode()
    return ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _authenticator(user: str, password: str):  # type: ignore[no-untyped-def]
    def check(server: object, session: Session, envelope: Envelope, mechanism: str,
              auth_data: object) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == user.encode()
              and auth_data.password == password.encode())
        return AuthResult(success=ok, handled=False)
    return check


@contextlib.contextmanager
def smtp_server(handler: Recorder, *, user: str = "", password: str = "", tls: str = "none",
                context: ssl.SSLContext | None = None, smtputf8: bool = True) -> Iterator[int]:
    """Run aiosmtpd on 127.0.0.1 at a free port; yield the port.  ``tls``: ``starttls``
    (required before anything else) or ``ssl`` (TLS from the start), with ``context``."""
    port = free_port()
    kwargs: dict[str, object] = {}
    if user:
        kwargs = {"authenticator": _authenticator(user, password), "auth_required": True,
                  # aiosmtpd counts only STARTTLS as TLS, not a connection made with TLS
                  "auth_require_tls": tls == "starttls"}
    if tls == "starttls":
        kwargs.update(tls_context=context, require_starttls=True)
    elif tls == "ssl":
        kwargs.update(ssl_context=context)
    controller = Controller(handler, hostname="127.0.0.1", port=port,
                            data_size_limit=0, enable_SMTPUTF8=smtputf8, **kwargs)
    controller.start()
    handler.controller = controller
    try:
        yield port
    finally:
        controller.stop()
