"""A connection to the subscriber store, SQLite or PostgreSQL, with one interface.

:func:`publisher.deliver.db.opening.connect` opens one.  A :class:`Connection`'s
``execute`` / ``executemany`` take the shared SQL with ``?`` placeholders;
:func:`transaction` wraps a unit of work.  Both backends run in autocommit mode, with
explicit ``BEGIN`` (SQLite: ``BEGIN IMMEDIATE``, the write lock at once) and ``COMMIT``.
A statement waits for another's lock up to ``timeout`` seconds (SQLite's busy timeout,
PostgreSQL's ``lock_timeout``), then fails as busy.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import publisher.deliver.db.dialect as dialects
from publisher.deliver.db.location import Location
from publisher.errors import PublisherError

#: How long a statement waits for another connection's write before failing (seconds).
BUSY_TIMEOUT = 30.0
#: How long opening a PostgreSQL connection may take (seconds).
CONNECT_TIMEOUT = 10


def now() -> str:
    """The time of a change, as the store keeps it (UTC, ISO 8601, sortable as text)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Connection:
    """One connection to the store; ``raw`` is the driver's (sqlite3 or psycopg)."""

    def __init__(self, raw: Any, location: Location, *, release: Any = None):
        self.raw = raw
        self.location = location
        self.dialect = dialects.of(raw)
        self._release = release  # a pool's: give the connection back instead of closing

    @property
    def is_sqlite(self) -> bool:
        return self.dialect is dialects.SQLITE

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        if not params:
            return self.raw.execute(sql)
        return self.raw.execute(self.dialect.sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        if self.is_sqlite:
            self.raw.executemany(sql, rows)
        else:
            with self.raw.cursor() as cursor:
                cursor.executemany(self.dialect.sql(sql), rows)

    @property
    def in_transaction(self) -> bool:
        if self.is_sqlite:
            return bool(self.raw.in_transaction)
        from psycopg.pq import TransactionStatus

        return bool(self.raw.info.transaction_status != TransactionStatus.IDLE)

    def set_timeout(self, seconds: float) -> None:
        """How long a statement waits for another connection's lock."""
        ms = int(seconds * 1000)
        if self.is_sqlite:
            self.raw.execute(f"PRAGMA busy_timeout = {ms}")
        else:
            self.raw.execute(f"SET lock_timeout = {ms}")

    def lock(self, name: str) -> None:
        """In a transaction: wait for the lock ``name`` (PostgreSQL's advisory lock, held
        to the end of the transaction).  SQLite's ``BEGIN IMMEDIATE`` has already
        serialised every writer."""
        if not self.is_sqlite:
            self.execute("SELECT pg_advisory_xact_lock(?)", (self.dialect.lock_key(name),))

    def tables(self) -> set[str]:
        if self.is_sqlite:
            rows = self.raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        else:
            rows = self.raw.execute("SELECT tablename FROM pg_tables "
                                    "WHERE schemaname = current_schema()")
        return {row[0] for row in rows}

    def close(self) -> None:
        if self._release is not None:
            release, self._release = self._release, None
            release(self.raw)
            return
        self.raw.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def transaction(db: Connection) -> Iterator[Connection]:
    """``BEGIN`` ... ``COMMIT``; rolled back on any error, a failed ``COMMIT`` (a full
    disk) included, so that the connection can be used again.  A failed ``ROLLBACK`` is
    ignored, so that the error that caused it is the one raised."""
    db.execute(db.dialect.begin)
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(*dialects.errors()):
            if db.in_transaction:
                db.execute("ROLLBACK")
        raise


def check_path(path: Path, *, create: bool = False) -> None:
    """Refuse an SQLite store that is not there (unless it is to be created), and a store
    file with more than one name (hard links).

    SQLite keeps a WAL store's recent commits and its locks in ``-wal`` and ``-shm``
    files named after the name the store was opened by: through two names, two
    processes would each have their own, neither see the other's locks or commits,
    and the file would end up corrupt (SQLite's "How To Corrupt An SQLite Database
    File", "Multiple links to the same file").
    """
    if path.is_dir():  # a folder has as many links as it has subfolders, and is no store
        raise PublisherError("is a folder, not a subscriber store: give the store's file "
                             f"(such as {path / 'subscribers.sqlite'})", path)
    if not create and not path.exists():
        raise PublisherError("no subscriber store here: import a CSV first "
                             "('publisher subscribers import FILE.csv')", path)
    if create and not path.parent.is_dir():
        raise PublisherError(f"cannot create the subscriber store: no folder {path.parent} "
                             "(create it, or give another --db)", path)
    try:
        links = os.stat(path).st_nlink
    except OSError:
        return  # sqlite3 says why it cannot be opened
    if links > 1:
        raise PublisherError(f"the subscriber store has {links} names (hard links): a store "
                             "must have one name, as SQLite's write-ahead log is kept per "
                             "name; remove the other links", path)


def open_sqlite(path: Path, timeout: float) -> sqlite3.Connection:
    """The raw SQLite connection (WAL journal: a crash never corrupts the file)."""
    raw = sqlite3.connect(path, timeout=timeout, isolation_level=None,
                          check_same_thread=False)
    try:
        raw.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: each commit survives a crash of the process (SIGKILL);
        # only a power loss may lose the last commits.
        raw.execute("PRAGMA synchronous=NORMAL")
        raw.execute("PRAGMA foreign_keys=ON")
    except BaseException:
        raw.close()
        raise
    return raw


def open_postgres(location: Location, timeout: float) -> Any:
    """The raw psycopg connection (autocommit; ``lock_timeout`` = ``timeout``)."""
    driver = dialects.psycopg()
    if driver is None:
        raise location.error("a PostgreSQL store needs psycopg: pip install "
                             "'publisher[postgres]'")
    raw = driver.connect(location.url, autocommit=True,
                                   connect_timeout=CONNECT_TIMEOUT,
                                   application_name="publisher")
    try:
        raw.execute(f"SET lock_timeout = {int(timeout * 1000)}")
    except BaseException:
        raw.close()
        raise
    return raw


def unreachable(location: Location, exc: BaseException) -> PublisherError:
    """One line for a store that cannot be opened."""
    if location.is_sqlite:
        return location.error(f"cannot open the subscriber store: {exc}")
    text = " ".join(str(exc).split()) or type(exc).__name__
    return location.error(f"cannot reach the subscriber store ({text}): check the URL, "
                          "the credentials and that the server is running")
