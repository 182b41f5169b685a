"""The send ledger: one row per (issue, subscriber), in the subscriber store's file.

A row moves ``pending`` → ``sending`` → ``sent`` | ``deferred`` | ``failed``,
and every move is committed on its own: ``sending`` before the SMTP
transaction, the outcome after it.  A row found in ``sending`` when a send
starts was in flight when an earlier run died: it goes back to ``pending``
(same Message-ID) with ``in_doubt`` counted, because the server may or may not
have taken it; ``--status`` lists those.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from publisher.subscribers import now, transaction

PENDING, SENDING, SENT, DEFERRED, FAILED = "pending", "sending", "sent", "deferred", "failed"
STATES = (PENDING, SENDING, SENT, DEFERRED, FAILED)


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


class Ledger:
    """The rows of one issue; each method commits before it returns."""

    def __init__(self, db: sqlite3.Connection, issue: str):
        self.db = db
        self.issue = issue

    def prepare(self, message_id: Callable[[str], str]) -> tuple[int, int]:
        """Add a pending row for every subscriber not yet in the ledger, drop the unsent
        rows of those who unsubscribed, recover rows left ``sending`` by a crash.
        Returns (added, recovered)."""
        stamp = now()
        self.db.create_function("publisher_message_id", 1, message_id, deterministic=True)
        with transaction(self.db):
            recovered = self.db.execute(
                "UPDATE deliveries SET state = 'pending', in_doubt = in_doubt + 1, changed = ?"
                " WHERE issue = ? AND state = 'sending'", (stamp, self.issue)).rowcount
            self.db.execute(  # unsubscribed since the last run: not to be mailed
                "DELETE FROM deliveries WHERE issue = ? AND state IN ('pending', 'deferred') "
                "AND subscriber_id IN (SELECT id FROM subscribers WHERE status = "
                "'unsubscribed')", (self.issue,))
            added = self.db.execute(
                "INSERT INTO deliveries (issue, subscriber_id, email, message_id, changed) "
                "SELECT ?, s.id, s.email, publisher_message_id(s.email_key), ? "
                "FROM subscribers s WHERE s.status = 'subscribed' AND NOT EXISTS "
                "(SELECT 1 FROM deliveries d WHERE d.issue = ? AND d.subscriber_id = s.id) "
                "ORDER BY s.id", (self.issue, stamp, self.issue)).rowcount
        return added, recovered

    def retry_failed(self) -> int:
        """Put the messages the server refused back to ``pending`` (still subscribed only).

        A refused message was not delivered, so sending it again mails nobody
        twice; it keeps its Message-ID.  Returns how many.
        """
        with transaction(self.db):
            return self.db.execute(
                "UPDATE deliveries SET state = 'pending', reply = '', changed = ? "
                "WHERE issue = ? AND state = 'failed' AND subscriber_id IN "
                "(SELECT id FROM subscribers WHERE status = 'subscribed')",
                (now(), self.issue)).rowcount

    def to_send(self, after: int = 0, limit: int = 500) -> list[Delivery]:
        """The next rows to send (pending or deferred, still subscribed), by subscriber id."""
        rows = self.db.execute(
            "SELECT d.subscriber_id, d.email, s.name, d.message_id, d.attempts "
            "FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "
            "WHERE d.issue = ? AND d.state IN ('pending', 'deferred') "
            "AND s.status = 'subscribed' AND d.subscriber_id > ? "
            "ORDER BY d.subscriber_id LIMIT ?", (self.issue, after, limit)).fetchall()
        return [Delivery(*row) for row in rows]

    def mark(self, subscriber_id: int, state: str, reply: str = "", *,
             in_doubt: bool = False) -> None:
        """Move a row to ``state`` and commit; ``sending`` counts an attempt; ``in_doubt``
        notes a message whose connection died after it was handed over."""
        assert state in STATES
        self.db.execute(
            "UPDATE deliveries SET state = ?, attempts = attempts + ?, in_doubt = in_doubt + ?,"
            " reply = ?, changed = ? WHERE issue = ? AND subscriber_id = ?",
            (state, int(state == SENDING), int(in_doubt), reply, now(), self.issue,
             subscriber_id))

    def mark_two(self, first: int, state: str, reply: str, second: int, state2: str) -> None:
        """Two moves in one commit: the outcome of one message, the start of the next."""
        with transaction(self.db):
            self.mark(first, state, reply)
            self.mark(second, state2)

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
        return self.db.execute("SELECT 1 FROM deliveries WHERE issue = ? LIMIT 1",
                               (self.issue,)).fetchone() is not None
