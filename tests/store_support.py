"""The subscriber store of a test, on either backend: an SQLite file or a database of the
throwaway PostgreSQL server (``pg_url``).

A fixture that makes a store takes the backend from its parameter (``sqlite`` unless
a test says otherwise)::

    @pytest.mark.parametrize("room", BOTH, indirect=True)

and :func:`target` gives the ``--db`` value: a file's path or a ``postgresql://`` URL.
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
