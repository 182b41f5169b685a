"""The throwaway PostgreSQL server of pg_support.py and its fixtures (pg_fixtures.py): a real
server, not running as root, one empty database per test, row locks that SKIP LOCKED
passes over, and nothing left behind when it stops."""

from __future__ import annotations

import os
import re
import socket
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import ConnectionPool

import pg_support
from pg_support import PgServer, PgUnavailable, find_bindir, start_server

# Until conftest.py registers them for every test module.
pytest_plugins = ["pytester"]


def _fake_bindir(root: Path, version: str, names: tuple[str, ...] = pg_support.BINARIES) -> Path:
    bindir = root / version / "bin"
    bindir.mkdir(parents=True)
    for name in names:
        (bindir / name).write_text("#!/bin/sh\n")
        (bindir / name).chmod(0o755)
    return bindir


def test_the_newest_complete_version_is_found(tmp_path: Path) -> None:
    _fake_bindir(tmp_path, "9.6")
    newest = _fake_bindir(tmp_path, "15")
    _fake_bindir(tmp_path, "16", ("initdb", "pg_ctl"))  # no server: not a candidate
    _fake_bindir(tmp_path, "main")                      # not a version
    empty = tmp_path / "empty"
    empty.mkdir()
    assert find_bindir(lib=tmp_path, path=str(empty)) == newest


def test_missing_binaries_say_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(PgUnavailable) as raised:
        find_bindir(lib=tmp_path, path=str(tmp_path))
    message = str(raised.value)
    assert "\n" not in message
    assert "apt-get install -y --no-install-recommends postgresql" in message
    assert "tools/system-deps" in message


def test_missing_binaries_fail_the_test_not_skip_it(pytester: pytest.Pytester,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def nothing_installed(*_: object, **__: object) -> Path:
        raise PgUnavailable(pg_support.INSTALL_HINT)

    monkeypatch.setattr(pg_support, "find_bindir", nothing_installed)
    pytester.makeconftest('pytest_plugins = ["pg_fixtures"]\n')
    pytester.makepyfile("def test_store(pg_url):\n    assert pg_url\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*apt-get install*postgresql*"])


def test_the_server_is_real_private_and_not_root(pg_server: PgServer) -> None:
    assert re.fullmatch(r"\d+(\.\d+)*", pg_server.version)
    with psycopg.connect(pg_server.url()) as conn:
        version, fsync, listen, datadir, pid = conn.execute(
            "SELECT version(), current_setting('fsync'), current_setting('listen_addresses'),"
            " current_setting('data_directory'), pg_backend_pid()").fetchone()
        assert version.startswith(f"PostgreSQL {pg_server.version} ")
        assert (fsync, listen) == ("off", "127.0.0.1")
        assert Path(datadir) == pg_server.datadir
        # The server's processes run as the unprivileged account when we are root.
        owner = os.stat(f"/proc/{pid}").st_uid
        if os.geteuid() == 0:
            assert pg_server.account is not None
            assert owner == pg_server.account.pw_uid != 0
        else:
            assert owner == os.geteuid()
    # The unix socket in the temporary directory answers too (no TCP address then).
    sock = pg_server.socket_dir / f".s.PGSQL.{pg_server.port}"
    assert stat.S_ISSOCK(sock.stat().st_mode)
    with psycopg.connect(pg_server.socket_url()) as conn:
        assert conn.execute("SELECT inet_server_addr()").fetchone() == (None,)
    # Only 127.0.0.1 listens: another loopback address is refused.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", pg_server.port), timeout=5).close()


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_an_empty_database_of_its_own(pg_url: str, run: int) -> None:
    assert re.fullmatch(r"postgresql://postgres@127\.0\.0\.1:\d+/t_[0-9a-f]{12}", pg_url)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (pg_url.rsplit("/")[-1],)
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                            ).fetchone() == (0,)
        # The other run's table is not here: this CREATE fails in a shared database.
        conn.execute("CREATE TABLE marker (run int)")
        conn.execute("INSERT INTO marker VALUES (%s)", (run,))


