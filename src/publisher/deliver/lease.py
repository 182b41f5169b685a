"""Who sends a mailing: a lease row in the store, not a lock file beside it.

One row per issue in ``send_leases`` names the sender that holds it (a random
owner id, the host, the process id and its start time) and when the lease
expires.  It is taken in a ``BEGIN IMMEDIATE`` transaction, so two senders on
the same store, however its path is spelled (a symlink, a relative path), cannot
both hold it; the holder renews it while it runs and deletes it when it ends.
That holds only while both reach the file by one name: SQLite's WAL (its locks and
latest commits) is kept per name, so through a hard link or a bind mount each
would have its own.  Hence the store refuses a file with several links
(:func:`publisher.deliver.subscribers.check_path`) and a send first takes ``flock`` on the
file itself (:class:`publisher.deliver.store.FileLock`), whatever its name.
A lease is free when it has expired, or when its holder was on this host and its
process is gone (a SIGKILL): no waiting for the expiry then.  Every claim of a
row checks the lease in the same transaction (:meth:`Ledger.claim`), so a sender
that lost its lease (stopped for longer than the lease lasts) sends nothing more.

On PostgreSQL several senders share a mailing, each with a lease of its own
(``send_leases`` is keyed by issue and owner), taken under an advisory lock on the
mailing: see :mod:`publisher.deliver.ledger` for how they share the work.  Every run
is also recorded in ``send_runs`` (who, since when, until when) for ``--status``.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from publisher.deliver.db import Connection, now, transaction
from publisher.errors import PublisherError

TTL = 60.0  # seconds a lease lasts without renewal; renewed every TTL / 4
_HELD: set[str] = set()  # the owners of the leases this process holds now

def _process_start(pid: int) -> str:
    """The start time of a process (Linux: /proc), to tell it from a later one with the
    same pid; '' where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""


def _alive(pid: int, start: str) -> bool:
    """Is process ``pid`` (started at ``start``) still running on this host?"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        stat = ""
    if stat:
        fields = stat.rpartition(")")[2].split()
        if fields and fields[0] in ("Z", "X"):  # a zombie has stopped sending
            return False
        return not start or len(fields) <= 19 or fields[19] == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    started: str
    expires: float

    def __str__(self) -> str:
        return f"process {self.pid} on {self.host}, since {self.started}"


@dataclass
class Lease:
    """This process's claim on one issue's mailing."""

    issue: str
    ttl: float = TTL
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)

    def acquire(self, db: Connection) -> Holder | None:
        """Take the lease; a dead holder's is taken over (returned, to be reported).
        On SQLite a :class:`PublisherError` names the live holder when there is one; on
        PostgreSQL live holders send alongside."""
        with transaction(db):
            db.lock(f"mailing {self.issue}")
            rows = db.execute("SELECT host, pid, pid_start, started, expires, owner FROM "
                              "send_leases WHERE issue = ? ORDER BY started",
                              (self.issue,)).fetchall()
            previous = None
            for host, pid, start, started, expires, owner in rows:
                if owner == self.owner:
                    continue
                holder = Holder(host, pid, started, expires)
                if self.dead(host, pid, start, expires, owner):
                    previous = previous or holder
                    db.execute("DELETE FROM send_leases WHERE issue = ? AND owner = ?",
                               (self.issue, owner))
                elif not db.dialect.several_senders:
                    raise PublisherError(
                        f"the send of {self.issue} is already running ({holder}): "
                        f"wait for it to end, or stop it")
            stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            db.execute("INSERT INTO send_leases (issue, owner, host, pid, pid_start, started, "
                       "expires) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (issue, owner) "
                       "DO UPDATE SET expires = excluded.expires",
                       (self.issue, self.owner, self.host, self.pid,
                        _process_start(self.pid), stamp, time.time() + self.ttl))
            db.execute("INSERT INTO send_runs (owner, issue, host, pid, started) "
                       "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                       (self.owner, self.issue, self.host, self.pid, now()))
        _HELD.add(self.owner)
        return previous

    def reap(self, db: Connection) -> list[Holder]:
        """In a transaction under the mailing's lock: delete the leases of this mailing
        whose holders have died; who they were."""
        gone = []
        for host, pid, start, started, expires, owner in db.execute(
                "SELECT host, pid, pid_start, started, expires, owner FROM send_leases "
                "WHERE issue = ? AND owner != ?", (self.issue, self.owner)).fetchall():
            if self.dead(host, pid, start, expires, owner):
                db.execute("DELETE FROM send_leases WHERE issue = ? AND owner = ?",
                           (self.issue, owner))
                gone.append(Holder(host, pid, started, expires))
        return gone

    def dead(self, host: str, pid: int, start: str, expires: float, owner: str) -> bool:
        """Has the holder of a lease stopped (expired, or its process gone from this host)?"""
        return expires < time.time() or (host == self.host and (
            not _alive(pid, start) or (pid == self.pid and owner not in _HELD)))

    def renew(self, db: Connection) -> bool:
        """Push the expiry on; False if the lease is no longer ours."""
        with transaction(db):
            return bool(db.execute("UPDATE send_leases SET expires = ? WHERE issue = ? AND "
                                   "owner = ?", (time.time() + self.ttl, self.issue,
                                                 self.owner)).rowcount)

    def release(self, db: Connection) -> None:
        _HELD.discard(self.owner)  # even if the row stays (a full disk): this run is over
        with transaction(db):
            db.execute("DELETE FROM send_leases WHERE issue = ? AND owner = ?",
                       (self.issue, self.owner))
            db.execute("UPDATE send_runs SET ended = ? WHERE owner = ?", (now(), self.owner))
