"""The ledger's indexes for several senders: without ``deliveries_owner`` (from v0002) and,
on PostgreSQL, with the rows still to send indexed by subscriber instead of every row
by state.

PostgreSQL's planner took an index on the state (or the owner) for each move of a row
(``... WHERE subscriber_id = ? AND state = ? AND owner = ?``), reading past every row
that had been in that state before, where the primary key finds the one row: a move
cost milliseconds on a list of 100,000.  ``deliveries_todo`` holds only the pending and
deferred rows, in subscriber order: the reservations and the claims read it, the other
moves the primary key.  SQLite's planner needs no such help: its index is kept.
"""

from __future__ import annotations

from publisher.deliver.db.connection import Connection


def up(db: Connection) -> None:
    db.execute("DROP INDEX IF EXISTS deliveries_owner")
    if not db.is_sqlite:
        db.execute("DROP INDEX IF EXISTS deliveries_state")
        db.execute("CREATE INDEX deliveries_todo ON deliveries (issue, subscriber_id) "
                   "WHERE state IN ('pending', 'deferred')")
