"""The subscriber store: by default an embedded SQLite file (``subscribers.sqlite``), or a
PostgreSQL database named by a URL (:mod:`publisher.deliver.db`).

The same store holds the send ledger (:mod:`publisher.deliver.ledger`).  An
address is kept in its ASCII form (domain in IDNA), with a case-insensitive key
so that ``Ann@Example.org`` and ``ann@example.org`` are one subscriber.  An
unsubscribed address stays in the store, marked, so that no later import
subscribes it again and no send mails it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import sqlite3
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from publisher.deliver import db as store_db
from publisher.deliver.db import BUSY, FULL, Connection, Location, check_path, now, transaction
from publisher.errors import PublisherError

log = logging.getLogger(__name__)

__all__ = ["BUSY", "FULL", "Connection", "Location", "Subscriber", "check_path", "connect",
           "count", "describe", "everyone", "failure", "find", "now", "store_errors",
           "subscribed", "transaction", "unsubscribe"]

MAX_NAME_LENGTH = 200
#: How long a command waits for another's write to the store before giving up.
BUSY_TIMEOUT = store_db.BUSY_TIMEOUT
SUBSCRIBED = "subscribed"
UNSUBSCRIBED = "unsubscribed"


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    name: str
    status: str


def connect(where: Location | str | os.PathLike[str], *, create: bool = False,
            timeout: float | None = None) -> Connection:
    """Open the store (an SQLite file or a PostgreSQL URL, :mod:`publisher.deliver.db`),
    its schema brought up to date; create an SQLite file if asked.

    A statement waits up to ``timeout`` seconds (default :data:`BUSY_TIMEOUT`) for
    another connection's write to end, then fails as busy.
    """
    return store_db.connect(where, create=create,
                            timeout=BUSY_TIMEOUT if timeout is None else timeout)


@contextlib.contextmanager
def store_errors(where: Location | str | os.PathLike[str]) -> Iterator[None]:
    """The store's failures (busy, disk full...) as one-line errors, for a command.

    Every change is made in a transaction, so a failure changes nothing.
    """
    try:
        yield
    except store_db.errors() as exc:
        raise store_db.locate(where).error(describe(exc)) from None


def failure(exc: BaseException) -> str | None:
    """Which of the store's expected failures ``exc`` is: :data:`BUSY` (another process
    holds the write lock), :data:`FULL` (no space left), ``corrupt``, ``unreachable``,
    or ``None`` (anything else); told by the backend's error codes, not the message
    text (:mod:`publisher.deliver.db.dialect`).  The one test of both the commands
    (:func:`describe`) and the sender (:func:`publisher.deliver.store.describe`)."""
    return store_db.failure(exc)


def describe(exc: BaseException) -> str:
    """What a failure of the store means, and what to do about it."""
    kind = failure(exc)
    if kind == BUSY:
        return ("the subscriber store is busy (a send, an import or the unsubscribe "
                "endpoint is writing to it): nothing was changed; try again in a moment")
    if kind == FULL:
        return "the disk is full: nothing was changed; free some space and try again"
    if kind == store_db.UNREACHABLE:
        text = " ".join(str(exc).split())
        return (f"the subscriber store cannot be reached ({text}): nothing was changed; "
                "check that its server is running and try again")
    return f"the subscriber store failed ({' '.join(str(exc).split())}): nothing was changed"
def normalize_address(text: str) -> str:
    """An address in the form it is stored and mailed in; ``ValueError`` when invalid.

    The domain is kept in its ASCII form (punycode); a local part in another script
    (``홍길동@example.kr``) is kept as it is, normalised, and is mailed with SMTPUTF8.
    """
    try:
        result = validate_email(text.strip(), check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    return f"{result.local_part}@{result.ascii_domain}"


def address_key(address: str) -> str:
    return address.casefold()


def check_name(name: str) -> str:
    """A display name safe in a header and a greeting; ``ValueError`` when not."""
    name = name.strip()
    for char in name:
        if char in "\r\n\x85\u2028\u2029" or unicodedata.category(char) in ("Cc", "Cf", "Zl",
                                                                              "Zp"):
            raise ValueError(f"name contains a line break or control character "
                             f"(U+{ord(char):04X}), which could inject mail headers")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"name is longer than {MAX_NAME_LENGTH} characters")
    return name


def subscribed(db: Connection) -> Iterator[Subscriber]:
    """Every subscribed address, in the order they joined."""
    return _select(db, "WHERE status = 'subscribed'")


def everyone(db: Connection) -> Iterator[Subscriber]:
    return _select(db, "")


def _select(db: Connection, where: str) -> Iterator[Subscriber]:
    cursor = db.execute(f"SELECT id, email, name, status FROM subscribers {where} ORDER BY id")
    for row in cursor:
        yield _subscriber(row)


class CorruptRow(sqlite3.DatabaseError):
    """A row that breaks the schema's own rules: the store is damaged."""


