"""The subscriber store's database layer: SQLite (a file, the default) or PostgreSQL (a URL).

- :mod:`.location`: what ``--db`` / ``PUBLISHER_DATABASE_URL`` name;
- :mod:`.dialect`: what differs between the two (placeholders, ``BEGIN``, DDL tokens,
  what an error means: busy, full, corrupt, unreachable);
- :mod:`.connection`: :class:`Connection`, :func:`transaction`;
- :mod:`.opening`: :func:`connect`, :class:`Pool` (for the web application);
- :mod:`.migrate` and ``migrations/``: the schema, step by step, with a version table;
- :mod:`.copy`: a whole store into an empty one (``publisher db copy``).

The rest of :mod:`publisher.deliver` writes its SQL once, with ``?`` placeholders, in
the dialect the two share (``ON CONFLICT``, ``RETURNING``, ``count(*) FILTER``).
"""

from publisher.deliver.db.connection import (
    BUSY_TIMEOUT,
    Connection,
    check_path,
    now,
    transaction,
)
from publisher.deliver.db.dialect import BUSY, CORRUPT, FULL, UNREACHABLE, errors
from publisher.deliver.db.location import (
    DEFAULT_PATH,
    URL_ENV,
    Location,
    from_env,
    locate,
    masked,
)
from publisher.deliver.db.opening import Pool, connect

__all__ = ["BUSY", "BUSY_TIMEOUT", "CORRUPT", "DEFAULT_PATH", "FULL", "UNREACHABLE",
           "URL_ENV", "Connection", "Location", "Pool", "check_path", "connect", "errors",
           "failure", "from_env", "locate", "masked", "now", "transaction"]


def failure(exc: BaseException) -> str | None:
    """Which of the store's expected failures ``exc`` is (either backend), or ``None``."""
    import publisher.deliver.db.dialect as dialect

    for d in (dialect.SQLITE, dialect.POSTGRES):
        kind = d.failure(exc)
        if kind is not None:
            return kind
    return None
