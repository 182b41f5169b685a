"""``publisher db copy FROM TO``: a whole store into an empty one, SQLite or PostgreSQL.

Both are brought to the latest schema first; then every table of the store
(subscribers first, for the references to them; the ledger, the runs and whatever
later migrations added, by name) is copied row by row in batches, its ids kept, in one
transaction of the target: a failed copy leaves the target empty.  The leases of
senders running now are not copied (a store is copied between sends).  PostgreSQL's
identity sequences are moved past the ids copied.
"""

from __future__ import annotations

from publisher.deliver.db.connection import Connection, transaction
from publisher.deliver.db.dialect import errors
from publisher.deliver.db.location import Location
from publisher.deliver.db.migrate import TABLE as MIGRATIONS
from publisher.deliver.db.opening import connect
from publisher.errors import PublisherError

FIRST = ("subscribers",)  # copied before the rest, which refer to them
SKIPPED = (MIGRATIONS, "send_leases")
BATCH = 5000


def _columns(db: Connection, table: str) -> list[str]:
    cursor = db.execute(f"SELECT * FROM {table} WHERE 1 = 0")
    return [d[0] for d in cursor.description]


def copy_store(source: Location, target: Location) -> dict[str, int]:
    """Copy ``source`` into the empty store ``target``; rows copied per table."""
    if str(source) == str(target):
        raise PublisherError(f"{source}: copying a store onto itself")
    src = connect(source)
    try:
        dst = connect(target, create=True)
        try:
            return _copy(src, dst)
        except errors() as exc:
            from publisher.deliver.subscribers import describe

            raise target.error(f"the copy failed: {describe(exc)}") from None
        finally:
            dst.close()
    finally:
        src.close()


def _copy(src: Connection, dst: Connection) -> dict[str, int]:
    tables = src.tables() & dst.tables()
    order = [t for t in FIRST if t in tables] + sorted(tables - set(FIRST) - set(SKIPPED))
    counts: dict[str, int] = {}
    with transaction(dst):
        for table in order:
            if dst.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None:
                raise dst.location.error(f"is not empty ({table} has rows): copy into a new "
                                         "file or an empty database")
        for table in order:
            wanted = set(_columns(dst, table))
            columns = [c for c in _columns(src, table) if c in wanted]
            names = ", ".join(columns)
            insert = (f"INSERT INTO {table} ({names}) VALUES "
                      f"({', '.join('?' * len(columns))})")
            cursor = src.execute(f"SELECT {names} FROM {table}")
            n = 0
            while rows := cursor.fetchmany(BATCH):
                dst.executemany(insert, rows)
                n += len(rows)
            counts[table] = n
        if not dst.is_sqlite:
            _move_sequences(dst, order)
    return counts


def _move_sequences(db: Connection, tables: list[str]) -> None:
    """Each identity column's sequence past the largest id copied."""
    found = db.execute("SELECT table_name, column_name FROM information_schema.columns "
                       "WHERE table_schema = current_schema() AND is_identity = 'YES'").fetchall()
    for table, column in found:
        if table in tables:
            db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                       f"coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)")
