"""The store's schema, built by numbered migrations and recorded in ``schema_migrations``.

Each module ``migrations/vNNNN_name.py`` is one step: its docstring's first line
says what it does, and it has ``SQL`` (statements separated by ``;``, with the DDL
tokens of :mod:`publisher.deliver.db.dialect`: ``{id}``) or a function ``up(db)``.
Steps run in order, each in its own transaction, and each applied one is a row of
``schema_migrations`` (version, name, when), in the same transaction: a step is
applied whole or not at all.  A store made before migrations existed has no such
table; the first step creates what is missing and converts what is old in place.

:func:`ensure` runs on every :func:`publisher.deliver.db.connect`: a store behind this
code is upgraded (one read when it is current), a store ahead of it (written by a newer
publisher) is refused.  ``publisher db upgrade`` does the same explicitly.  Two
processes upgrading at once are serialised (SQLite's write lock, PostgreSQL's advisory
lock), and the second finds nothing left to do.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass

from publisher.deliver.db.connection import Connection, now, transaction
from publisher.errors import PublisherError

__all__ = ["Migration", "applied", "current", "ensure", "latest", "migrations", "upgrade"]

TABLE = "schema_migrations"
_MODULE = re.compile(r"^v(\d{4})_(\w+)$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    title: str
    up: Callable[[Connection], None]


def run_sql(db: Connection, sql: str) -> None:
    """Run each statement of ``sql`` (separated by ``;``), its DDL tokens filled in."""
    for statement in db.dialect.ddl(sql).split(";"):
        if statement.strip():
            db.execute(statement)


@functools.cache
def migrations() -> tuple[Migration, ...]:
    """Every step, in order; two with one number are a mistake, said at once."""
    import publisher.deliver.db.migrations as package

    found: dict[int, Migration] = {}
    for info in pkgutil.iter_modules(package.__path__):
        match = _MODULE.match(info.name)
        if not match:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        version = int(match.group(1))
        if version in found:
            raise RuntimeError(f"two migrations numbered {version}: {found[version].name} and "
                               f"{info.name}; renumber the later one")
        sql = getattr(module, "SQL", None)
        up = getattr(module, "up", None)
        if up is None and sql is not None:
            up = functools.partial(run_sql, sql=sql)
        if up is None:
            raise RuntimeError(f"migration {info.name} has neither SQL nor up()")
        title = (module.__doc__ or info.name).strip().splitlines()[0]
        found[version] = Migration(version, info.name, title, up)
    return tuple(found[v] for v in sorted(found))


def latest() -> int:
    steps = migrations()
    return steps[-1].version if steps else 0


def current(db: Connection) -> int:
    """The version the store is at (0: none applied, or a store from before migrations)."""
    return max(applied(db), default=0)


def applied(db: Connection) -> set[int]:
    """The versions of the steps applied to the store (none: a store from before them)."""
    if TABLE not in db.tables():
        return set()
    return {int(row[0]) for row in db.execute(f"SELECT version FROM {TABLE}")}


def _too_new(db: Connection, version: int) -> PublisherError:
    return db.location.error(
        f"the subscriber store is at schema version {version}, newer than this publisher "
        f"knows ({latest()}): upgrade publisher to use it")


def upgrade(db: Connection) -> list[Migration]:
    """Apply every step the store lacks, in order; the steps applied.

    A step is missing when its version is not recorded, not only when it is above the
    highest recorded: steps written on branches side by side may be numbered below one
    a store already has (v0005 merged after v0006), and are applied all the same."""
    done: list[Migration] = []
    for step in migrations():
        if step.version in applied(db):
            continue
        with transaction(db):
            db.lock("publisher schema")
            db.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (version INTEGER PRIMARY KEY, "
                       "name TEXT NOT NULL, applied TEXT NOT NULL)")
            if step.version in applied(db):  # another process did it meanwhile
                continue
            step.up(db)
            db.execute(f"INSERT INTO {TABLE} (version, name, applied) VALUES (?, ?, ?)",
                       (step.version, step.name, now()))
        done.append(step)
    return done


def blank(db: Connection) -> bool:
    """A PostgreSQL database that holds no store (no step applied, no ``subscribers``
    table): an import makes one there, or ``publisher db upgrade``.  (An SQLite store is
    its file: one that is there is a store.)"""
    return not db.is_sqlite and not applied(db) and "subscribers" not in db.tables()


def ensure(db: Connection, *, create: bool = False) -> None:
    """On opening: refuse a store newer than this code, upgrade one that is older.

    An empty PostgreSQL database is a store only when ``create`` says so (an import);
    otherwise it is "no subscriber store here", as a missing SQLite file is.
    """
    have = applied(db)
    version = max(have, default=0)
    if version > latest():
        raise _too_new(db, version)
    if have >= {step.version for step in migrations()}:
        return
    if not create and blank(db):
        raise db.location.error("no subscriber store in this database: import a CSV first "
                                "('publisher subscribers import FILE.csv'), or create it "
                                "with 'publisher db upgrade'")
    upgrade(db)