def test_the_database_is_dropped_after_even_with_a_connection_left_open(
        pg_server: PgServer) -> None:
    with pg_server.database() as url:
        name = url.rsplit("/")[-1]
        left_open = psycopg.connect(url)
        left_open.execute("CREATE TABLE t (x int)")
        left_open.commit()
    try:
        with psycopg.connect(pg_server.url()) as conn:
            assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s",
                                (name,)).fetchone() == (0,)
        with pytest.raises(psycopg.OperationalError):
            left_open.execute("SELECT 1")
    finally:
        left_open.close()


def _connect(url: str) -> psycopg.Connection:
    conn = psycopg.connect(url)
    conn.execute("SET lock_timeout = '5s'")  # a lock that SKIP LOCKED ought to skip fails
    conn.commit()
    return conn


def test_skip_locked_passes_over_rows_another_connection_holds(pg_url: str) -> None:
    with psycopg.connect(pg_url) as setup:
        setup.execute("CREATE TABLE jobs (id int PRIMARY KEY)")
        setup.execute("INSERT INTO jobs SELECT generate_series(1, 5)")
    claim = "SELECT id FROM jobs ORDER BY id LIMIT 2 FOR UPDATE SKIP LOCKED"
    with _connect(pg_url) as a, _connect(pg_url) as b:
        assert a.execute(claim).fetchall() == [(1,), (2,)]
        assert b.execute(claim).fetchall() == [(3,), (4,)]
        # The rows a holds really are locked: asking for one without SKIP LOCKED fails.
        with pytest.raises(psycopg.errors.LockNotAvailable):
            b.execute("SELECT id FROM jobs WHERE id = 1 FOR UPDATE NOWAIT")
        b.rollback()
        assert b.execute(claim).fetchall() == [(3,), (4,)]
        a.commit()  # a's locks go with its transaction
        b.rollback()
        assert b.execute(claim).fetchall() == [(1,), (2,)]
        assert a.execute(claim).fetchall() == [(3,), (4,)]


def test_workers_claim_every_row_exactly_once(pg_url: str) -> None:
    rows, batch, workers = 60, 3, 4
    with psycopg.connect(pg_url) as setup:
        setup.execute("CREATE TABLE jobs (id int PRIMARY KEY, worker int)")
        setup.execute("INSERT INTO jobs (id) SELECT generate_series(1, %s)", (rows,))
    claim = ("UPDATE jobs SET worker = %s WHERE id IN (SELECT id FROM jobs WHERE worker IS NULL"
             " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id")
    # Every worker holds its first batch until all have one: possible only if each skipped
    # the rows the others hold (without SKIP LOCKED the second worker waits on the first).
    all_holding = threading.Barrier(workers, timeout=10)

    def work(worker: int) -> list[int]:
        claimed: list[int] = []
        with pool.connection() as conn:
            conn.execute("SET lock_timeout = '5s'")
            while True:
                with conn.transaction():
                    ids = [i for (i,) in conn.execute(claim, (worker, batch)).fetchall()]
                    if not claimed:
                        all_holding.wait()
                claimed += ids
                if not ids:
                    return claimed

    with ConnectionPool(pg_url, min_size=workers, max_size=workers, open=True,
                        kwargs={"autocommit": True}) as pool, \
            ThreadPoolExecutor(workers) as threads:
        claims = list(threads.map(work, range(workers)))
    every = sorted(i for ids in claims for i in ids)
    assert every == list(range(1, rows + 1))  # each row once: no row claimed twice
    assert all(len(ids) >= batch for ids in claims)
    with psycopg.connect(pg_url) as conn:
        by_worker = dict(conn.execute("SELECT worker, count(*) FROM jobs GROUP BY worker"
                                      ).fetchall())
    assert by_worker == {w: len(ids) for w, ids in enumerate(claims)}


def _alive(pid: int) -> bool:
    """Whether the process runs; a zombie has ended (here PID 1, which inherits the server
    from pg_ctl, can leave it unreaped for a while)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_stopping_removes_the_directory_and_the_server() -> None:
    server = start_server()
    try:
        root, port = server.root, server.port
        assert (server.datadir / "PG_VERSION").read_text().strip() == str(server.major)
        pid = int((server.datadir / "postmaster.pid").read_text().split()[0])
        with psycopg.connect(server.url()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.stop()
    assert not root.exists()
    assert not _alive(pid)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=5)
    server.stop()  # a second stop is harmless
    assert "initdb" in server.timings and "start" in server.timings
