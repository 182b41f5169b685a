"""Bounces and complaints: their events, the suppressed addresses, each ledger row's report.

- ``bounce_events``: every bounce or complaint read (keyed by the report's identity: a
  report read twice is recorded once), whom and which mailing it was about, and what
  came of it (:mod:`publisher.deliver.bounces.record`);
- ``suppressions``: the subscribers stopped by a bounce or a complaint, why and since
  when (they are ``unsubscribed`` in ``subscribers`` too);
- ``deliveries.report``: the worst report about that message so far (``soft``,
  ``hard``, ``complaint`` or empty).

The tables are created only where missing, and the column added only where missing: a
store the bounce intake wrote to before this migration existed (it created them as it
went) is taken as it is.
"""

from __future__ import annotations

from publisher.deliver.db.connection import Connection
from publisher.deliver.db.migrate import run_sql

SQL = """
CREATE TABLE IF NOT EXISTS bounce_events (
    key TEXT PRIMARY KEY,
    received TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('hard', 'soft', 'complaint')),
    subscriber_id BIGINT,
    email_key TEXT NOT NULL DEFAULT '',
    issue TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT '',
    diagnostic TEXT NOT NULL DEFAULT '',
    feedback_type TEXT NOT NULL DEFAULT '',
    message_id TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS bounce_events_subscriber ON bounce_events (subscriber_id, kind,
                                                                     received);
CREATE INDEX IF NOT EXISTS bounce_events_issue ON bounce_events (issue, kind);
CREATE TABLE IF NOT EXISTS suppressions (
    subscriber_id BIGINT PRIMARY KEY REFERENCES subscribers (id),
    reason TEXT NOT NULL CHECK (reason IN ('hard', 'soft', 'complaint')),
    since TEXT NOT NULL,
    event TEXT NOT NULL DEFAULT ''
)
"""


def _columns(db: Connection, table: str) -> set[str]:
    cursor = db.execute(f"SELECT * FROM {table} WHERE 1 = 0")
    return {d[0] for d in cursor.description}


def up(db: Connection) -> None:
    run_sql(db, SQL)
    if "report" not in _columns(db, "deliveries"):
        db.execute("ALTER TABLE deliveries ADD COLUMN report TEXT NOT NULL DEFAULT ''")
