"""The outbox: mail the web application owes (confirmation links), sent exactly once.

A message is written to ``outbox`` in the transaction that makes it owed (the
signup), so a web process that dies right after the commit loses nothing: the next
sender finds it.  A sender moves each row as the send ledger moves an issue's
(:mod:`publisher.deliver.ledger`): it claims it (``sending``, its owner and the time
recorded), commits ``handed`` once the data is out and before the final dot, then the
outcome: ``sent`` (the message's text is then dropped: the reader's link is not kept),
``deferred`` (a 4xx or a lost line before the dot: tried again later, with backoff),
``failed`` (a 5xx, or too many tries) or ``doubt`` (the line lost after the dot: the
server may have it, so it is never sent again).  A claim whose sender is gone (its
process dead on this host, or its claim older than :data:`STALE` seconds) is taken
back: ``sending`` to ``pending`` (the dot never went), ``handed`` to ``doubt``.

Senders: the web application's own thread, woken after each signup's commit and every
:data:`POLL` seconds (:class:`Sender`), and ``publisher subscribers outbox``.  Any
number may run at once, on any host: a claim is one conditional ``UPDATE``.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from dataclasses import dataclass

from publisher.deliver import smtp
from publisher.deliver.db import Connection, Location, connect, now, transaction
from publisher.deliver.expiry import purge
from publisher.deliver.lease import _alive, _process_start
from publisher.deliver.personalise import dot_stuff
from publisher.errors import PublisherError

log = logging.getLogger(__name__)

#: Seconds after which a claim is taken back, whoever made it.
STALE = 900.0
#: Seconds between two looks at the outbox by the web application's sender.
POLL = 30.0
#: Tries of one message before it is failed.
MAX_TRIES = 8
STATES = ("pending", "sending", "handed", "sent", "deferred", "failed", "doubt")


def enqueue(db: Connection, kind: str, email: str, sender: str, message: bytes) -> None:
    """Owe ``message`` to ``email`` (call it inside the transaction that owes it)."""
    from publisher.deliver.subscribers import address_key

    stamp = now()
    db.execute("INSERT INTO outbox (kind, email, email_key, sender, message, created, changed) "
               "VALUES (?, ?, ?, ?, ?, ?, ?)",
               (kind, email, address_key(email), sender,
                message.decode("utf-8", "surrogateescape"), stamp, stamp))


def owner_id() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_start(pid)}"


@dataclass
class Counts:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    doubt: int = 0
    recovered: int = 0


def recover(db: Connection, *, stale: float = STALE) -> int:
    """Take back the claims of senders that are gone; how many."""
    host = socket.gethostname()
    moment = time.time()
    taken = 0
    rows = db.execute("SELECT id, state, owner, claimed FROM outbox "
                      "WHERE state IN ('sending', 'handed')").fetchall()
    for rid, state, owner, claimed in rows:
        on, _, rest = owner.partition(":")
        pid, _, start = rest.partition(":")
        gone = claimed < moment - stale or (
            on == host and pid.isdigit() and not _alive(int(pid), start))
        if not gone:
            continue
        new = "pending" if state == "sending" else "doubt"
        reply = "" if new == "pending" else "handed over when its sender stopped: no reply seen"
        with transaction(db):
            taken += db.execute("UPDATE outbox SET state = ?, owner = '', reply = ?, "
                                "changed = ? WHERE id = ? AND state = ? AND owner = ?",
                                (new, reply, now(), rid, state, owner)).rowcount
    return taken


def send_due(where: Location | str, settings: smtp.SmtpSettings, *,
             stop: threading.Event | None = None, owner: str | None = None,
             timeout: float | None = None) -> Counts:
    """Send every message that is due; what came of them."""
    owner = owner or owner_id()
    counts = Counts()
    db = connect(where, timeout=timeout)
    conn: smtp.Connection | None = None
    try:
        counts.recovered = recover(db)
        purge(db)  # expired signups (the senders run often: a clock for them)
        last = 0  # one pass: a message deferred now waits for a later run
        while stop is None or not stop.is_set():
            row = db.execute("SELECT id, email, sender, message, attempts, state FROM outbox "
                             "WHERE state IN ('pending', 'deferred') AND due <= ? AND id > ? "
                             "ORDER BY id LIMIT 1", (time.time(), last)).fetchone()
            if row is None:
                break
            rid, email, sender, text, attempts, came = row
            last = rid
            data = _wire(text.encode("utf-8", "surrogateescape"))
            if conn is None:
                conn = smtp.Connection(settings, eight_bit=not data.isascii())
                conn.open()
            with transaction(db):
                claimed = db.execute(
                    "UPDATE outbox SET state = 'sending', owner = ?, claimed = ?, "
                    "attempts = attempts + 1, changed = ? WHERE id = ? AND state = ?",
                    (owner, time.time(), now(), rid, came)).rowcount
            if not claimed:
                continue  # another sender took it

            def hand_over(rid: int = rid) -> None:
                with transaction(db):
                    db.execute("UPDATE outbox SET state = 'handed', changed = ? "
                               "WHERE id = ? AND state = 'sending' AND owner = ?",
                               (now(), rid, owner))

            outcome = conn.send(sender, email, data, stuffed=True, before_dot=hand_over)
            _record(db, rid, outcome, attempts + 1, settings, counts)
            if not conn.connected:
                conn = None
            if outcome.kind == smtp.FATAL:
                raise PublisherError(outcome.reply)
    finally:
        if conn is not None:
            conn.close()
        db.close()
    return counts


def _wire(data: bytes) -> bytes:
    """The message as SMTP ``DATA`` carries it: CRLF line ends, leading dots doubled."""
    return dot_stuff(re.sub(rb"\r\n|\r|\n", b"\r\n", data))


def _record(db: Connection, rid: int, outcome: smtp.Outcome, tries: int,
            settings: smtp.SmtpSettings, counts: Counts) -> None:
    due = 0.0
    message_sql = ""
    if outcome.kind == smtp.SENT:
        state, counts.sent = "sent", counts.sent + 1
        message_sql = ", message = ''"
    elif outcome.in_doubt:
        state, counts.doubt = "doubt", counts.doubt + 1
    elif outcome.kind == smtp.PERMANENT or tries >= MAX_TRIES:
        state, counts.failed = "failed", counts.failed + 1
    else:  # a 4xx, a lost line before the dot, a fatal reply for this run
        state, counts.deferred = "deferred", counts.deferred + 1
        due = time.time() + settings.delay(tries)
    with transaction(db):
        db.execute(f"UPDATE outbox SET state = ?, reply = ?, due = ?, owner = '', "
                   f"changed = ?{message_sql} WHERE id = ? AND state IN ('sending', 'handed')",
                   (state, outcome.reply, due, now(), rid))


def status(db: Connection) -> dict[str, int]:
    found = dict(db.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
    return {s: int(found.get(s, 0)) for s in STATES}


class Sender:
    """The web application's sender thread: wakes after each signup and every
    :data:`POLL` seconds, sends what is due; a failure is logged and tried later."""

    def __init__(self, where: Location | str, settings: smtp.SmtpSettings,
                 poll: float = POLL):
        self.where = where
        self.settings = settings
        self.poll = poll
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="outbox")
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                counts = send_due(self.where, self.settings, stop=self._stop)
                if counts.sent or counts.deferred or counts.failed or counts.doubt:
                    log.info("outbox: %d sent, %d deferred, %d failed, %d in doubt",
                             counts.sent, counts.deferred, counts.failed, counts.doubt)
            except PublisherError as exc:
                log.warning("outbox: %s (tried again later)", exc)
            except Exception:
                log.exception("outbox: the sender failed (tried again later)")
            self._wake.wait(self.poll)
            self._wake.clear()
