"""Sending the built email over SMTP: connections, faults, retries, the rate limit.

Never renders: it sends the messages :mod:`publisher.deliver.personalise`
fills in.  Settings come from the environment (``PUBLISHER_SMTP_HOST``,
``_PORT``, ``_TLS`` = ``none`` | ``starttls`` | ``ssl``, ``_USER``,
``_PASSWORD``; ``_RETRIES`` and ``_BACKOFF`` tune the retries of 4xx replies,
``_TIMEOUT`` the wait for a reply), so that any relay (a local MTA, Amazon SES,
Postmark...) works unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import os
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from publisher.deliver.settings import number
from publisher.errors import PublisherError

log = logging.getLogger(__name__)

TLS_MODES = ("none", "starttls", "ssl")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}

SENT, TEMPORARY, PERMANENT, LOST, FATAL = "sent", "temporary", "permanent", "lost", "fatal"


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to connect; the password is never shown in a repr or a log."""

    host: str
    port: int
    tls: str = "none"
    user: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 60.0
    retries: int = 5          # tries of one message per run, whatever their outcome; and
    #                           the temporary failures in a row that stop a run
    backoff: float = 2.0      # seconds before the first retry; doubles after each
    max_backoff: float = 300.0
    reconnects: int = 20      # connections reopened in one run, at most

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SmtpSettings:
        env = os.environ if environ is None else environ
        host = env.get("PUBLISHER_SMTP_HOST", "").strip()
        if not host:
            raise PublisherError("PUBLISHER_SMTP_HOST is not set: name the SMTP server "
                                 "(and PUBLISHER_SMTP_PORT, _TLS, _USER, _PASSWORD)")
        tls = env.get("PUBLISHER_SMTP_TLS", "starttls").strip().lower() or "starttls"
        if tls not in TLS_MODES:
            raise PublisherError(f"PUBLISHER_SMTP_TLS is {tls!r}: use one of "
                                 f"{', '.join(TLS_MODES)}")
        return cls(
            host=host,
            port=number(env, "PUBLISHER_SMTP_PORT", DEFAULT_PORTS[tls], int, 1, 65535),
            tls=tls,
            user=env.get("PUBLISHER_SMTP_USER", ""),
            password=env.get("PUBLISHER_SMTP_PASSWORD", ""),
            retries=number(env, "PUBLISHER_SMTP_RETRIES", 5, int, 1, 100),
            backoff=number(env, "PUBLISHER_SMTP_BACKOFF", 2.0, float, 0, 3600),
            timeout=number(env, "PUBLISHER_SMTP_TIMEOUT", 60.0, float, 0.001, 3600),
        )

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def delay(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (1-based): exponential, bounded."""
        return float(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class Outcome:
    kind: str          # SENT, TEMPORARY (4xx), PERMANENT (5xx), LOST (connection), FATAL
    reply: str = ""
    in_doubt: bool = False  # no reply after the final dot: the server may have the message
    handed: bool = False    # the final dot went out (the reply, if any, is the server's word)


class Connection:
    """One SMTP connection, reopened on demand."""

    def __init__(self, settings: SmtpSettings, *, eight_bit: bool = False):
        self.settings = settings
        self.eight_bit = eight_bit
        self.smtp: smtplib.SMTP | None = None
        self.lost = ""  # why the connection was last lost

    def open(self, stop: threading.Event | None = None) -> bool:
        """Connect, secure and log in; a :class:`PublisherError` saying why not.

        With ``stop``: the opening runs in a thread of its own while the caller waits on
        ``stop``, so that a signal is honoured at once even when the server accepts the
        connection and never greets (or the network swallows it): then the half-open
        connection is shut down and abandoned, and False is returned.
        """
        self.close()
        if stop is None:
            self.smtp = self._connect([])
            return True
        opening: list[smtplib.SMTP] = []  # the connection being opened, to shut it down
        found: list[smtplib.SMTP | PublisherError] = []
        done = threading.Event()
        guard = threading.Lock()

        def run() -> None:
            try:
                smtp = self._connect(opening)
            except PublisherError as exc:
                found.append(exc)
            except BaseException as exc:  # a bug: said in the caller's thread
                found.append(PublisherError(f"cannot open a connection: {exc!r}"))
            else:
                with guard:
                    if stop.is_set():  # abandoned meanwhile
                        with contextlib.suppress(OSError):
                            smtp.close()
                    else:
                        found.append(smtp)
            finally:
                done.set()

        threading.Thread(target=run, daemon=True, name="smtp-open").start()
        while not done.wait(0.05):
            if stop.is_set():
                break
        with guard:
            if not found or stop.is_set():
                for smtp in opening:
                    sock = getattr(smtp, "sock", None)
                    if sock is not None:
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_RDWR)
                if found and isinstance(found[0], smtplib.SMTP):
                    with contextlib.suppress(OSError):
                        found[0].close()
                return False
        result = found[0]
        if isinstance(result, PublisherError):
            raise result
        self.smtp = result
        return True

    def _connect(self, opening: list[smtplib.SMTP]) -> smtplib.SMTP:
        s = self.settings
        smtp: smtplib.SMTP | None = None
        try:
            if s.tls == "ssl":
                smtp = smtplib.SMTP_SSL(timeout=s.timeout, context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(timeout=s.timeout)
            smtp._host = s.host  # what TLS checks the certificate against (as SMTP(host))
            opening.append(smtp)
            smtp.connect(s.host, s.port)
            # the final dot goes alone after the data: not held back for an ACK (Nagle)
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            smtp.ehlo()
            if s.tls == "starttls":
                if not smtp.has_extn("starttls"):
                    raise PublisherError(f"the SMTP server {s.where} does not offer STARTTLS "
                                         "(set PUBLISHER_SMTP_TLS=none only on a trusted "
                                         "network)")
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.user:
                smtp.login(s.user, s.password)
            if self.eight_bit and not smtp.has_extn("8bitmime"):
                raise PublisherError(f"the SMTP server {s.where} does not accept 8-bit "
                                     "messages (8BITMIME), and this email has 8-bit parts")
            return smtp
        except PublisherError:
            _drop(smtp)
            raise
        except smtplib.SMTPAuthenticationError as exc:
            _drop(smtp)
            raise PublisherError(f"the SMTP server {s.where} refused the login of "
                                 f"{s.user!r}: {_reply(exc.smtp_code, exc.smtp_error)}"
                                 ) from None
        except smtplib.SMTPNotSupportedError:
            _drop(smtp)
            raise PublisherError(f"the SMTP server {s.where} does not offer AUTH: unset "
                                 "PUBLISHER_SMTP_USER, or use TLS") from None
        except (smtplib.SMTPException, OSError) as exc:
            _drop(smtp)
            raise PublisherError(f"cannot reach the SMTP server {s.where}: "
                                 f"{_describe(exc)}") from None

    @property
    def connected(self) -> bool:
        return self.smtp is not None

    def interrupt(self) -> None:
        """From another thread: make a transaction waiting on the server fail now."""
        smtp = self.smtp
        sock = getattr(smtp, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def abort(self) -> None:
        """Drop the connection at once, without QUIT (mid-DATA: the server discards the
        message, RFC 5321 §4.1.1.4)."""
        if self.smtp is not None:
            self.smtp.close()
            self.smtp = None

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None

    def send(self, sender: str, recipient: str, data: bytes, *, stuffed: bool = False,
             before_dot: Callable[[], None] | None = None) -> Outcome:
        """One SMTP transaction (MAIL, RCPT, DATA) and what came of it; ``stuffed``: the
        message's leading dots are doubled already (else smtplib does it).

        ``before_dot`` runs when the message's data is out and the final dot, which lets
        the server take it, is not: if it raises, the connection is dropped without the
        dot (nothing delivered) and the exception goes on.
        """
        smtp = self.smtp
        if smtp is None:
            return Outcome(LOST, "not connected")
        stage = "MAIL"
        handed: list[bool] = []
        international = not recipient.isascii()
        if international and not smtp.has_extn("smtputf8"):
            return Outcome(PERMANENT, f"the SMTP server {self.settings.where} does not take "
                                      "international addresses (no SMTPUTF8)")
        try:
            # the addresses were validated on import: no quoting needed (smtplib's costs)
            options = (" BODY=8BITMIME" if self.eight_bit or international else "") + (
                " SMTPUTF8" if international else "")
            smtp.putcmd("mail", f"FROM:<{sender}>{options}")
            code, text = smtp.getreply()
            if code == 250:
                stage = "RCPT"
                smtp.command_encoding = "utf-8" if international else "ascii"
                smtp.putcmd("rcpt", f"TO:<{recipient}>")
                code, text = smtp.getreply()
                if code in (250, 251):
                    stage = "DATA"
                    if stuffed:
                        code, text = _data(smtp, data, before_dot, handed)
                    else:
                        handed.append(True)  # smtplib sends data and dot at once
                        code, text = smtp.data(data)
        except smtplib.SMTPDataError as exc:  # DATA itself refused
            code, text = exc.smtp_code, exc.smtp_error
        except (smtplib.SMTPException, OSError) as exc:
            self.abort()
            return Outcome(LOST, _describe(exc), in_doubt=bool(handed), handed=bool(handed))
        except BaseException:
            self.abort()
            raise
        reply = _reply(code, text)
        if 200 <= code < 300:
            return Outcome(SENT, reply, handed=True)
        if not 400 <= code < 600:  # a line that is no reply (smtplib's -1), a 1xx, 3xx, 6xx:
            # the server is out of step; after the dot, only a 4xx or 5xx says the message
            # was not kept, so this one may have been: a lost reply, in doubt
            self.abort()
            why = "a reply that makes no sense" + (f": {reply}" if code >= 0 else "")
            return Outcome(LOST, why, in_doubt=bool(handed), handed=bool(handed))
        if code == 421:  # a temporary refusal, and the server closes the connection
            self.abort()
            return Outcome(TEMPORARY, reply, handed=bool(handed))
        self._reset()
        if 400 <= code < 500:
            return Outcome(TEMPORARY, reply, handed=bool(handed))
        if code == 530 or (code == 550 and "5.7.0" in reply and "auth" in reply.lower()):
            return Outcome(FATAL, self._needs_login(reply), handed=bool(handed))
        if stage == "MAIL":  # the server refuses our sender: no recipient is to blame
            return Outcome(FATAL, f"the SMTP server {self.settings.where} refused the "
                                  f"sender {sender}: {reply}")
        return Outcome(PERMANENT, reply, handed=bool(handed))

    def _needs_login(self, reply: str) -> str:
        s = self.settings
        if s.user:
            return (f"the SMTP server {s.where} wants a login and did not take that of "
                    f"{s.user!r} ({reply})")
        return (f"the SMTP server {s.where} needs a login ({reply}): set "
                "PUBLISHER_SMTP_USER and PUBLISHER_SMTP_PASSWORD")

    def _reset(self) -> None:
        """RSET after a refusal; a connection that does not take it (a 421, any reply but
        250, a lost line) is dropped, to be reopened."""
        try:
            if self.smtp is not None:
                code, _ = self.smtp.rset()
                if code != 250:
                    self.abort()
        except (smtplib.SMTPException, OSError):
            self.abort()


def _drop(smtp: smtplib.SMTP | None) -> None:
    """Close a connection that failed to open: QUIT if it can, else just close."""
    if smtp is None:
        return
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _data(smtp: smtplib.SMTP, stuffed: bytes, before_dot: Callable[[], None] | None,
          handed: list[bool]) -> tuple[int, bytes]:
    """``smtplib.SMTP.data`` for a message already dot-stuffed (it saves a regex pass
    over the whole message, the costliest step of a send), with ``before_dot``."""
    smtp.putcmd("data")
    code, reply = smtp.getreply()
    if code != 354:
        raise smtplib.SMTPDataError(code, reply)
    smtp.send(stuffed)
    if before_dot is not None:
        before_dot()
    handed.append(True)
    smtp.send(b".\r\n" if stuffed.endswith(b"\r\n") else b"\r\n.\r\n")
    return smtp.getreply()


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}"


#: What OpenSSL says when the other side does not answer in TLS at all.
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST",
                      "PACKET_LENGTH_TOO_LONG"})


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, ssl.SSLError) and exc.reason in _NOT_TLS:
        return (f"it does not answer in TLS there ({exc.reason}): PUBLISHER_SMTP_TLS=ssl is "
                "for a port that starts in TLS (465); starttls for 587, none for 25")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class Backoff:
    """The temporary failures of one server in a row (4xx replies, lost connections, failed
    reconnects) and the pause they impose on every connection to it; a definite reply
    (2xx or 5xx) to a message ends the row.

    One 4xx that leaves the connection open concerns one mailbox (its message waits on
    its own); a failure that closes the connection (421, a lost or refused one), or a
    second one in a row, pauses every connection: ``backoff``, doubling.
    """

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self.limit = settings.retries
        self.strikes = 0
        self.resume = 0.0
        self.last = ""
        self.reconnecting = False  # the last failure was a failed reconnect
        self.lock = threading.Lock()

    def failure(self, why: str, *, closed: bool = True, reconnecting: bool = False) -> int:
        with self.lock:
            self.strikes += 1
            self.last = why
            self.reconnecting = reconnecting
            if closed or self.strikes > 1:
                self.resume = time.monotonic() + self.settings.delay(self.strikes)
            return self.strikes

    def success(self) -> None:
        with self.lock:
            self.strikes = 0

    @property
    def exhausted(self) -> bool:
        return self.strikes >= self.limit

    def wait(self, stop: threading.Event) -> None:
        """Until the pause is over (or ``stop`` is set)."""
        while not stop.is_set():
            left = self.resume - time.monotonic()
            if left <= 0:
                return
            stop.wait(left)


class RateLimit:
    """At most ``rate`` messages per second across every connection (0: no limit)."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self, stop: threading.Event) -> None:
        """Until this message's turn (or ``stop`` is set: a stop is never held up)."""
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            at = max(self.next, now)
            self.next = at + self.interval
        if at > now:
            stop.wait(at - now)
