"""The subscriber store of a test, on either backend: an SQLite file or a database of the
throwaway PostgreSQL server (``pg_url``).

A fixture that makes a store takes the backend from its parameter (``sqlite`` unless
a test says otherwise)::

    @pytest.mark.parametrize("room", BOTH, indirect=True)

and :func:`target` gives the ``--db`` value: a file's path or a ``postgresql://`` URL.

:func:`old_store` makes a store as the code before migrations left it (the schemas of
then are copied below as they were), for the tests of the upgrade.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

#: Both backends, for ``parametrize(..., indirect=True)``.
BOTH = ["sqlite", "postgres"]


def kind(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


def target(request: pytest.FixtureRequest, path: Path) -> Path | str:
    """The store for this test: ``path`` (SQLite), or an empty PostgreSQL database."""
    if kind(request) == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return path


def masked(url: str) -> str:
    from publisher.deliver import db

    return db.masked(url)


def rows(where: Path | str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The rows of a query (written with ``?``) on the store; [] when there is no store
    yet or the query's table is missing."""
    from publisher.deliver import db

    if isinstance(where, Path):  # read as it is, whatever the store's checks would say
        if not where.exists():
            return []
        with contextlib.closing(sqlite3.connect(where)) as raw:
            if raw.execute("SELECT 1 FROM sqlite_master WHERE name = 'deliveries'").fetchone():
                return [tuple(r) for r in raw.execute(sql, params).fetchall()]
            return []
    try:
        conn = db.connect(where, upgrade=False)
    except Exception:
        return []
    with contextlib.closing(conn):
        if "deliveries" not in conn.tables():
            return []
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]


# -- stores of before migrations ------------------------------------------------------

# The schema as the code before migrations created it (subscribers.SCHEMA, ledger.SCHEMA
# and lease.SCHEMA of that code), copied here as it was: a store made by it must upgrade.
OLD_SUBSCRIBERS = """
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
OLD_LEDGER = """
CREATE TABLE IF NOT EXISTS deliveries (
    issue TEXT NOT NULL,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id),
    email TEXT NOT NULL,
    message_id TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sending', 'handed', 'sent', 'deferred', 'failed', 'doubt')),
    attempts INTEGER NOT NULL DEFAULT 0,
    in_doubt INTEGER NOT NULL DEFAULT 0,
    reply TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT '',
    changed TEXT NOT NULL,
    PRIMARY KEY (issue, subscriber_id)
);
CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries (issue, state);
"""
OLD_LEASES = """
CREATE TABLE IF NOT EXISTS send_leases (
    issue TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_start TEXT NOT NULL DEFAULT '',
    started TEXT NOT NULL,
    expires REAL NOT NULL
)
"""
# The first ledger, before 'handed' and 'doubt' (ledger.ensure_schema converted it ad hoc).
FIRST_LEDGER = """
CREATE TABLE deliveries (
    issue TEXT NOT NULL,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id),
    email TEXT NOT NULL, message_id TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sending', 'sent', 'deferred', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0, in_doubt INTEGER NOT NULL DEFAULT 0,
    reply TEXT NOT NULL DEFAULT '', changed TEXT NOT NULL,
    PRIMARY KEY (issue, subscriber_id));
CREATE INDEX deliveries_state ON deliveries (issue, state);
"""
STAMP = "2023-08-01T00:00:00.000000Z"


def old_ledger_rows(conn: sqlite3.Connection, *, sent: int, doubt: tuple[int, ...]) -> None:
    """Fill the ledger of a store of before (OLD_LEDGER or FIRST_LEDGER) with a row of
    2023-08 for each subscriber, as the code of then left it after a send stopped: ids up
    to ``sent`` sent, the next one 'sending' (one try each), the rest pending; the ids in
    ``doubt`` marked with a hand-over in doubt."""
    marks = ", ".join(str(int(i)) for i in doubt)
    conn.execute("INSERT INTO deliveries (issue, subscriber_id, email, message_id, state, "
                 "attempts, in_doubt, changed) SELECT '2023-08', id, email, "
                 "'<' || id || '@old>', CASE WHEN id <= ? THEN 'sent' WHEN id = ? "
                 "THEN 'sending' ELSE 'pending' END, CASE WHEN id <= ? THEN 1 ELSE 0 END, "
                 f"CASE WHEN id IN ({marks}) THEN 1 ELSE 0 END, ? FROM subscribers",
                 (sent, sent + 1, sent + 1, STAMP))


def old_store(path: Path, ledger: str | None, *, leases: bool = False, n: int = 10) -> None:
    """A store as the code before migrations left it, with ``n`` subscribers (the third
    unsubscribed) and, with a ``ledger``, a send of 2023-08 stopped after the fourth."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as old:
        old.execute("PRAGMA journal_mode=WAL")
        old.executescript(OLD_SUBSCRIBERS + (ledger or "") + (OLD_LEASES if leases else ""))
        old.executemany("INSERT INTO subscribers (email, email_key, name, status, created, "
                        "changed) VALUES (?, ?, ?, ?, ?, ?)",
                        [(f"R{i}@example.org", f"r{i}@example.org", f"Reader {i}",
                          "unsubscribed" if i == 3 else "subscribed", STAMP, STAMP)
                         for i in range(1, n + 1)])
        if ledger is not None:
            old_ledger_rows(old, sent=4, doubt=(2, 7))
        if leases:
            old.execute("INSERT INTO send_leases VALUES ('2023-08', 'abc', 'elsewhere', 1, '', "
                        "'2023-08-01 00:00:00 UTC', 1e12)")