def _subscriber(row: tuple[object, ...]) -> Subscriber:
    """A row as read; a row that breaks the schema's own rules (a NULL address, an
    unknown status: a damaged page the file's checksums did not catch) is the store's
    corruption, told as SQLite tells it, not a traceback further on."""
    rid, email, name, status = row
    if not (isinstance(rid, int) and isinstance(email, str) and email
            and isinstance(name, str) and status in (SUBSCRIBED, UNSUBSCRIBED)):
        raise CorruptRow(f"database disk image is malformed (subscriber row {rid!r} "
                         "is damaged)")
    return Subscriber(rid, email, name, status)  # type: ignore[arg-type]


def count(db: Connection) -> tuple[int, int]:
    """(subscribed, unsubscribed)."""
    found = dict(db.execute("SELECT status, count(*) FROM subscribers GROUP BY status"))
    return found.get(SUBSCRIBED, 0), found.get(UNSUBSCRIBED, 0)


def find(db: Connection, address: str) -> Subscriber | None:
    row = db.execute("SELECT id, email, name, status FROM subscribers WHERE email_key = ?",
                     (address_key(address),)).fetchone()
    return _subscriber(row) if row else None


def unsubscribe(db: Connection, address: str, *, how: str = "command",
                client: str = "") -> bool:
    """Mark ``address`` unsubscribed (kept as such even if never subscribed); was it new?

    The change is in the reader's history (``consent_events``), with ``how`` it came
    (``command``, ``unsubscribe``: the link, ``preferences``) and the ``client``; a
    pause is over (the reader stopped), and a pending signup is dropped."""
    try:
        address = normalize_address(address)
    except ValueError as exc:
        raise PublisherError(f"invalid address {address.strip()!r}: {exc}") from None
    key, stamp = address_key(address), now()
    with transaction(db):
        changed = bool(db.execute(
            "INSERT INTO subscribers (email, email_key, status, created, changed) "
            "VALUES (?, ?, 'unsubscribed', ?, ?) ON CONFLICT (email_key) DO UPDATE "
            "SET status = 'unsubscribed', changed = excluded.changed "
            "WHERE subscribers.status != 'unsubscribed'", (address, key, stamp, stamp)).rowcount)
        paused = db.execute("DELETE FROM pauses WHERE email_key = ?", (key,)).rowcount
        db.execute("DELETE FROM signups WHERE email_key = ?", (key,))
        if changed or paused:
            db.execute("INSERT INTO consent_events (email_key, email, event, how, client, "
                       "detail, at) VALUES (?, ?, 'unsubscribe', ?, ?, ?, ?)",
                       (key, address, how, client, "unsubscribed", stamp))
        return changed or bool(paused)


HISTORY_COLUMNS = ["at", "event", "how", "consent_version", "consent_digest", "client",
                   "detail"]


def export_csv(db: Connection, out: io.TextIOBase | io.StringIO, *,
               history: bool = False) -> int:
    """Write every address (subscribed or not) as CSV: email,name,status; with
    ``history``, one row per event of its consent history (an address without any: one
    row with those columns empty)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "name", "status", *(HISTORY_COLUMNS if history else [])])
    n = 0
    for sub in everyone(db):
        if not history:
            writer.writerow([sub.email, sub.name, sub.status])
        else:
            rows = db.execute(f"SELECT {', '.join(HISTORY_COLUMNS)} FROM consent_events "
                              "WHERE email_key = ? ORDER BY id",
                              (address_key(sub.email),)).fetchall() or [("",) * 7]
            for row in rows:
                writer.writerow([sub.email, sub.name, sub.status, *row])
        n += 1
    return n
