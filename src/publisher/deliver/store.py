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
import fcntl
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from publisher.deliver import db as store_db
from publisher.deliver import ledger, subscribers
from publisher.deliver.db import Connection, Location
from publisher.deliver.settings import number
from publisher.errors import PublisherError

DEFAULT_TIMEOUT = 60.0


class StoreError(PublisherError):
    """The store cannot be written (busy, full, broken): the send stops."""


def timeout_from_env(environ: Mapping[str, str] | None = None) -> float:
    return number(os.environ if environ is None else environ, "PUBLISHER_STORE_TIMEOUT",
                  DEFAULT_TIMEOUT, float, 0, 999999, unit="a number of seconds")


def describe(exc: BaseException, where: Location | Path, timeout: float) -> StoreError:
    """One line for an error of the store."""
    location = store_db.locate(where)
    kind = subscribers.failure(exc)
    if kind == subscribers.BUSY:
        return location.error(f"the subscriber store is busy: another process has held its "
                              f"write lock for over {timeout:g} s", StoreError)  # type: ignore[return-value]
    if kind == subscribers.FULL:
        return location.error("the disk of the subscriber store is full", StoreError)  # type: ignore[return-value]
    if kind == store_db.UNREACHABLE:
        text = " ".join(str(exc).split())
        return location.error(f"lost the subscriber store ({text}): check that its server "  # type: ignore[return-value]
                              "is running", StoreError)
    if isinstance(exc, PublisherError):
        return location.error(exc.message, StoreError)  # type: ignore[return-value]
    return location.error(f"cannot write the subscriber store: {exc}", StoreError)  # type: ignore[return-value]


@contextlib.contextmanager
def errors(where: Location | Path, timeout: float) -> Iterator[None]:
    """Turn an error of the store into a :class:`StoreError`."""
    try:
        yield
    except StoreError:
        raise
    except ledger.Conflict:
        raise store_db.locate(where).error("another send has taken over this mailing",
                                           StoreError) from None
    except (*store_db.errors(), OSError) as exc:
        raise describe(exc, where, timeout) from None


def open_store(where: Location | Path, timeout: float) -> Connection:
    """A connection for the sender: waits up to ``timeout`` s for another's lock."""
    db = subscribers.connect(where, timeout=timeout)  # its own errors are one line already
    try:
        with errors(where, timeout):
            db.set_timeout(timeout)
    except BaseException:
        db.close()
        raise
    return db


class FileLock:
    """An OS lock on the store file itself, held for a whole send.

    ``flock`` is keyed on the file (its inode), not on the name it was opened by, and
    it is independent of SQLite's own (POSIX) locks: a second send reaching the same
    file by another name (a bind mount; a hard link is refused earlier) cannot take
    it, where SQLite's WAL, keyed on the name, would let both write and corrupt the
    file.  The kernel drops it when the process ends, even by SIGKILL.
    """

    def __init__(self, path: Path):
        self.path = path
        self.fd = -1
        self.key = (0, 0)

    def acquire(self) -> None:
        subscribers.check_path(self.path)  # there, and with one name
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise StoreError(f"cannot open the subscriber store: {exc.strerror}",
                             self.path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StoreError(f"cannot lock the subscriber store: {exc.strerror}",
                                 self.path) from None
            st = os.stat(self.path)
            holder = _flock_holder(st.st_ino)
            raise StoreError("another send is using this subscriber store"
                             + (f" (process {holder} on this host)" if holder else "")
                             + ": wait for it to end, or stop it", self.path) from None
        st = os.fstat(fd)
        self.fd, self.key = fd, (st.st_dev, st.st_ino)

    def same_file(self) -> bool:
        """Does the store's path still name the file this send locked (not removed,
        not replaced)?"""
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self.key

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the only descriptor drops the flock
            self.fd = -1


def _flock_holder(inode: int) -> int:
    """The process holding a flock on ``inode`` (Linux: /proc/locks); 0 where unknown."""
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].endswith(f":{inode}"):
            with contextlib.suppress(ValueError):
                return int(fields[4])
    return 0
