"""The subscriber store: an embedded SQLite file (``subscribers.sqlite`` by default).

The same file holds the send ledger (:mod:`publisher.deliver.ledger`).  An
address is kept in its ASCII form (domain in IDNA), with a case-insensitive key
so that ``Ann@Example.org`` and ``ann@example.org`` are one subscriber.  An
unsubscribed address stays in the store, marked, so that no later import
subscribes it again and no send mails it.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
import sqlite3
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from email_validator import EmailNotValidError, validate_email

from publisher.errors import PublisherError

MAX_NAME_LENGTH = 200
#: How long a command waits for another's write to the store before giving up.
BUSY_TIMEOUT = 30.0
SUBSCRIBED = "subscribed"
UNSUBSCRIBED = "unsubscribed"

SCHEMA = """
CREATE TABLE IF NOT EXISTS subscribers (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'subscribed' CHECK (status IN ('subscribed', 'unsubscribed')),
    created TEXT NOT NULL,
    changed TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    name: str
    status: str


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def connect(path: Path, *, create: bool = False,
            timeout: float | None = None) -> sqlite3.Connection:
    """Open the store (WAL journal: a crash never corrupts it); create it if asked.

    A statement waits up to ``timeout`` seconds (default :data:`BUSY_TIMEOUT`) for
    another connection's write to end, then fails with ``database is locked``.
    """
    check_path(path, create=create)
    try:
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT if timeout is None else timeout,
                             isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: each commit survives a crash of the process (SIGKILL);
        # only a power loss may lose the last commits.
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.executescript(SCHEMA)
    except sqlite3.DatabaseError as exc:
        raise PublisherError(f"cannot open the subscriber store: {exc}", path) from None
    return db


def check_path(path: Path, *, create: bool = False) -> None:
    """Refuse a store that is not there (unless it is to be created), and a store file
    with more than one name (hard links).

    SQLite keeps a WAL store's recent commits and its locks in ``-wal`` and ``-shm``
    files named after the name the store was opened by: through two names, two
    processes would each have their own, neither see the other's locks or commits,
    and the file would end up corrupt (SQLite's "How To Corrupt An SQLite Database
    File", "Multiple links to the same file").
    """
    if not create and not path.exists():
        raise PublisherError("no subscriber store here: import a CSV first "
                             "('publisher subscribers import FILE.csv')", path)
    try:
        links = os.stat(path).st_nlink
    except OSError:
        return  # sqlite3 says why it cannot be opened
    if links > 1:
        raise PublisherError(f"the subscriber store has {links} names (hard links): a store "
                             "must have one name, as SQLite's write-ahead log is kept per "
                             "name; remove the other links", path)


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back on any error, a failed ``COMMIT``
    (a full disk) included, so that the connection can be used again.  A failed
    ``ROLLBACK`` is ignored, so that the error that caused it is the one raised; SQLite
    may have rolled the transaction back itself (a full disk)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise


@contextlib.contextmanager
def store_errors(path: Path) -> Iterator[None]:
    """The store's failures (busy, disk full...) as one-line errors, for a command.

    Every change is made in a transaction, so a failure changes nothing.
    """
    try:
        yield
    except sqlite3.Error as exc:
        raise PublisherError(describe(exc), path) from None


BUSY, FULL = "busy", "full"


def failure(exc: BaseException) -> str | None:
    """Which of the store's expected failures ``exc`` is: :data:`BUSY` (another process
    holds the write lock), :data:`FULL` (no space left), or ``None`` (anything else).

    Told from SQLite's primary result code (``sqlite_errorcode``), not from the message
    text; an ``OSError`` from its errno.  The one test of both the commands
    (:func:`describe`) and the sender (:func:`publisher.deliver.store.describe`).
    """
    if isinstance(exc, OSError):
        return FULL if exc.errno == errno.ENOSPC else None
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF  # the primary result code
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return BUSY
    if code == sqlite3.SQLITE_FULL:
        return FULL
    return None


def describe(exc: sqlite3.Error) -> str:
    """What a failure of the store means, and what to do about it."""
    kind = failure(exc)
    if kind == BUSY:
        return ("the subscriber store is busy (a send, an import or the unsubscribe "
                "endpoint is writing to it): nothing was changed; try again in a moment")
    if kind == FULL:
        return "the disk is full: nothing was changed; free some space and try again"
    return f"the subscriber store failed ({exc}): nothing was changed"


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


def subscribed(db: sqlite3.Connection) -> Iterator[Subscriber]:
    """Every subscribed address, in the order they joined."""
    return _select(db, "WHERE status = 'subscribed'")


def everyone(db: sqlite3.Connection) -> Iterator[Subscriber]:
    return _select(db, "")


def _select(db: sqlite3.Connection, where: str) -> Iterator[Subscriber]:
    cursor = db.execute(f"SELECT id, email, name, status FROM subscribers {where} ORDER BY id")
    for row in cursor:
        yield _subscriber(row)


def _subscriber(row: tuple[object, ...]) -> Subscriber:
    """A row as read; a row that breaks the schema's own rules (a NULL address, an
    unknown status: a damaged page the file's checksums did not catch) is the store's
    corruption, told as SQLite tells it, not a traceback further on."""
    rid, email, name, status = row
    if not (isinstance(rid, int) and isinstance(email, str) and email
            and isinstance(name, str) and status in (SUBSCRIBED, UNSUBSCRIBED)):
        raise sqlite3.DatabaseError(f"database disk image is malformed (subscriber row {rid!r} "
                                    "is damaged)")
    return Subscriber(rid, email, name, status)  # type: ignore[arg-type]


def count(db: sqlite3.Connection) -> tuple[int, int]:
    """(subscribed, unsubscribed)."""
    found = dict(db.execute("SELECT status, count(*) FROM subscribers GROUP BY status"))
    return found.get(SUBSCRIBED, 0), found.get(UNSUBSCRIBED, 0)


def find(db: sqlite3.Connection, address: str) -> Subscriber | None:
    row = db.execute("SELECT id, email, name, status FROM subscribers WHERE email_key = ?",
                     (address_key(address),)).fetchone()
    return _subscriber(row) if row else None


def unsubscribe(db: sqlite3.Connection, address: str) -> bool:
    """Mark ``address`` unsubscribed (kept as such even if never subscribed); was it new?"""
    try:
        address = normalize_address(address)
    except ValueError as exc:
        raise PublisherError(f"invalid address {address.strip()!r}: {exc}") from None
    key, stamp = address_key(address), now()
    with transaction(db):
        found = db.execute("SELECT status FROM subscribers WHERE email_key = ?",
                           (key,)).fetchone()
        if found is None:
            db.execute("INSERT INTO subscribers (email, email_key, status, created, changed)"
                       " VALUES (?, ?, 'unsubscribed', ?, ?)", (address, key, stamp, stamp))
            return True
        db.execute("UPDATE subscribers SET status = 'unsubscribed', changed = ? "
                   "WHERE email_key = ?", (stamp, key))
        return bool(found[0] != UNSUBSCRIBED)


def export_csv(db: sqlite3.Connection, out: io.TextIOBase | io.StringIO) -> int:
    """Write every address (subscribed or not) as CSV: email,name,status."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "name", "status"])
    n = 0
    for sub in everyone(db):
        writer.writerow([sub.email, sub.name, sub.status])
        n += 1
    return n
