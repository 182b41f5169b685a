"""Opening the store: :func:`connect` for a command or a sender, :class:`Pool` for the
web application; either brings the schema up to date first
(:func:`publisher.deliver.db.migrate.ensure`)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

import publisher.deliver.db.dialect as dialects
import publisher.deliver.db.migrate as migrate
from publisher.deliver.db.connection import (
    BUSY_TIMEOUT,
    CONNECT_TIMEOUT,
    Connection,
    check_path,
    open_postgres,
    open_sqlite,
    unreachable,
)
from publisher.deliver.db.location import Location, locate


def connect(where: Location | str | os.PathLike[str], *, create: bool = False,
            timeout: float | None = None, upgrade: bool = True) -> Connection:
    """Open the store; with ``create``, an SQLite file that is not there is created.

    Its schema is brought up to date (every migration not yet applied, see
    :mod:`publisher.deliver.db.migrate`) unless ``upgrade`` is false.  Failures are
    one-line :class:`PublisherError`\\ s naming the store.
    """
    location = locate(where)
    wait = BUSY_TIMEOUT if timeout is None else timeout
    if location.is_sqlite:
        check_path(location.file, create=create)
    try:
        if location.is_sqlite:
            raw = open_sqlite(location.file, wait)
        else:
            raw = open_postgres(location, wait)
    except dialects.errors() as exc:
        raise unreachable(location, exc) from None
    db = Connection(raw, location)
    try:
        if upgrade:
            migrate.ensure(db, create=create)
    except dialects.errors() as exc:
        db.close()
        if db.dialect.failure(exc) == dialects.BUSY:
            raise location.error("the subscriber store is busy (another process is "
                                 "writing to it): try again in a moment") from None
        raise unreachable(location, exc) from None
    except BaseException:
        db.close()
        raise
    return db


class Pool:
    """Connections for a long-lived process with many threads (the WSGI application):
    PostgreSQL's are pooled (psycopg_pool), SQLite's opened per use as before."""

    def __init__(self, where: Location | str | os.PathLike[str], *, timeout: float,
                 size: int = 4):
        self.location = locate(where)
        self.timeout = timeout
        self._pool: Any = None
        self._lock = threading.Lock()
        self._checked = False
        self.size = size

    def _open_pool(self) -> Any:
        with self._lock:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                ms = int(self.timeout * 1000)

                def configure(raw: Any) -> None:
                    raw.execute(f"SET lock_timeout = {ms}")

                self._pool = ConnectionPool(
                    self.location.url, min_size=1, max_size=self.size, open=True,
                    kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT,
                            "application_name": "publisher"},
                    configure=configure, timeout=max(self.timeout, 1.0),
                    name="publisher-store")
            return self._pool

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        if self.location.is_sqlite:
            db = connect(self.location, timeout=self.timeout)
            try:
                yield db
            finally:
                db.close()
            return
        try:
            pool = self._open_pool()
            raw = pool.getconn()
        except Exception as exc:  # PoolTimeout, or the server gone
            raise unreachable(self.location, exc) from None
        db = Connection(raw, self.location, release=pool.putconn)
        try:
            if not self._checked:  # the schema, once per process
                migrate.ensure(db)
                self._checked = True
            yield db
        finally:
            db.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
