"""The store's database layer: locations, migrations from the schema of before, both
backends (SQLite and a real PostgreSQL server), ``publisher db upgrade|copy``."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Run
from publisher.deliver import db, subscribers
from publisher.deliver.db import migrate
from publisher.errors import PublisherError
from store_support import FIRST_LEDGER, OLD_LEDGER, STAMP, old_store


def table_sql(path: Path, name: str) -> str:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return str(conn.execute("SELECT sql FROM sqlite_master WHERE name = ?",
                                (name,)).fetchone()[0])


def test_the_migrations_are_numbered_from_one_each_once() -> None:
    versions = [m.version for m in migrate.migrations()]
    # Gaps are allowed: branches written side by side number their steps apart, and a
    # step below the store's highest is applied all the same (next test).
    assert versions == sorted(set(versions)) and versions[0] == 1
    assert all(m.title for m in migrate.migrations())


def test_a_step_numbered_below_the_stores_highest_is_applied(tmp_path: Path) -> None:
    # v0005 (bounces) landed after stores had v0006 (consent): such a store lacks it.
    path = tmp_path / "s.sqlite"
    with contextlib.closing(subscribers.connect(path, create=True)):
        pass
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = 5")
        conn.execute("DROP TABLE suppressions")
        conn.execute("DROP TABLE bounce_events")
        conn.commit()
    with contextlib.closing(subscribers.connect(path)) as conn:
        assert 5 in migrate.applied(conn) and migrate.current(conn) == migrate.latest()
        assert {"suppressions", "bounce_events"} <= set(conn.tables())


def test_a_store_of_before_migrations_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    old_store(path, OLD_LEDGER, leases=True)
    before = sorted(sqlite3.connect(path).execute("SELECT * FROM deliveries"))
    with contextlib.closing(subscribers.connect(path)) as conn:
        assert migrate.current(conn) == migrate.latest()
        assert subscribers.count(conn) == (9, 1)
        assert [s.email for s in subscribers.subscribed(conn)][:2] == ["R1@example.org",
                                                                       "R2@example.org"]
        # (each row as it was, with the columns later migrations add: v0005's report)
        after = sorted(conn.execute("SELECT * FROM deliveries"))
        assert [row[:len(before[0])] for row in after] == before
        assert {row[len(before[0]):] for row in after} == {("",)}
        # the lease held then is kept (its holder may still be sending)
        assert conn.execute("SELECT issue, owner, host FROM send_leases").fetchall() == [
            ("2023-08", "abc", "elsewhere")]
        applied = conn.execute("SELECT version, name FROM schema_migrations "
                               "ORDER BY version").fetchall()
        assert [v for v, _ in applied] == [m.version for m in migrate.migrations()]
    assert "PRIMARY KEY (issue, owner)" in table_sql(path, "send_leases")
    # opening it again changes nothing
    with contextlib.closing(subscribers.connect(path)) as conn:
        assert migrate.upgrade(conn) == []


def test_the_first_ledger_is_converted_by_the_first_migration(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    old_store(path, FIRST_LEDGER)  # no lease table either: it was made when first needed
    with contextlib.closing(subscribers.connect(path)) as conn:
        rows = dict(conn.execute("SELECT subscriber_id, state FROM deliveries"))
        # 'sending' may have been handed over; pending after a hand-over in doubt: doubt
        assert rows == {1: "sent", 2: "sent", 3: "sent", 4: "sent", 5: "handed", 6: "pending",
                        7: "doubt", 8: "pending", 9: "pending", 10: "pending"}
        assert "deliveries_v1" not in conn.tables()
        assert {"send_leases", "send_runs"} <= conn.tables()
    assert "'doubt'" in table_sql(path, "deliveries")


def test_a_store_with_subscribers_only_is_upgraded(tmp_path: Path, cli: Callable[..., Run]
                                                    ) -> None:
    path = tmp_path / "s.sqlite"
    old_store(path, None)
    run = cli("db", "upgrade", "--db", str(path))
    assert run.status == 0, run.err
    assert f"upgraded from schema version 0 to {migrate.latest()}" in run.err
    assert "up to date" in cli("db", "upgrade", "--db", str(path)).err
    assert cli("subscribers", "count", "--db", str(path)).out == "9\n"


def test_a_store_newer_than_the_code_is_refused_in_one_line(tmp_path: Path,
                                                             cli: Callable[..., Run]) -> None:
    path = tmp_path / "s.sqlite"
    old_store(path, None)
    with contextlib.closing(subscribers.connect(path)) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'v0999_future', ?)", (STAMP,))
    run = cli("subscribers", "count", "--db", str(path))
    assert run.status == 1 and run.err_lines == [
        f"error: {path}: the subscriber store is at schema version 999, newer than this "
        f"publisher knows ({migrate.latest()}): upgrade publisher to use it"]


def test_a_failed_migration_changes_nothing(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.sqlite"
    old_store(path, FIRST_LEDGER)
    steps = migrate.migrations()

    def broken(conn: db.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x INTEGER)")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(migrate, "migrations", lambda: (
        *steps, migrate.Migration(steps[-1].version + 1, "v9_broken", "broken", broken)))
    with pytest.raises(PublisherError, match="cannot open the subscriber store: disk I/O"):
        subscribers.connect(path)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone() == (
            steps[-1].version,)
        assert "half_done" not in {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master")}


def test_locations() -> None:
    assert db.locate("subscribers.sqlite").path == Path("subscribers.sqlite")
    url = "postgresql://ann:s3cret@db.example.org:5432/korea"
    assert db.locate(url).url == url and str(db.locate(url)) == (
        "postgresql://ann:***@db.example.org:5432/korea")
    assert db.locate("postgres://db/x").kind == "postgres"
    with pytest.raises(PublisherError, match="neither a file's path nor a postgresql:// URL"):
        db.locate("mysql://db/x")
    env = {"PUBLISHER_DATABASE_URL": url}
    assert db.from_env(None, env).url == url
    assert db.from_env("other.sqlite", env).path == Path("other.sqlite")
    assert db.from_env(None, {}).path == Path("subscribers.sqlite")


# -- PostgreSQL -------------------------------------------------------------------------

def test_an_empty_postgresql_database_is_no_store_until_made_one(
        pg_url: str, cli: Callable[..., Run], tmp_path: Path) -> None:
    run = cli("subscribers", "count", "--db", pg_url)
    assert run.status == 1 and len(run.err_lines) == 1
    assert "no subscriber store in this database: import a CSV first" in run.err_lines[0]
    assert cli("db", "upgrade", "--db", pg_url).status == 0
    assert cli("subscribers", "count", "--db", pg_url).out == "0\n"
    with contextlib.closing(subscribers.connect(pg_url)) as conn:
        assert migrate.current(conn) == migrate.latest()
        assert {"subscribers", "deliveries", "send_leases", "send_runs",
                "schema_migrations"} <= conn.tables()


def test_an_unreachable_postgresql_server_is_one_line(cli: Callable[..., Run]) -> None:
    from send_support import free_port

    url = f"postgresql://ann:s3cret@127.0.0.1:{free_port()}/korea"
    run = cli("subscribers", "count", "--db", url)
    assert run.status == 1 and len(run.err_lines) == 1 and "Traceback" not in run.err
    line = run.err_lines[0]
    assert line.startswith(f"error: postgresql://ann:***@127.0.0.1:{url.split(':')[3]}: "
                           "cannot reach the subscriber store (")
    assert "s3cret" not in run.err


def test_a_folder_or_a_missing_folder_for_the_store_is_said_so(
        tmp_path: Path, cli: Callable[..., Run]) -> None:
    """--db naming a folder was 'the subscriber store has N names (hard links)' (a
    folder's link count); a store to be made in a folder that is not there was SQLite's
    'unable to open database file'."""
    csv_file = tmp_path / "readers.csv"
    csv_file.write_text("email\nann@example.org\n")
    for command in (("subscribers", "count"), ("subscribers", "import", str(csv_file))):
        run = cli(*command, "--db", str(tmp_path))
        assert (run.status, run.err_lines) == (1, [
            f"error: {tmp_path}: is a folder, not a subscriber store: give the store's file "
            f"(such as {tmp_path / 'subscribers.sqlite'})"])
    missing = tmp_path / "nowhere" / "s.sqlite"
    run = cli("subscribers", "import", str(csv_file), "--db", str(missing))
    assert (run.status, run.err_lines) == (1, [
        f"error: {missing}: cannot create the subscriber store: no folder {missing.parent} "
        "(create it, or give another --db)"])
    assert not missing.parent.exists()


def _dump(where: str) -> dict[str, list[tuple[object, ...]]]:
    with contextlib.closing(subscribers.connect(where)) as conn:
        return {table: sorted(tuple(r) for r in conn.execute(f"SELECT * FROM {table}"))
                for table in ("subscribers", "deliveries", "send_runs")}


def test_db_copy_moves_a_store_to_postgresql_and_back(tmp_path: Path, pg_url: str,
                                                     cli: Callable[..., Run]) -> None:
    from publisher.deliver.lease import Lease
    from publisher.deliver.ledger import Ledger

    path = tmp_path / "s.sqlite"
    old_store(path, FIRST_LEDGER, n=300)
    with contextlib.closing(subscribers.connect(path)) as conn:
        lease = Lease("2023-09")
        lease.acquire(conn)
        Ledger(conn, "2023-09", lease.owner).prepare(lambda key: f"<{key}>")
        lease.release(conn)
    run = cli("db", "copy", str(path), pg_url)
    assert run.status == 0, run.err
    assert all(part in run.err
               for part in ("300 subscribers, ", " 599 deliveries, ", " 1 send_runs"))
    back = tmp_path / "back.sqlite"
    assert cli("db", "copy", pg_url, str(back)).status == 0
    assert _dump(str(path)) == _dump(pg_url) == _dump(str(back))
    # the ids go on after the copied ones
    assert cli("subscribers", "unsubscribe", "new@example.org", "--db", pg_url).status == 0
    with contextlib.closing(subscribers.connect(pg_url)) as conn:
        assert subscribers.find(conn, "new@example.org").id == 301  # type: ignore[union-attr]
    # not into a store that has rows
    run = cli("db", "copy", str(path), pg_url)
    assert run.status == 1 and run.err_lines == [
        f"error: {db.masked(pg_url)}: is not empty (subscribers has rows): copy into a new "
        "file or an empty database"]


def test_an_sqlite_store_never_loads_the_postgresql_driver(tmp_path: Path) -> None:
    """psycopg costs about 25 MB and a tenth of a second: not for the default store."""
    import subprocess
    import sys

    path = tmp_path / "s.sqlite"
    old_store(path, FIRST_LEDGER)
    code = ("import sys; from publisher.cli.main import main; "
            f"status = main(['send', '2023-08', '--status', '--db', {str(path)!r}]); "
            "assert status == 0, status; assert 'psycopg' not in sys.modules, 'loaded'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
