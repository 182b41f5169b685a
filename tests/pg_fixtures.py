"""pytest fixtures for a real PostgreSQL server (see pg_support.py).

``pg_server``: one throwaway cluster for the whole test session (initdb once, well under a
second), stopped and removed at the end.  ``pg_url``: a fresh empty database ``t_<random>``
on it for one test, as a ``postgresql://`` URL; dropped after the test, open connections
and all.

Register them for every test with one line in conftest.py::

    pytest_plugins = ["pg_fixtures"]

No PostgreSQL on the machine fails the tests that ask for these fixtures, naming the
package to install; it never skips them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pg_support import PgServer, PgStartError, PgUnavailable, start_server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A running throwaway PostgreSQL server, shared by the session (treat its ``postgres``
    database as read-only: use ``pg_url`` or :meth:`PgServer.create_database`)."""
    try:
        server = start_server()
    except PgUnavailable as error:
        pytest.fail(str(error), pytrace=False)
    except PgStartError as error:
        pytest.fail(f"could not start a throwaway PostgreSQL server: {error}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """``postgresql://postgres@127.0.0.1:PORT/t_<random>``: an empty database of its own."""
    with pg_server.database() as url:
        yield url
