"""Bounces in an IMAP mailbox (``publisher bounces fetch``).

Settings from the environment: ``PUBLISHER_IMAP_HOST``, ``_PORT``, ``_TLS``
(``ssl``, the default, port 993; ``starttls`` or ``none``, port 143), ``_USER``,
``_PASSWORD``, ``_FOLDER`` (``INBOX``) and ``_TIMEOUT`` (seconds, 60). The unseen
messages of the folder are read (``BODY.PEEK[]``: reading marks nothing) and each
is marked seen once it has been handled, so the next run reads only what came in
since; a run stopped half-way reads the rest next time, and a report read twice is
recorded once (its key is a digest of its bytes).
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import os
import re
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from publisher.deliver.settings import number
from publisher.errors import PublisherError

log = logging.getLogger(__name__)

TLS_MODES = ("ssl", "starttls", "none")
DEFAULT_PORTS = {"ssl": 993, "starttls": 143, "none": 143}


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    tls: str = "ssl"
    user: str = ""
    password: str = field(default="", repr=False)
    folder: str = "INBOX"
    timeout: float = 60.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ImapSettings:
        env = os.environ if environ is None else environ
        host = env.get("PUBLISHER_IMAP_HOST", "").strip()
        if not host:
            raise PublisherError("PUBLISHER_IMAP_HOST is not set: name the IMAP server of the "
                                 "bounce mailbox (and PUBLISHER_IMAP_USER, _PASSWORD, _PORT, "
                                 "_TLS, _FOLDER)")
        tls = env.get("PUBLISHER_IMAP_TLS", "ssl").strip().lower() or "ssl"
        if tls not in TLS_MODES:
            raise PublisherError(f"PUBLISHER_IMAP_TLS is {tls!r}: use one of "
                                 f"{', '.join(TLS_MODES)}")
        user = env.get("PUBLISHER_IMAP_USER", "").strip()
        if not user:
            raise PublisherError("PUBLISHER_IMAP_USER is not set: the login of the bounce "
                                 "mailbox (and PUBLISHER_IMAP_PASSWORD)")
        return cls(host=host,
                   port=number(env, "PUBLISHER_IMAP_PORT", DEFAULT_PORTS[tls], int, 1, 65535),
                   tls=tls, user=user, password=env.get("PUBLISHER_IMAP_PASSWORD", ""),
                   folder=env.get("PUBLISHER_IMAP_FOLDER", "").strip() or "INBOX",
                   timeout=number(env, "PUBLISHER_IMAP_TIMEOUT", 60.0, float, 0.001, 3600))

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def fetch(settings: ImapSettings, handle: Callable[[bytes, str], object],
          context: ssl.SSLContext | None = None) -> int:
    """Pass each unseen message of the folder to ``handle(data, "imap")``, then mark it
    seen; how many were handled."""
    imap = _connect(settings, context)
    try:
        try:
            imap.login(settings.user, settings.password)
        except imaplib.IMAP4.error as exc:
            raise PublisherError(f"the IMAP server {settings.where} refused the login of "
                                 f"{settings.user!r}: {_text(exc.args)}") from None
        typ, data = imap.select(_quoted(settings.folder))
        if typ != "OK":
            raise PublisherError(f"the IMAP server {settings.where} has no folder "
                                 f"{settings.folder!r}: {_text(data)} (PUBLISHER_IMAP_FOLDER)")
        typ, data = imap.uid("SEARCH", "UNSEEN")
        _ok(typ, data, settings, "search")
        uids = data[0].split() if data and data[0] else []
        n = 0
        for uid in uids:
            typ, parts = imap.uid("FETCH", uid.decode("ascii"), "(BODY.PEEK[])")
            message = next((p[1] for p in parts if isinstance(p, tuple)), None)
            if typ != "OK" or not isinstance(message, bytes):
                log.warning("IMAP message %s could not be fetched: %s", uid, _text(parts))
                continue
            handle(message, "imap")
            imap.uid("STORE", uid.decode("ascii"), "+FLAGS.SILENT", r"(\Seen)")
            n += 1
        return n
    except imaplib.IMAP4.error as exc:
        raise PublisherError(f"the IMAP server {settings.where} refused: {exc}") from None
    except (OSError, EOFError) as exc:
        raise PublisherError(f"lost the IMAP server {settings.where}: {exc}") from None
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError, EOFError):
            imap.logout()


def _connect(settings: ImapSettings, context: ssl.SSLContext | None) -> imaplib.IMAP4:
    context = context or ssl.create_default_context()
    try:
        if settings.tls == "ssl":
            imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(settings.host, settings.port,
                                                    ssl_context=context,
                                                    timeout=settings.timeout)
        else:
            imap = imaplib.IMAP4(settings.host, settings.port, timeout=settings.timeout)
            if settings.tls == "starttls":
                imap.starttls(context)
    except (OSError, imaplib.IMAP4.error) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        if isinstance(exc, socket.timeout):
            why = "no answer"
        raise PublisherError(f"cannot reach the IMAP server {settings.where}: {why}") from None
    return imap


def _ok(typ: str, data: list[Any], settings: ImapSettings, what: str) -> None:
    if typ != "OK":
        raise PublisherError(f"the IMAP server {settings.where} refused the {what}: "
                             f"{_text(data)}")


def _quoted(folder: str) -> str:
    return '"' + re.sub(r'(["\\])', r"\\\1", folder) + '"'


def _text(data: object) -> str:
    if isinstance(data, list | tuple):
        return " ".join(_text(d) for d in data if d)
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return str(data)
