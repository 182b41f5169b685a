"""Several senders per mailing: a lease per sender, and a record of each sender's run.

``send_leases`` is keyed by (issue, owner) instead of issue: on PostgreSQL several
senders share a mailing, each with its own lease; on SQLite the code still lets one
hold it at a time.  ``send_runs`` keeps who each sender was (host, process, start,
end), for ``publisher send MONTH --status``.  A lease held now is kept.
"""

from __future__ import annotations

from publisher.deliver.db.connection import Connection
from publisher.deliver.db.migrate import run_sql

SQL = """
CREATE TABLE send_leases_new (
    issue TEXT NOT NULL,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_start TEXT NOT NULL DEFAULT '',
    started TEXT NOT NULL,
    expires DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (issue, owner)
);
INSERT INTO send_leases_new (issue, owner, host, pid, pid_start, started, expires)
SELECT issue, owner, host, pid, pid_start, started, expires FROM send_leases;
DROP TABLE send_leases;
ALTER TABLE send_leases_new RENAME TO send_leases;
CREATE TABLE send_runs (
    owner TEXT PRIMARY KEY,
    issue TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started TEXT NOT NULL,
    ended TEXT NOT NULL DEFAULT ''
);
CREATE INDEX send_runs_issue ON send_runs (issue);
CREATE INDEX deliveries_owner ON deliveries (issue, owner)
"""


def up(db: Connection) -> None:
    run_sql(db, SQL)
