"""The send ledger: one row per (issue, subscriber), in the subscriber store's file.

One state machine per message::

    pending ─┐                       ┌─> sent       (2xx to the final dot)
             ├─> sending ─> handed ──┼─> deferred   (4xx: tried again later in the run,
    deferred ┘      │                │               or by the next run)
                    │                ├─> failed     (5xx)
                    │                └─> doubt      (no reply to the final dot)
                    └──────────────────> deferred | failed | pending (before the data)

- ``sending`` is committed when a sender *claims* the row, in the same transaction
  that checks the address is still subscribed and that the sender still holds the
  mailing's lease (:mod:`publisher.deliver.lease`); the claim counts a try
  (``attempts``), so every outcome, a lost connection included, advances it.
- ``handed`` is committed after the message's data went out and before the final
  ``.`` that lets the server take it.  A connection lost before that point cannot
  have delivered anything (RFC 5321 §4.1.1.4): the row is ``deferred`` and tried
  again.  Lost after it, the server may have kept the message: the row is
  ``doubt`` (``in_doubt`` counts such hand-overs) and is never sent again unless the
  operator asks (``--resend-in-doubt``).
- A row found ``sending`` when a send starts, claimed by a sender that holds no lease
  any more, had not been handed over: back to ``pending``.  One found ``handed`` goes
  to ``doubt``.

Every move is an ``UPDATE ... WHERE state = <from> AND owner = <claimer>``: a row
changes only along the machine, and only for the sender that claimed it.  A row keeps
the owner of its last move (``--status`` counts each sender's work by it).

**Several senders (PostgreSQL).**  Each sender holds a lease of its own
(:mod:`publisher.deliver.lease`).  It *reserves* its next rows in small batches,
``UPDATE ... SET owner = <me> WHERE ... IN (SELECT ... FOR UPDATE SKIP LOCKED)``: rows
still to send whose owner is nobody or a sender without a lease, never a row another
sender is reserving at that moment; then it claims, sends and records each as above
(the claim also requires the row to be unowned, its own, or a dead sender's).  A
sender that dies (its process gone from this host, or its lease not renewed for the
lease's life) is *reaped* by the others: its lease deleted, its ``sending`` rows back
to pending, its ``handed`` rows in doubt, its reserved rows free.  A sender that runs
out of rows waits while other senders still have rows reserved or in flight, reaping the
dead, so that the last live sender finishes the mailing.  On SQLite one sender holds the
mailing at a time and reads its rows in order, without reserving them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from publisher.deliver.db import Connection, now, transaction

if TYPE_CHECKING:
    from publisher.deliver.lease import Holder, Lease

PENDING, SENDING, HANDED = "pending", "sending", "handed"
SENT, DEFERRED, FAILED, DOUBT = "sent", "deferred", "failed", "doubt"
STATES = (PENDING, SENDING, HANDED, SENT, DEFERRED, FAILED, DOUBT)
#: The moves a sender makes (recovery and the operator's options are separate methods).
MOVES: dict[str, frozenset[str]] = {
    SENDING: frozenset({HANDED, DEFERRED, FAILED, PENDING}),
    HANDED: frozenset({SENT, DEFERRED, FAILED, DOUBT}),
}
#: What ``--status`` counts (``handed`` is shown with ``sending``: both are in flight).
SHOWN = {PENDING: "pending", SENDING: "sending", SENT: "sent", DEFERRED: "deferred",
         FAILED: "failed", DOUBT: "in doubt"}

#: Subscribers added to the ledger per statement by :meth:`Ledger.prepare`.
PAGE = 5000


class Conflict(Exception):
    """A row was not in the state its claimer left it in: another sender moved it."""


@dataclass(frozen=True)
class Delivery:
    subscriber_id: int
    email: str
    name: str
    message_id: str
    attempts: int


@dataclass(frozen=True)
class Row:
    email: str
    message_id: str
    state: str
    attempts: int
    in_doubt: int
    reply: str

    @property
    def copies(self) -> tuple[int, int]:
        """(fewest, most) copies the address may have received: each hand-over with no
        reply may or may not have delivered one; a ``sent`` row has one for sure."""
        sure = int(self.state == SENT)
        return sure, sure + self.in_doubt


@dataclass(frozen=True)
class SenderProgress:
    """One sender's run of a mailing, and the rows whose last move it made."""

    host: str
    pid: int
    started: str
    ended: str
    running: bool  # holds its lease now
    rows: dict[str, int]  # state -> rows


