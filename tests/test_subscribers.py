"""The subscriber store, unsubscribe tokens and the personalisation of the finished email."""

from __future__ import annotations

import csv
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import store_support
from conftest import Run
from publisher.deliver import csv_import, subscribers, tokens
from publisher.deliver.personalise import Recipient, Template, dot_stuff, message_id
from publisher.errors import PublisherError
from publisher.model import Publication
from publisher.render.email import placeholders
from send_support import bodies, fake_eml, parse

SECRET = b"test-secret-0123456789"
PUB = Publication(title="KOREA", publisher="KOCIS", language="en",
                  base_url="https://webzine.example.org/korea", sender_name="Webzine KOREA",
                  sender_address="newsletter@webzine.example.org", postal_address="Seoul")


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def rows(db_path: Path | str) -> list[tuple[str, str, str]]:
    with closing(subscribers.connect(db_path)) as db:
        return [tuple(r) for r in db.execute(
            "SELECT email, name, status FROM subscribers ORDER BY id").fetchall()]


@pytest.fixture
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """``s.sqlite`` in the test's folder, or an empty PostgreSQL database."""
    return store_support.target(request, tmp_path / "s.sqlite")


BOTH = pytest.mark.parametrize("store", store_support.BOTH, indirect=True)


# -- import -------------------------------------------------------------------------

@BOTH
def test_import_merges_case_insensitive_duplicates(tmp_path: Path, store: Path | str,
                                                   cli: Callable[..., Run]) -> None:
    csv_file = write(tmp_path / "s.csv",
                     "\ufeffName,EMAIL\nAnn Kim,Ann@Example.org\n,bob@example.org\n"
                     "김민수,minsu@bücher.example\nAnnie,ann@EXAMPLE.org\n\n")
    db = store
    run = cli("subscribers", "import", str(csv_file), "--db", str(db))
    assert run.status == 0, run.err
    assert rows(db) == [("Ann@example.org", "Annie", "subscribed"),
                        ("bob@example.org", "", "subscribed"),
                        ("minsu@xn--bcher-kva.example", "김민수", "subscribed")]
    assert "3 added" in run.err and "1 duplicate row(s) merged" in run.err
    assert cli("subscribers", "count", "--db", str(db)).out == "3\n"
    listed = cli("subscribers", "list", "--db", str(db)).out.splitlines()
    assert listed == ["Ann@example.org\tAnnie", "bob@example.org",
                      "minsu@xn--bcher-kva.example\t김민수"]


@BOTH
def test_an_international_address_is_kept_with_its_domain_in_ascii(
        tmp_path: Path, store: Path | str, cli: Callable[..., Run]) -> None:
    csv_file = write(tmp_path / "s.csv", "email,name\n홍길동@Example.kr,홍길동\n"
                                         "독자@부산.kr,\n")
    db = store
    run = cli("subscribers", "import", str(csv_file), "--db", str(db))
    assert run.status == 0, run.err
    assert rows(db) == [("홍길동@example.kr", "홍길동", "subscribed"),
                        ("독자@xn--or3bi2d.kr", "", "subscribed")]
    assert subscribers.normalize_address("ann@example.org") == "ann@example.org"


