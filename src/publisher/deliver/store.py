"""The sender's connections to the subscriber store, and what its failures mean.

Another process may hold the store's write lock (a long import, a backup, the
unsubscribe endpoint), or its disk may fill up.  The sender waits for the lock
up to ``PUBLISHER_STORE_TIMEOUT`` seconds (60) at each write, then stops cleanly:
every failure of the store becomes a :class:`StoreError`, one line, raised before
the message concerned goes out (see :mod:`publisher.deliver.ledger` for why
nothing is then lost).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path

from publisher import subscribers
from publisher.deliver import lease, ledger
from publisher.errors import PublisherError

DEFAULT_TIMEOUT = 60.0


class StoreError(PublisherError):
    """The store cannot be written (busy, full, broken): the send stops."""


def timeout_from_env(environ: Mapping[str, str] | None = None) -> float:
    env = os.environ if environ is None else environ
    text = env.get("PUBLISHER_STORE_TIMEOUT", "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1e6:
        raise PublisherError(f"PUBLISHER_STORE_TIMEOUT is {text!r}: expected seconds (a "
                             "positive number)")
    return value


def describe(exc: BaseException, path: Path, timeout: float) -> StoreError:
    """One line for an error of the store."""
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return StoreError(f"the subscriber store is busy: another process has held its "
                          f"write lock for over {timeout:g} s", path)
    if "disk is full" in text or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC):
        return StoreError("the disk of the subscriber store is full", path)
    if isinstance(exc, PublisherError):
        return StoreError(exc.message, path)
    return StoreError(f"cannot write the subscriber store: {text}", path)


@contextlib.contextmanager
def errors(path: Path, timeout: float) -> Iterator[None]:
    """Turn an error of the store into a :class:`StoreError`."""
    try:
        yield
    except StoreError:
        raise
    except ledger.Conflict:
        raise StoreError("another send has taken over this mailing", path) from None
    except (sqlite3.Error, OSError) as exc:
        raise describe(exc, path, timeout) from None


def open_store(path: Path, timeout: float) -> sqlite3.Connection:
    """A connection for the sender: waits up to ``timeout`` s for the write lock."""
    db = subscribers.connect(path)  # its own errors are one line already
    try:
        with errors(path, timeout):
            db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            ledger.ensure_schema(db)
            lease.ensure_schema(db)
    except BaseException:
        db.close()
        raise
    return db
