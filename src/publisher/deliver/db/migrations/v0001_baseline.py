"""The subscribers, the send ledger and the send lease, as before migrations.

Everything is created only where missing, so a store made by an earlier version
(which created its tables as it went) is taken as it is.  A ledger from before the
``handed`` and ``doubt`` states (SQLite only: no earlier version ran on PostgreSQL) is
converted in place: its ``sending`` rows may have been handed over, so they become
``handed`` (recovered as in doubt by the next send), and a row it had put back to
pending after a hand-over in doubt is in doubt.
"""

from __future__ import annotations

from publisher.deliver.db.connection import Connection
from publisher.deliver.db.migrate import run_sql

STATES = ("pending", "sending", "handed", "sent", "deferred", "failed", "doubt")

SUBSCRIBERS = """
CREATE TABLE IF NOT EXISTS subscribers (
    id {id},
    email TEXT NOT NULL,
    email_key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'subscribed' CHECK (status IN ('subscribed', 'unsubscribed')),
    created TEXT NOT NULL,
    changed TEXT NOT NULL
)
"""
DELIVERIES = f"""
CREATE TABLE IF NOT EXISTS deliveries (
    issue TEXT NOT NULL,
    subscriber_id BIGINT NOT NULL REFERENCES subscribers (id),
    email TEXT NOT NULL,
    message_id TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ({", ".join(f"'{s}'" for s in STATES)})),
    attempts INTEGER NOT NULL DEFAULT 0,
    in_doubt INTEGER NOT NULL DEFAULT 0,
    reply TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT '',
    changed TEXT NOT NULL,
    PRIMARY KEY (issue, subscriber_id)
);
CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries (issue, state)
"""
LEASES = """
CREATE TABLE IF NOT EXISTS send_leases (
    issue TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_start TEXT NOT NULL DEFAULT '',
    started TEXT NOT NULL,
    expires DOUBLE PRECISION NOT NULL
)
"""
_COLUMNS = "issue, subscriber_id, email, message_id, state, attempts, in_doubt, reply, changed"


def up(db: Connection) -> None:
    run_sql(db, SUBSCRIBERS)
    old = False
    if db.is_sqlite:
        found = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND "
                           "name = 'deliveries'").fetchone()
        old = found is not None and "'doubt'" not in found[0]
    if old:
        db.execute("DROP INDEX IF EXISTS deliveries_state")
        db.execute("ALTER TABLE deliveries RENAME TO deliveries_v1")
    run_sql(db, DELIVERIES)
    if old:
        converted = _COLUMNS.replace(
            "state", "CASE WHEN state = 'sending' THEN 'handed' "
                     "WHEN state IN ('pending', 'deferred') AND in_doubt > 0 THEN 'doubt' "
                     "ELSE state END", 1)
        db.execute(f"INSERT INTO deliveries ({_COLUMNS}) SELECT {converted} "
                   "FROM deliveries_v1")
        db.execute("DROP TABLE deliveries_v1")
    run_sql(db, LEASES)