@dataclass(frozen=True)
class Recovered:
    resent: int    # left ``sending``: never handed over, sent again
    in_doubt: int  # left ``handed``: the server may have it


@dataclass(frozen=True)
class Outcome:
    """A move to record for a claimed row."""

    subscriber_id: int
    came_from: str  # SENDING or HANDED
    state: str
    reply: str = ""


class Ledger:
    """The rows of one issue; each method commits before it returns.

    ``owner`` names the sender (its lease): the rows it claims carry it.
    """

    def __init__(self, db: Connection, issue: str, owner: str = ""):
        self.db = db
        self.issue = issue
        self.owner = owner

    def prepare(self, message_id: Callable[[str], str]) -> tuple[int, Recovered]:
        """Add a pending row for every subscriber not yet in the ledger, drop the unsent
        rows of those who unsubscribed, recover the rows of a sender that died.
        Call it holding the mailing's lease.  Returns (added, recovered).  The Message-IDs
        are made here (``message_id`` of each address's key), a page of subscribers at
        a time."""
        stamp = now()
        with transaction(self.db):
            self.db.lock(f"mailing {self.issue}")  # one sender prepares at a time
            recovered = self._recover(stamp)
            self.db.execute(  # unsubscribed since the last run: not to be mailed
                "DELETE FROM deliveries WHERE issue = ? AND state IN ('pending', 'deferred') "
                "AND subscriber_id IN (SELECT id FROM subscribers WHERE status = "
                "'unsubscribed')", (self.issue,))
            added, after = 0, 0
            while new := self.db.execute(  # a page at a time: bounded memory
                    "SELECT s.id, s.email, s.email_key FROM subscribers s "
                    "WHERE s.status = 'subscribed' AND s.id > ? AND NOT EXISTS "
                    "(SELECT 1 FROM deliveries d WHERE d.issue = ? AND d.subscriber_id = s.id) "
                    "ORDER BY s.id LIMIT ?", (after, self.issue, PAGE)).fetchall():
                self.db.executemany(
                    "INSERT INTO deliveries (issue, subscriber_id, email, message_id, changed) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [(self.issue, sid, email, message_id(key), stamp)
                     for sid, email, key in new])
                added += len(new)
                after = new[-1][0]
        if added and not self.db.is_sqlite:  # the planner's statistics, for the claims
            self.db.execute("ANALYZE deliveries")
        return added, recovered

    def _recover(self, stamp: str) -> Recovered:
        """The rows in flight of senders that hold no lease any more: ``sending`` back to
        ``pending`` (never handed over), ``handed`` to ``doubt``."""
        resent = self.db.execute(
            "UPDATE deliveries SET state = 'pending', owner = '', changed = ? "
            "WHERE issue = ? AND state = 'sending' AND owner NOT IN "
            "(SELECT owner FROM send_leases WHERE issue = ?)",
            (stamp, self.issue, self.issue)).rowcount
        in_doubt = self.db.execute(
            "UPDATE deliveries SET state = 'doubt', in_doubt = in_doubt + 1, "
            "reply = 'handed over when an earlier send stopped: no reply seen', "
            "changed = ? WHERE issue = ? AND state = 'handed' AND owner NOT IN "
            "(SELECT owner FROM send_leases WHERE issue = ?)",
            (stamp, self.issue, self.issue)).rowcount
        return Recovered(resent, in_doubt)

    def reap(self, lease: Lease) -> tuple[list[Holder], Recovered]:
        """Delete the leases of the senders of this mailing that have died and recover
        their rows (several senders); (who was reaped, what was recovered)."""
        with transaction(self.db):
            self.db.lock(f"mailing {self.issue}")
            dead = lease.reap(self.db)
            recovered = self._recover(now())  # any sender's without a lease, not only these
        return dead, recovered

    def waiting_on_others(self) -> int:
        """Rows other live senders (holding a lease) have reserved or have in flight (not
        those they deferred)."""
        return int(self.db.execute(
            "SELECT count(*) FROM deliveries WHERE issue = ? AND owner != ? "
            "AND state IN ('pending', 'sending', 'handed') AND owner IN "
            "(SELECT owner FROM send_leases WHERE issue = ?)",
            (self.issue, self.owner, self.issue)).fetchone()[0])

    def retry_failed(self) -> tuple[int, int]:
        """Put the messages the server refused back to ``pending`` (still subscribed only).

        A refused message was not delivered, so sending it again mails nobody
        twice, unless an earlier hand-over of it is in doubt: those stay failed.
        Returns (put back, kept because in doubt).
        """
        with transaction(self.db):
            kept = self.db.execute(
                "SELECT count(*) FROM deliveries WHERE issue = ? AND state = 'failed' "
                "AND in_doubt > 0", (self.issue,)).fetchone()[0]
            return self.db.execute(
                "UPDATE deliveries SET state = 'pending', reply = '', owner = '', changed = ? "
                "WHERE issue = ? AND state = 'failed' AND in_doubt = 0 AND subscriber_id IN "
                "(SELECT id FROM subscribers WHERE status = 'subscribed')",
                (now(), self.issue)).rowcount, kept

    def resend_in_doubt(self) -> int:
        """The operator's decision: the rows in doubt (still subscribed) back to ``pending``,
        and those refused since an earlier hand-over in doubt (``--retry-failed`` keeps
        them)."""
        with transaction(self.db):
            return self.db.execute(
                "UPDATE deliveries SET state = 'pending', owner = '', changed = ? "
                "WHERE issue = ? AND (state = 'doubt' OR (state = 'failed' AND in_doubt > 0)) "
                "AND subscriber_id IN "
                "(SELECT id FROM subscribers WHERE status = 'subscribed')",
                (now(), self.issue)).rowcount

    def to_send(self, after: int = 0, limit: int = 500) -> list[Delivery]:
        """The next rows to send (pending or deferred, still subscribed), by subscriber id.
        A batch is a plan only: :meth:`claim` checks each row again when it is sent.
        With several senders (PostgreSQL) the batch is reserved for this one: the next rows
        after ``after`` (an index range, however long the list), else the first ones (rows
        a dead sender had, freed behind this one)."""
        if self.db.dialect.several_senders:
            return self._reserve(after, limit) or (self._reserve(0, limit) if after else [])
        rows = self.db.execute(
            "SELECT d.subscriber_id, d.email, s.name, d.message_id, d.attempts "
            "FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "
            "WHERE d.issue = ? AND d.state IN ('pending', 'deferred') "
            "AND s.status = 'subscribed' AND d.subscriber_id > ? "
            "ORDER BY d.subscriber_id LIMIT ?", (self.issue, after, limit)).fetchall()
        return [Delivery(*row) for row in rows]

    def _reserve(self, after: int, limit: int) -> list[Delivery]:
        # unsubscribed or not: the claim drops the row of an address unsubscribed since;
        # one statement, atomic by itself
        rows = self.db.execute(
            "UPDATE deliveries AS d SET owner = ? FROM subscribers AS s "
            "WHERE s.id = d.subscriber_id AND d.issue = ? AND d.subscriber_id IN ("
            "SELECT r.subscriber_id FROM deliveries r WHERE r.issue = ? "
            "AND r.subscriber_id > ? AND r.state IN ('pending', 'deferred') "
            "AND (r.owner = '' OR NOT EXISTS (SELECT 1 FROM send_leases l "
            "WHERE l.issue = r.issue AND l.owner = r.owner)) "
            "ORDER BY r.subscriber_id LIMIT ? FOR UPDATE OF r SKIP LOCKED) "
            "RETURNING d.subscriber_id, d.email, s.name, d.message_id, d.attempts",
            (self.owner, self.issue, self.issue, after, limit)).fetchall()
        return sorted((Delivery(*row) for row in rows), key=lambda d: d.subscriber_id)

    # -- a sender's moves ------------------------------------------------------------

    def claim(self, subscriber_id: int, done: Sequence[Outcome] = ()) -> str:
        """In one commit: record ``done`` (the outcome of the previous message), then claim
        ``subscriber_id`` (``sending``, a try counted) if it is still to send, still
        subscribed, and this sender still holds the lease.  Returns ``sending``, or why
        not: ``unsubscribed`` (its row is dropped), ``gone`` (not to send any more) or
        ``lease`` (another sender holds the mailing).
        """
        if self.db.dialect.several_senders and subscriber_id not in {
                o.subscriber_id for o in done}:
            return self._claim_at_once(subscriber_id, done)
        with transaction(self.db):
            for outcome in done:
                self._move(outcome)
            return self._claim(subscriber_id)

    _CLAIM = ("UPDATE deliveries SET state = 'sending', owner = ?, attempts = attempts + 1, "
              "changed = ? WHERE issue = ? AND subscriber_id = ? "
              "AND state IN ('pending', 'deferred') AND EXISTS (SELECT 1 FROM subscribers "
              "WHERE id = ? AND status = 'subscribed') AND EXISTS (SELECT 1 FROM "
              "send_leases WHERE issue = ? AND owner = ?) AND (owner IN ('', ?) OR NOT "
              "EXISTS (SELECT 1 FROM send_leases l WHERE l.issue = deliveries.issue AND "
              "l.owner = deliveries.owner))")
    _MOVE = ("UPDATE deliveries SET state = ?, in_doubt = in_doubt + ?, reply = ?, "
             "changed = ? WHERE issue = ? AND subscriber_id = ? AND state = ? AND owner = ?")

    def _claim_params(self, sid: int, stamp: str) -> tuple[object, ...]:
        return (self.owner, stamp, self.issue, sid, sid, self.issue, self.owner, self.owner)

    def _move_params(self, o: Outcome, stamp: str) -> tuple[object, ...]:
        if o.state not in MOVES.get(o.came_from, ()):
            raise ValueError(f"no move from {o.came_from} to {o.state}")
        return (o.state, int(o.state == DOUBT), o.reply, stamp, self.issue, o.subscriber_id,
                o.came_from, self.owner)

    def _claim_at_once(self, sid: int, done: Sequence[Outcome]) -> str:
        """PostgreSQL: the moves and the claim in one statement (one round trip, atomic by
        itself).  A move that finds its row moved by another raises :class:`Conflict`
        after the statement; the claim made with it stays this sender's ``sending`` row,
        which :meth:`release` puts back (that happens only when its lease was lost, and
        then the claim, which checks the lease, has claimed nothing)."""
        stamp = now()
        parts, params = [], []
        for n, o in enumerate(done):
            parts.append(f"m{n} AS ({self._MOVE} RETURNING 1)")
            params.extend(self._move_params(o, stamp))
        parts.append(f"c AS ({self._CLAIM} RETURNING 1)")
        params.extend(self._claim_params(sid, stamp))
        counts = ", ".join([*(f"(SELECT count(*) FROM m{n})" for n in range(len(done))),
                            "(SELECT count(*) FROM c)"])
        found = self.db.execute(f"WITH {', '.join(parts)} SELECT {counts}", params).fetchone()
        for o, moved in zip(done, found[:-1], strict=True):
            if not moved:
                raise Conflict(f"row {o.subscriber_id} of {self.issue} is no longer "
                               f"{o.came_from} for this sender")
        if found[-1]:
            return SENDING
        with transaction(self.db):
            return self._unclaimed(sid)

    def _claim(self, sid: int) -> str:
        if self.db.execute(self._CLAIM, self._claim_params(sid, now())).rowcount:
            return SENDING
        return self._unclaimed(sid)

    def _unclaimed(self, sid: int) -> str:
        """Why ``sid`` could not be claimed (its row dropped if unsubscribed)."""
        if not self.holds_lease():
            return "lease"
        if self.db.execute(
                "DELETE FROM deliveries WHERE issue = ? AND subscriber_id = ? "
                "AND state IN ('pending', 'deferred') AND EXISTS (SELECT 1 FROM subscribers "
                "WHERE id = ? AND status = 'unsubscribed')",
                (self.issue, sid, sid)).rowcount:
            return "unsubscribed"
        return "gone"

    def holds_lease(self) -> bool:
        return self.db.execute("SELECT 1 FROM send_leases WHERE issue = ? AND owner = ?",
                               (self.issue, self.owner)).fetchone() is not None

    def hand_over(self, subscriber_id: int) -> None:
        """``sending`` → ``handed``, committed: the final dot is about to go."""
        self.record(Outcome(subscriber_id, SENDING, HANDED))

    def record(self, outcome: Outcome) -> None:
        if self.db.dialect.several_senders:  # one statement: atomic and committed alone
            self._move(outcome)
            return
        with transaction(self.db):
            self._move(outcome)

    def _move(self, o: Outcome) -> None:
        if not self.db.execute(self._MOVE, self._move_params(o, now())).rowcount:
            raise Conflict(f"row {o.subscriber_id} of {self.issue} is no longer "
                           f"{o.came_from} for this sender")

    def release(self) -> Recovered:
        """At the end of a run: this sender's rows still in flight (an outcome that could
        not be recorded) go where a recovery would put them."""
        with transaction(self.db):
            resent = self.db.execute(
                "UPDATE deliveries SET state = 'pending', owner = '', changed = ? "
                "WHERE issue = ? AND state = 'sending' AND owner = ?",
                (now(), self.issue, self.owner)).rowcount
            in_doubt = self.db.execute(
                "UPDATE deliveries SET state = 'doubt', in_doubt = in_doubt + 1, "
                "reply = 'handed over, its outcome could not be recorded', changed = ? "
                "WHERE issue = ? AND state = 'handed' AND owner = ?",
                (now(), self.issue, self.owner)).rowcount
            self.db.execute(  # the rows it reserved or deferred: free for the others
                "UPDATE deliveries SET owner = '' WHERE issue = ? AND owner = ? "
                "AND state IN ('pending', 'deferred')", (self.issue, self.owner))
        return Recovered(resent, in_doubt)

    def senders(self) -> list[SenderProgress]:
        """Every sender of this mailing (oldest first) and what it has done."""
        runs = self.db.execute(
            "SELECT r.owner, r.host, r.pid, r.started, r.ended, "
            "EXISTS (SELECT 1 FROM send_leases l WHERE l.issue = r.issue AND l.owner = r.owner) "
            "FROM send_runs r WHERE r.issue = ? ORDER BY r.started, r.owner",
            (self.issue,)).fetchall()
        done: dict[str, dict[str, int]] = {}
        for owner, state, n in self.db.execute(
                "SELECT owner, state, count(*) FROM deliveries WHERE issue = ? AND owner != '' "
                "GROUP BY owner, state", (self.issue,)):
            done.setdefault(owner, {})[state] = int(n)
        return [SenderProgress(host, int(pid), started, ended, bool(live),
                               done.get(owner, {})) for owner, host, pid, started, ended, live
                in runs]

    # -- reading ---------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        found = dict(self.db.execute(
            "SELECT state, count(*) FROM deliveries WHERE issue = ? GROUP BY state",
            (self.issue,)))
        return {state: found.get(state, 0) for state in STATES}

    def rows(self, *states: str, in_doubt: bool = False) -> Iterator[Row]:
        where = "issue = ?"
        args: list[object] = [self.issue]
        if states:
            where += f" AND state IN ({', '.join('?' * len(states))})"
            args.extend(states)
        if in_doubt:
            where += " AND in_doubt > 0"
        cursor = self.db.execute(
            "SELECT email, message_id, state, attempts, in_doubt, reply FROM deliveries "
            f"WHERE {where} ORDER BY subscriber_id", args)
        for row in cursor:
            yield Row(*row)

    def exists(self) -> bool:
        if "deliveries" not in self.db.tables():
            return False
        return self.db.execute("SELECT 1 FROM deliveries WHERE issue = ? LIMIT 1",
                               (self.issue,)).fetchone() is not None