@BOTH
def test_bad_rows_are_all_reported_and_change_nothing(
        tmp_path: Path, store: Path | str, cli: Callable[..., Run],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = store
    good = write(tmp_path / "good.csv", "email,name\nfirst@example.org,First\n")
    assert cli("subscribers", "import", str(good), "--db", str(db)).status == 0
    bad = write(tmp_path / "bad.csv",
                'email,name\nok@example.org,OK\nnot-an-address,X\n'
                '"multi\nline@example.org",Y\nevil@example.org,"Eve\r\nBcc: all@example.org"\n'
                "also@bad@example.org,\n,nameless\nnull@example.org,A\x00B\n")
    run = cli("subscribers", "import", str(bad), "--db", str(db))
    assert run.status == 1
    assert run.err_lines == [
        "error: bad.csv:3: invalid address 'not-an-address': An email address must have an "
        "@-sign.",
        "error: bad.csv:4: invalid address 'multi\\nline@example.org': The email address "
        "contains invalid characters before the @-sign: U+000A.",
        "error: bad.csv:6: evil@example.org: name contains a line break or control character "
        "(U+000D), which could inject mail headers",
        "error: bad.csv:8: invalid address 'also@bad@example.org': The part after the @-sign "
        "contains invalid characters: '@'.",
        "error: bad.csv:9: invalid address '(empty)': An email address must have an @-sign.",
        "error: bad.csv:10: null@example.org: name contains a line break or control character "
        "(U+0000), which could inject mail headers",
        "error: bad.csv: 6 bad row(s): nothing was imported (--skip-bad imports the good rows)",
    ]
    assert rows(db) == [("first@example.org", "First", "subscribed")]  # nothing changed
    run = cli("subscribers", "import", str(bad), "--skip-bad", "--db", str(db))
    assert run.status == 0
    assert len([line for line in run.err_lines if line.startswith("warning:")]) == 6
    assert rows(db) == [("first@example.org", "First", "subscribed"),
                        ("ok@example.org", "OK", "subscribed")]


def test_a_row_with_more_fields_than_the_header_is_a_bad_row(
        tmp_path: Path, cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch) -> None:
    """A comma in a name not quoted: the row is reported with its line, as a bad row (was:
    imported as 'Kim', the rest dropped unsaid); empty extra fields lose nothing."""
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "s.sqlite"
    wide = write(tmp_path / "wide.csv", 'email,name\nann@example.org,"Kim, Ann"\n'
                                        "bob@example.org,Kim, Bob\ncat@example.org,Cat,,\n")
    problem = ('wide.csv:3: 3 fields where the header row names 2 (email,name): put a value '
               'with a comma in it in double quotes, as "Kim, Ann"')
    run = cli("subscribers", "import", str(wide), "--db", str(db))
    assert run.status == 1 and "Traceback" not in run.err
    assert run.err_lines == [f"error: {problem}", "error: wide.csv: 1 bad row(s): nothing was "
                             "imported (--skip-bad imports the good rows)"]
    assert not db.exists()
    run = cli("subscribers", "import", str(wide), "--skip-bad", "--db", str(db))
    assert run.status == 0
    assert run.err_lines == [f"warning: {problem} (skipped)"]
    assert rows(db) == [("ann@example.org", "Kim, Ann", "subscribed"),
                        ("cat@example.org", "Cat", "subscribed")]


def test_import_errors_create_no_store(tmp_path: Path, cli: Callable[..., Run],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "s.sqlite"
    no_column = write(tmp_path / "x.csv", "mail,name\na@example.org,A\n")
    run = cli("subscribers", "import", str(no_column), "--db", str(db))
    assert (run.status, run.err_lines) == (1, ["error: x.csv:1: the header row has no 'email' "
                                               "column (it reads 'mail,name'): the first row "
                                               "names the columns, separated by commas"])
    bad = write(tmp_path / "y.csv", "email\nbad\n")
    assert cli("subscribers", "import", str(bad), "--db", str(db)).status == 1
    assert not db.exists()
    run = cli("subscribers", "count", "--db", str(db))
    assert run.status == 1 and run.err_lines[0].endswith(
        "no subscriber store here: import a CSV first ('publisher subscribers import "
        "FILE.csv')")


@pytest.mark.parametrize("damage", ["email = NULL", "status = 'gone'", "name = x'00ff'"])
def test_a_damaged_row_is_the_stores_corruption_in_one_line(
        tmp_path: Path, cli: Callable[..., Run], damage: str) -> None:
    # A damaged page can hand back a row that breaks the schema's own NOT NULL and CHECK
    # rules (found by the corrupt-store fault test: a NULL address became a traceback in
    # the dry run).  The schema is loosened the way such damage looks, then the row set.
    db = tmp_path / "s.sqlite"
    cli("subscribers", "import", str(write(tmp_path / "s.csv", "email\na@example.org\n")),
        "--db", str(db))
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute("UPDATE sqlite_schema SET sql = replace(replace(sql, 'email TEXT NOT NULL', "
                     "'email TEXT'), ?, '') WHERE name = 'subscribers'",
                     ("CHECK (status IN ('subscribed', 'unsubscribed'))",))
        conn.commit()
    with closing(sqlite3.connect(db)) as conn:
        conn.execute(f"UPDATE subscribers SET {damage}")
        conn.commit()
    # (the dry run and the send read through the same function as list)
    readers = ["export"] if "status" in damage else ["list", "export"]  # list: subscribed only
    for args in (("subscribers", action) for action in readers):
        run = cli(*args, "--db", str(db))
        assert run.status == 1, (args, run.err)
        assert len(run.err_lines) == 1 and "malformed" in run.err_lines[0], (args, run.err)


@BOTH
def test_unsubscribed_stay_unsubscribed(tmp_path: Path, store: Path | str,
                                        cli: Callable[..., Run]) -> None:
    db = store
    csv_file = write(tmp_path / "s.csv", "email\na@example.org\nb@example.org\n")
    cli("subscribers", "import", str(csv_file), "--db", str(db))
    assert cli("subscribers", "unsubscribe", "A@EXAMPLE.org", "--db", str(db)).status == 0
    assert cli("subscribers", "unsubscribe", "new@example.org", "--db", str(db)).status == 0
    run = cli("subscribers", "import", str(write(tmp_path / "t.csv",
                                                 "email\nnew@example.org\na@example.org\n")),
              "--db", str(db))
    assert "2 kept unsubscribed" in run.err
    assert cli("subscribers", "list", "--db", str(db)).out == "b@example.org\n"
    assert cli("subscribers", "export", "--db", str(db)).out == (
        "email,name,status\na@example.org,,unsubscribed\nb@example.org,,subscribed\n"
        "new@example.org,,unsubscribed\n")
    run = cli("subscribers", "unsubscribe", "nonsense", "--db", str(db))
    assert run.status == 1 and run.err_lines[0].startswith("error: invalid address 'nonsense'")


@BOTH
def test_a_second_import_updates_names_and_keeps_the_unsubscribed(
        tmp_path: Path, store: Path | str, cli: Callable[..., Run]) -> None:
    db = store
    first = write(tmp_path / "a.csv", "email,name\na@example.org,A\nb@example.org,B\n"
                                      "c@example.org,C\nd@example.org,D\n")
    assert cli("subscribers", "import", str(first), "--db", str(db)).status == 0
    assert cli("subscribers", "unsubscribe", "d@example.org", "--db", str(db)).status == 0
    second = write(tmp_path / "b.csv", "email,name\nnew@example.org,New\nA@example.org,Ann\n"
                                       "b@example.org,\nc@example.org,C\nd@example.org,Dee\n"
                                       "NEW@example.org,\n")
    run = cli("subscribers", "import", str(second), "--db", str(db))
    assert run.status == 0, run.err
    assert (f"{second.name}: 1 added, 2 updated, 2 unchanged, 1 kept unsubscribed, "
            "1 duplicate row(s) merged, 0 bad row(s) skipped") in run.err
    assert rows(db) == [("a@example.org", "Ann", "subscribed"),
                        ("b@example.org", "B", "subscribed"),
                        ("c@example.org", "C", "subscribed"),
                        ("d@example.org", "Dee", "unsubscribed"),
                        ("new@example.org", "New", "subscribed")]


POOL = ["ann@example.org", "Ann@Example.org", "bob@example.org", "BOB@EXAMPLE.ORG",
        "kim@bücher.example", "독자@example.kr", "not-an-address", ""]
NAMES = ["", "Ann", "Annie", "B", "김민수"]


def _expected(existing: list[tuple[str, str, str]], rows: list[tuple[str, str]]
              ) -> tuple[list[tuple[str, str, str]], str]:
    """What an import of ``rows`` should leave, by the rules the README gives, and its
    summary: the model the set-based SQL is checked against."""
    staged: dict[str, tuple[str, str]] = {}
    merged = bad = 0
    for email, name in rows:
        if not (email + name).strip():  # a blank row is no row
            continue
        try:
            address = subscribers.normalize_address(email)
        except ValueError:
            bad += 1
            continue
        key = address.casefold()
        if key in staged:  # the first spelling stays; a later non-empty name wins
            merged += 1
            staged[key] = (staged[key][0], name or staged[key][1])
        else:
            staged[key] = (address, name)
    store = {email.casefold(): [email, name, status] for email, name, status in existing}
    added = updated = unchanged = kept = 0
    for key, (address, name) in staged.items():
        if key not in store:
            store[key] = [address, name, "subscribed"]
            added += 1
            continue
        if store[key][2] == "unsubscribed":
            kept += 1
        if name and name != store[key][1]:
            store[key][1] = name
            updated += 1
        elif store[key][2] != "unsubscribed":
            unchanged += 1
    return ([(e, n, s) for e, n, s in store.values()],
            f"{added} added, {updated} updated, {unchanged} unchanged, {kept} kept "
            f"unsubscribed, {merged} duplicate row(s) merged, {bad} bad row(s) skipped")


@settings(max_examples=80, deadline=None)
@example(existing=[("ann@example.org", "Ann", False)], lines=[("Ann@Example.org", "")])
@example(existing=[("bob@example.org", "B", True)], lines=[("bob@example.org", "Annie")])
@example(existing=[], lines=[("BOB@EXAMPLE.ORG", "B"), ("bob@example.org", ""),
                             ("not-an-address", "Ann"), ("", ""), ("bob@example.org", "Ann")])
@given(existing=st.lists(st.tuples(st.sampled_from(POOL[:6]), st.sampled_from(NAMES),
                                   st.booleans()), max_size=4),
       lines=st.lists(st.tuples(st.sampled_from(POOL), st.sampled_from(NAMES)), max_size=12))
def test_an_import_does_what_the_rules_say(existing: list[tuple[str, str, bool]],
                                           lines: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "s.sqlite"
        db = subscribers.connect(db_path, create=True)
        before: dict[str, tuple[str, str, str]] = {}
        for email, name, gone in existing:
            address = subscribers.normalize_address(email)
            before.setdefault(address.casefold(),
                              (address, name, "unsubscribed" if gone else "subscribed"))
        for address, name, status in before.values():
            db.execute("INSERT INTO subscribers (email, email_key, name, status, created, "
                       "changed) VALUES (?, ?, ?, ?, '', '')",
                       (address, address.casefold(), name, status))
        csv_file = Path(tmp) / "rows.csv"
        with csv_file.open("w", encoding="utf-8", newline="") as out:
            csv.writer(out).writerows([("email", "name"), *lines])
        db.close()
        result = csv_import.import_csv(csv_file, db_path, skip_bad=True)
        expected, summary = _expected(list(before.values()), lines)
        assert rows(db_path) == expected
        assert (f"{result.added} added, {result.updated} updated, {result.unchanged} "
                f"unchanged, {result.kept_unsubscribed} kept unsubscribed, {result.merged} "
                f"duplicate row(s) merged, {result.skipped} bad row(s) skipped") == summary


def test_rows_that_are_not_utf8_or_not_csv_are_reported_by_line(
        tmp_path: Path, cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "s.sqlite"
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("email,name\nann@example.org,Ann\nzoe@example.org,Zoë\n"
                       "bob@example.org,Bob\nyves@example.org,Yves Lefèvre\n".encode("latin-1"))
    run = cli("subscribers", "import", str(latin1), "--db", str(db))
    assert run.status == 1 and run.err_lines == [
        "error: latin1.csv:3: not UTF-8 text: save the file as UTF-8",
        "error: latin1.csv:5: not UTF-8 text: save the file as UTF-8",
        "error: latin1.csv: 2 bad row(s): nothing was imported (--skip-bad imports the good "
        "rows)"]
    assert not db.exists()
    huge = write(tmp_path / "huge.csv", "email,name\nann@example.org,Ann\n" + "x" * (1 << 21))
    run = cli("subscribers", "import", str(huge), "--skip-bad", "--db", str(db))
    assert (run.status, run.err_lines) == (
        1, ["error: huge.csv:3: a line longer than 1 MiB: not a subscriber CSV"])
    assert not db.exists()


def test_a_csv_in_utf16_or_a_folder_is_said_so(
        tmp_path: Path, cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch) -> None:
    """A CSV saved as UTF-16 (Excel's 'Unicode text') was 'the header row has no email
    column'; a header not UTF-8 likewise; a folder was 'no such file'; a header of another
    separator is shown as read."""
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "s.sqlite"
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes("email,name\nann@example.org,Ann\n".encode("utf-16"))
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("émail\nann@example.org\n".encode("latin-1"))
    semicolons = write(tmp_path / "semi.csv", "name;email\nAnn;ann@example.org\n")
    (tmp_path / "folder.csv").mkdir()
    for name, line in [
            ("utf16.csv", "error: utf16.csv:1: UTF-16 text: save the file as UTF-8"),
            ("latin1.csv", "error: latin1.csv:1: not UTF-8 text: save the file as UTF-8"),
            (semicolons.name, "error: semi.csv:1: the header row has no 'email' column (it "
             "reads 'name;email'): the first row names the columns, separated by commas"),
            ("folder.csv", "error: folder.csv: is a folder, not a CSV file: name the file in "
             "it")]:
        run = cli("subscribers", "import", name, "--db", str(db))
        assert (run.status, run.err_lines) == (1, [line])
    assert not db.exists()


def test_the_csv_is_read_once_so_a_pipe_will_do(tmp_path: Path) -> None:
    """A named pipe can be read only once: an import that read the file twice would wait
    for a second writer that never comes (and the subprocess would time out)."""
    fifo = tmp_path / "readers.csv"
    os.mkfifo(fifo)
    count = 3000
    text = "email,name\n" + "".join(f"reader{i}@example.org,Reader {i}\n" for i in range(count))

    def feed() -> None:
        with fifo.open("w", encoding="utf-8") as out:
            out.write(text)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    db = tmp_path / "s.sqlite"
    try:
        done = subprocess.run([sys.executable, "-m", "publisher", "subscribers", "import",
                               str(fifo), "--db", str(db)], capture_output=True, text=True,
                              timeout=120, check=False)
    finally:
        writer.join(timeout=5)
        if writer.is_alive():  # never opened: let the writer go
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
    assert done.returncode == 0, done.stderr
    assert f"{count} added" in done.stderr
    with closing(sqlite3.connect(db)) as store:
        assert store.execute("SELECT count(*), min(id), max(id) FROM subscribers").fetchone() \
            == (count, 1, count)


@BOTH
def test_a_busy_store_is_one_line_and_changes_nothing(
        tmp_path: Path, store: Path | str, cli: Callable[..., Run],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(subscribers, "BUSY_TIMEOUT", 0.2)  # not 30 s, for the test's sake
    db = store
    first = write(tmp_path / "a.csv", "email,name\na@example.org,A\nb@example.org,B\n")
    assert cli("subscribers", "import", str(first), "--db", str(db)).status == 0
    before = rows(db)
    more = write(tmp_path / "b.csv", "email,name\nc@example.org,C\na@example.org,Ann\n")
    if isinstance(db, Path):
        holder = sqlite3.connect(db, isolation_level=None)  # another process, writing
        holder.execute("BEGIN IMMEDIATE")
        where = "s.sqlite"
    else:  # another process holding the table against writers (readers pass)
        import psycopg

        holder = psycopg.connect(db, autocommit=True)
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE subscribers IN EXCLUSIVE MODE")
        where = store_support.masked(db)
    busy = (f"error: {where}: the subscriber store is busy (a send, an import or the "
            "unsubscribe endpoint is writing to it): nothing was changed; try again in a moment")
    try:
        for argv in (("import", str(more)), ("import", str(more), "--skip-bad"),
                     ("unsubscribe", "b@example.org")):
            run = cli("subscribers", *argv, "--db", str(db))
            assert (run.status, run.err_lines) == (1, [busy]), argv
            assert "Traceback" not in run.err
        # reading is never blocked by a writer (WAL)
        assert cli("subscribers", "count", "--db", str(db)).out == "2\n"
        assert cli("subscribers", "list", "--db", str(db)).status == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert rows(db) == before
    assert cli("subscribers", "import", str(more), "--db", str(db)).status == 0
    assert cli("subscribers", "unsubscribe", "b@example.org", "--db", str(db)).status == 0
    assert rows(db) == [("a@example.org", "Ann", "subscribed"),
                        ("b@example.org", "B", "unsubscribed"),
                        ("c@example.org", "C", "subscribed")]


def _limit_file_size(limit: int) -> Callable[[], None]:
    def apply() -> None:  # in the child: writes past ``limit`` bytes fail (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_store_that_cannot_grow_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    """The store's file may not grow (RLIMIT_FSIZE stands in for a full disk): the import
    fails with one line, exit status 1, and the store is as it was."""
    db = tmp_path / "s.sqlite"
    store = subscribers.connect(db, create=True)
    store.executemany("INSERT INTO subscribers (email, email_key, name, created, changed) "
                      "VALUES (?, ?, '', '', '')",
                      ((f"old{i}@example.org",) * 2 for i in range(100)))
    store.close()
    before = rows(db)
    csv_file = write(tmp_path / "many.csv", "email,name\n" + "".join(
        f"reader{i:05d}@example.org,Reader {i}\n" for i in range(8000)))
    for limit, expected in (
            (64 * 1024, f"error: many.csv: cannot keep the rows read in "
                        f"{tempfile.gettempdir()} (disk I/O error): nothing was changed"),
            (2**20, "error: s.sqlite: the subscriber store failed (disk I/O error): "
                    "nothing was changed")):  # the rows read take 0.6 MB, the store 1.4 MB
        done = subprocess.run([sys.executable, "-m", "publisher", "subscribers", "import",
                               csv_file.name, "--db", db.name], capture_output=True, text=True,
                              timeout=120, check=False, cwd=tmp_path,
                              preexec_fn=_limit_file_size(db.stat().st_size + limit))
        assert (done.returncode, done.stderr) == (1, expected + "\n")
        assert rows(db) == before
    with closing(sqlite3.connect(db)) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_full_disk_is_said_so(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "small.sqlite", isolation_level=None)
    db.execute("CREATE TABLE t (x BLOB)")
    db.execute("PRAGMA max_page_count = 4")  # SQLite's own "database or disk is full"
    with pytest.raises(sqlite3.OperationalError) as caught:
        db.execute("INSERT INTO t VALUES (zeroblob(100000))")
    db.close()
    with pytest.raises(PublisherError) as error, subscribers.store_errors(tmp_path / "s"):
        raise caught.value
    assert str(error.value) == (f"{tmp_path / 's'}: the disk is full: nothing was changed; "
                                "free some space and try again")


# -- tokens -------------------------------------------------------------------------

def test_tokens_verify_only_their_address_list_and_secret() -> None:
    token = tokens.make_token("Ann@example.org", "korea", SECRET)
    assert tokens.verify("ann@EXAMPLE.org", "korea", token, SECRET)
    assert not tokens.verify("bob@example.org", "korea", token, SECRET)
    assert not tokens.verify("ann@example.org", "other", token, SECRET)
    assert not tokens.verify("ann@example.org", "korea", token, b"another-secret-xxxx")
    assert not tokens.verify("ann@example.org", "korea", token[:-1] + "A"
                             if token[-1] != "A" else token[:-1] + "B", SECRET)
    assert not tokens.verify("ann@example.org", "korea", "", SECRET)


def test_unsubscribe_url_is_built_in_one_place() -> None:
    url = tokens.unsubscribe_url(PUB, "a+b@example.org", SECRET)
    token = tokens.make_token("a+b@example.org", "korea", SECRET)
    assert url == ("https://webzine.example.org/korea/unsubscribe?"
                   f"address=a%2Bb%40example.org&token={token}")
    assert tokens.list_id(PUB) == "korea"


def test_secret_comes_from_the_environment() -> None:
    with pytest.raises(Exception, match="PUBLISHER_SECRET is not set"):
        tokens.secret_from_env({})
    with pytest.raises(Exception, match="too short"):
        tokens.secret_from_env({"PUBLISHER_SECRET": "short"})
    assert tokens.secret_from_env({"PUBLISHER_SECRET": "x" * 20}) == b"x" * 20


# -- personalisation ----------------------------------------------------------------

def recipient(email: str, name: str) -> Recipient:
    return Recipient(email=email, name=name,
                     unsubscribe_url=tokens.unsubscribe_url(PUB, email, SECRET),
                     unsubscribe_mailto=tokens.unsubscribe_mailto(PUB, email, SECRET),
                     message_id=message_id("2023-08", email.casefold(), "korea",
                                           "webzine.example.org"))


def expected(text: str, r: Recipient, *, html: bool) -> str:
    values = r.values(for_html=html)
    for key, value in values.items():
        text = text.replace(key, value)
    return text.replace("\r\n", "\n")


@pytest.mark.parametrize("padding", [0, 3, 200])
@pytest.mark.parametrize("name", ["", "Ann", "Kim & <Lee> \"the\" 김민수", "O'Brien, Jr.",
                                  "x" * 200])
def test_personalised_message_is_the_template_with_the_values(padding: int,
                                                              name: str) -> None:
    eml = fake_eml(padding=padding)
    template = Template(eml)
    r = recipient("a.b+c@example.org", name)
    data = template.render(r)
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    head, _, body = data.partition(b"\r\n\r\n")
    assert max(len(line) for line in head.split(b"\r\n")) <= 998  # a URL cannot be folded
    assert max(len(line) for line in body.split(b"\r\n")) <= 78
    assert data.isascii()
    msg, original = parse(data), parse(eml)
    assert msg.defects == [] and all(not p.defects for p in msg.walk())
    assert msg["To"].addresses[0].addr_spec == "a.b+c@example.org"
    assert msg["To"].addresses[0].display_name == name
    assert msg["Message-ID"] == r.message_id
    assert msg["Date"] == original["Date"] == template.date
    for header in ("To", "Message-ID", "Date", "Subject", "From", "List-Unsubscribe"):
        assert len(msg.get_all(header)) == 1
    assert str(msg["Subject"]) == str(original["Subject"])
    assert msg["List-Unsubscribe"] == f"<{r.unsubscribe_mailto}>, <{r.unsubscribe_url}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [p.get_content_type() for p in msg.walk()] == \
        [p.get_content_type() for p in original.walk()]
    text, page = bodies(msg)
    text0, page0 = bodies(original)
    assert text.replace("\r\n", "\n") == expected(text0, r, html=False)
    assert page.replace("\r\n", "\n") == expected(page0, r, html=True)
    assert f"Dear {name or 'reader'}," in text
    image = next(p for p in msg.walk() if p.get_content_type() == "image/png")
    assert image.get_content() == next(p for p in original.walk()
                                       if p.get_content_type() == "image/png").get_content()
    assert not any(p in data.decode() for p in placeholders.ALL)


@settings(max_examples=60, deadline=None)
@given(name=st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl",
                                                                  "Zp")), max_size=60))
def test_any_accepted_name_round_trips(name: str) -> None:
    name = subscribers.check_name(name)
    r = recipient("someone@example.org", name)
    msg = parse(TEMPLATE.render(r))
    assert msg["To"].addresses[0].display_name == name
    assert msg["To"].addresses[0].addr_spec == "someone@example.org"
    text, page = bodies(msg)
    assert f"Dear {name or 'reader'}," in text
    assert expected(bodies(parse(EML))[1], r, html=True) == page.replace("\r\n", "\n")


EML = fake_eml(padding=5)
TEMPLATE = Template(EML)


def test_message_id_is_deterministic_per_issue_and_subscriber() -> None:
    a = message_id("2023-08", "ann@example.org", "korea", "webzine.example.org")
    assert a == message_id("2023-08", "ann@example.org", "korea", "webzine.example.org")
    assert a != message_id("2023-09", "ann@example.org", "korea", "webzine.example.org")
    assert a != message_id("2023-08", "bob@example.org", "korea", "webzine.example.org")
    assert a.startswith("<2023-08.") and a.endswith("@webzine.example.org>")


def test_not_an_email_is_refused() -> None:
    with pytest.raises(Exception, match="not a finished email message"):
        Template(b"hello\n")


def test_wire_form_is_the_message_dot_stuffed() -> None:
    r = recipient("dot@example.org", "Dot")
    plain, wire = TEMPLATE.render(r), TEMPLATE.render(r, wire=True)
    assert b"\r\n.A line that starts with a dot." in plain
    assert wire == dot_stuff(plain) != plain


def test_an_email_without_personal_unsubscribe_link_is_refused() -> None:
    with pytest.raises(Exception, match="no personal unsubscribe link"):
        Template(fake_eml(link="https://webzine.example.org/korea/unsubscribe"))
    with pytest.raises(Exception, match="no personal List-Unsubscribe header"):
        Template(fake_eml(list_unsubscribe=False))


@settings(max_examples=300, deadline=None)
@given(layout=st.lists(st.one_of(st.sampled_from(placeholders.ALL),
                                 st.text(alphabet="ab한\n", max_size=5)), max_size=8),
       values=st.lists(st.text(alphabet="xy김&<", max_size=7), min_size=len(placeholders.ALL),
                     max_size=len(placeholders.ALL)))
def test_base64_part_splices_any_lengths(layout: list[str], values: list[str]) -> None:
    import base64

    from publisher.deliver.personalise import _Base64Part
    text = "".join(layout)
    mapping = dict(zip(placeholders.ALL, values, strict=True))
    encoded = _Base64Part(text, html=False).encode(mapping)
    expected_text = text
    for key, value in mapping.items():
        expected_text = expected_text.replace(key, value)
    assert base64.b64decode(encoded) == expected_text.encode("utf-8")
    lines = encoded.split(b"\r\n")
    assert lines[-1] == b"" and all(0 < len(line) <= 76 for line in lines[:-1])
    assert b"=" not in encoded.rstrip(b"=\r\n")  # padding only at the very end


def test_an_8bit_text_part_is_sent_as_quoted_printable() -> None:
    eml = fake_eml(text_cte="8bit")
    assert not eml.isascii()
    template = Template(eml)
    r = recipient("ann@example.org", "김민수")
    data = template.render(r)
    assert data.isascii() and not template.eight_bit
    msg = parse(data)
    text = msg.get_body(("plain",))
    assert text is not None and text["Content-Transfer-Encoding"] == "quoted-printable"
    assert text.get_content().replace("\r\n", "\n") == expected(bodies(parse(eml))[0], r,
                                                                  html=False)
