"""Fault injection: ``publisher send`` against a real SMTP server (aiosmtpd) that
misbehaves on script, a store that is busy or full, and signals and SIGKILLs.

For each fault the tests check, per address, the README's guarantee: received
exactly once; or not at all and left deferred, failed or pending for a later run;
or handed over with no reply and then listed in doubt by ``--status`` (never
sent again unless ``--resend-in-doubt``, which adds at most one copy); and the
connections and tries bounded, one error line, the documented exit status, no
traceback.  ``PUBLISHER_FAULTS_LONG=1`` runs many more random mixes.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import store_support
from conftest import Run
from fault_support import Faulty
from publisher.build.builder import Paths
from send_support import fake_eml, free_port, smtp_server

MONTH = "2023-08"
SECRET = "test-secret-do-not-use-0123456789"
LONG = os.environ.get("PUBLISHER_FAULTS_LONG") == "1"
RETRIES = 5  # PUBLISHER_SMTP_RETRIES's default
RECONNECTS = 20  # SmtpSettings.reconnects: per connection and run
IN_DOUBT = ("error: 1 message(s) in doubt (the connection was lost after the server had "
            "them): 'publisher send 2023-08 --status' lists them, --resend-in-doubt sends "
            "them again")


@dataclass
class Room:
    """A project with a built email, a store of subscribers, the SMTP environment."""

    paths: Paths
    db: Path | str  # an SQLite file, or a PostgreSQL URL (store_support.BOTH)
    addresses: list[str]
    cli: Callable[..., Run]
    env: dict[str, str]
    runs: list[Run] = field(default_factory=list)

    def send(self, *args: str, port: int) -> Run:
        os.environ["PUBLISHER_SMTP_PORT"] = str(port)
        run = self.cli("send", MONTH, "--db", str(self.db), *args, paths=self.paths)
        self.runs.append(run)
        return run

    def argv(self, *args: str, db: Path | None = None) -> list[str]:
        return [sys.executable, "-m", "publisher", "send", MONTH, "--db", str(db or self.db),
                "--issues", str(self.paths.issues), "--dist", str(self.paths.dist), *args]

    def spawn(self, *args: str, port: int, db: Path | None = None,
              **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args, db=db), text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE,
                                env={**self.env, "PUBLISHER_SMTP_PORT": str(port), **env})

    def ledger(self) -> dict[str, tuple[str, int, int]]:
        """address -> (state, in_doubt, attempts)."""
        return {row[0]: row[1:] for row in store_support.rows(
            self.db, "SELECT email, state, in_doubt, attempts FROM deliveries WHERE issue = ?",
            (MONTH,))}

    def states(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for address, (state, *_) in self.ledger().items():
            found.setdefault(state, set()).add(address)
        return found

    def status(self) -> str:
        run = self.cli("send", MONTH, "--status", "--db", str(self.db), paths=self.paths)
        assert run.status == 0, run.err
        return run.out

    def unsubscribe(self, address: str) -> None:
        run = self.cli("subscribers", "unsubscribe", address, "--db", str(self.db))
        assert run.status == 0, run.err


def make_store(db: Path | str, addresses: list[str], csv_file: Path | None = None) -> None:
    from publisher.deliver import csv_import
    csv_file = csv_file or Path(db).with_suffix(".csv")
    csv_file.write_text("email,name\n" + "".join(f"{a},Reader {i}\n"
                                                 for i, a in enumerate(addresses)))
    csv_import.import_csv(csv_file, db)


@pytest.fixture
def room(project_copy: Paths, tmp_path: Path, cli: Callable[..., Run],
         monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Room]:
    eml = project_copy.dist / MONTH / "email.eml"
    eml.parent.mkdir(parents=True)
    eml.write_bytes(fake_eml(padding=4))
    addresses = [f"reader{i:04d}@example.org" for i in range(200)]
    db = store_support.target(request, tmp_path / "subscribers.sqlite")
    make_store(db, addresses, tmp_path / "subscribers.csv")
    for key in [k for k in os.environ if k.startswith("PUBLISHER_")]:
        monkeypatch.delenv(key)
    settings = {"PUBLISHER_SMTP_HOST": "127.0.0.1", "PUBLISHER_SMTP_TLS": "none",
                "PUBLISHER_SECRET": SECRET, "PUBLISHER_SMTP_BACKOFF": "0.001"}
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PUBLISHER_SMTP_PORT", "0")  # each send sets it
    monkeypatch.chdir(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    yield Room(project_copy, db, addresses, cli, env)


def one_error(run: Run | tuple[int, str], status: int, start: str = "") -> str:
    """The run ended with ``status``, one error line (starting with ``start``), no
    traceback; that line."""
    code, err = (run.status, run.err) if isinstance(run, Run) else run
    assert code == status, err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert errors[0].startswith(f"error: {start}"), err
    return errors[0]


def in_doubt_listed(room: Room) -> dict[str, str]:
    """address -> its '--status' line, for every address listed in doubt."""
    return {line.split()[2]: line for line in room.status().splitlines()
            if line.startswith("in doubt  ")}


def assert_guarantee(room: Room, server: Faulty, *, resends: int = 0) -> None:
    """Per address: at most one copy (plus one per --resend-in-doubt run), more than one
    only if listed in doubt with as many possible; each row's state agrees."""
    counts = server.per_rcpt()
    ledger = room.ledger()
    listed = in_doubt_listed(room)
    for address in room.addresses:
        state, doubt, _ = ledger.get(address, ("none", 0, 0))
        copies = counts.get(address, 0)
        assert copies <= 1 + resends, (address, copies)
        if state == "sent":
            assert copies >= 1, address
        if state in ("pending", "deferred", "failed") and not doubt:
            assert copies == 0, (address, state)
        if copies > 1 or state == "doubt":
            assert doubt >= 1 and address in listed, (address, copies, state)
            most = int(listed[address].split(" copies")[0].split(" copy")[0].split()[-1])
            assert copies <= most, (address, listed[address])


# -- one fault at a time -------------------------------------------------------------

@pytest.mark.parametrize("room", store_support.BOTH, indirect=True)
def test_a_drop_after_the_data_sends_once_and_leaves_the_address_in_doubt(
        room: Room) -> None:
    """The 5,307 copies: the server keeps the message, then drops the line, every time."""
    victim = room.addresses[17]
    server = Faulty(always={victim: "keep-drop"})
    with smtp_server(server) as port:
        run = room.send(port=port)
        assert one_error(run, 1) == IN_DOUBT
        assert server.per_rcpt()[victim] == 1 and server.tries[victim] == 1
        assert server.connections == 2  # one reconnect, no more
        assert server.per_rcpt() == {a: 1 for a in room.addresses}
        assert room.ledger()[victim][:2] == ("doubt", 1)
        line = in_doubt_listed(room)[victim]
        assert line.endswith("not confirmed: 0 or 1 copy, at most 0 extra (1 hand-over(s) "
                             "with no reply)")
        rerun = room.send(port=port)  # nothing more to send; the doubt is left alone
        assert rerun.status == 0 and "Traceback" not in rerun.err
        assert "1 message(s) in doubt from an earlier run are not sent again" in rerun.err
        retry = room.send("--retry-failed", port=port)  # the 177 copies: not a failure
        assert retry.status == 0
        assert server.per_rcpt()[victim] == 1
        server.heal()
        resend = room.send("--resend-in-doubt", port=port)  # the operator's decision
        assert resend.status == 0, resend.err
    assert server.per_rcpt()[victim] == 2
    assert room.ledger()[victim][:2] == ("sent", 1)
    assert in_doubt_listed(room)[victim].endswith(
        "sent: 1 or 2 copies, at most 1 extra (1 hand-over(s) with no reply)")
    assert_guarantee(room, server, resends=1)


@pytest.mark.parametrize("room", store_support.BOTH, indirect=True)
def test_a_second_doubt_is_counted_in_the_copies_status_gives(room: Room) -> None:
    victim = room.addresses[3]
    server = Faulty(always={victim: "keep-drop"})
    with smtp_server(server) as port:
        room.send(port=port)
        room.send("--resend-in-doubt", port=port)
    assert server.per_rcpt()[victim] == 2 and room.ledger()[victim][:2] == ("doubt", 2)
    assert in_doubt_listed(room)[victim].endswith(
        "not confirmed: 0 to 2 copies, at most 1 extra (2 hand-over(s) with no reply)")
    assert_guarantee(room, server, resends=1)


@pytest.mark.parametrize("fault", ["rcpt:421 4.7.0 too busy, come back later",
                                   "data:421 4.3.2 shutting down",
                                   "rcpt:451 4.2.1 mailbox busy",
                                   "data:452 4.3.1 insufficient storage"])
@pytest.mark.parametrize("room", store_support.BOTH, indirect=True)
def test_a_temporary_reply_is_tried_a_bounded_number_of_times_then_deferred(
        room: Room, fault: str) -> None:
    """The 7,524 reconnects: a 421 at RCPT is a temporary reply, with backoff."""
    victim = room.addresses[50]
    server = Faulty(always={victim: fault})
    with smtp_server(server) as port:
        run = room.send(port=port)
        assert one_error(run, 1) == ("error: 1 message(s) deferred: run 'publisher send "
                                     "2023-08' again later")
        assert server.tries[victim] == RETRIES
        closes = fault[5:].startswith("421")
        assert server.connections == 1 + (RETRIES if closes else 0)
        assert room.ledger()[victim] == ("deferred", 0, RETRIES)
        assert f"deferred after {RETRIES} tries: {fault[5:]}" in run.err
        server.heal()
        again = room.send(port=port)
        assert again.status == 0, again.err
    assert server.per_rcpt() == {a: 1 for a in room.addresses}
    assert_guarantee(room, server)


def test_a_login_refusal_after_the_dot_marks_that_message_failed(room: Room) -> None:
    """A 530 (or 550 5.7.0 ... auth) to the dot: the server refused the message, so it is
    failed (not left handed, then in doubt), the send stops saying the server needs a
    login, and nothing else is lost."""
    victim = room.addresses[50]
    server = Faulty(always={victim: "data:550 5.7.0 Authentication required"})
    with smtp_server(server) as port:
        run = room.send(port=port)
        assert run.status == 1 and "Traceback" not in run.err
        assert "needs a login" in run.err and "could not be recorded" not in run.err
        assert room.ledger()[victim][:2] == ("failed", 0)
        assert "handed" not in room.states() and "doubt" not in room.states()
        server.heal()
        again = room.send(port=port)
        assert again.status == 0, again.err
        retried = room.send("--retry-failed", port=port)
        assert retried.status == 0, retried.err
    assert server.per_rcpt() == {a: 1 for a in room.addresses}
    assert_guarantee(room, server)


def test_421_at_mail_is_waited_out(room: Room) -> None:
    server = Faulty(mail=["421 4.7.0 slow down"] * 3)
    with smtp_server(server) as port:
        run = room.send(port=port)
    assert run.status == 0, run.err
    assert server.per_rcpt() == {a: 1 for a in room.addresses}
    assert server.connections == 4
    assert_guarantee(room, server)


def test_a_server_refusing_everything_stops_the_run_after_a_bounded_number_of_tries(
        room: Room) -> None:
    server = Faulty(always={a: "rcpt:421 4.7.0 go away" for a in room.addresses})
    with smtp_server(server) as port:
        run = room.send("--connections", "2", port=port)
        error = one_error(run, 1, f"the SMTP server 127.0.0.1:{port} failed ")
        assert error.endswith("(last: 421 4.7.0 go away); run 'publisher send 2023-08' "
                              "again to send the rest")
        assert sum(server.tries.values()) <= RETRIES + 1  # one more in flight on the other
        assert server.connections <= 2 + RETRIES + 1
        assert not server.received
        states = room.states()
        assert set(states) <= {"pending", "deferred"}
        server.heal()
        assert room.send("--connections", "2", port=port).status == 0
    assert server.per_rcpt() == {a: 1 for a in room.addresses}


@pytest.mark.parametrize("room", store_support.BOTH, indirect=True)
def test_permanent_and_temporary_replies_per_address(room: Room) -> None:
    refused, busy = room.addresses[10], room.addresses[11]
    server = Faulty(always={refused: "rcpt:550 5.1.1 no such user",
                            busy: "rcpt:450 4.2.0 greylisted"},
                    once={room.addresses[12]: ["data:451 4.3.0 later"] * 2})
    with smtp_server(server) as port:
        run = room.send("--connections", "3", port=port)
    one_error(run, 1, "1 message(s) deferred")
    assert server.tries[refused] == 1 and server.tries[busy] == RETRIES
    assert server.tries[room.addresses[12]] == 3
    assert room.ledger()[refused][0] == "failed" and room.ledger()[busy][0] == "deferred"
    assert server.per_rcpt() == {a: 1 for a in room.addresses if a not in (refused, busy)}
    assert server.connections == 3
    assert_guarantee(room, server)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_a_server_that_wants_a_login_says_so(room: Room) -> None:
    server = Faulty()
    with smtp_server(server, user="publisher", password="secret") as port:
        run = room.send(port=port)
    assert one_error(run, 1) == (
        f"error: the SMTP server 127.0.0.1:{port} needs a login (530 5.7.0 Authentication "
        "required): set PUBLISHER_SMTP_USER and PUBLISHER_SMTP_PASSWORD; nothing was sent")
    assert not server.received
    assert set(room.states()) == {"pending"}


def test_a_refused_connection_is_one_line(room: Room) -> None:
    run = room.send(port=free_port())
    line = one_error(run, 1, "cannot reach the SMTP server 127.0.0.1:")
    assert line.endswith(": Connection refused; nothing was sent")


def test_a_server_slower_than_the_timeout_puts_few_in_doubt(room: Room) -> None:
    server = Faulty(delay=1.0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PUBLISHER_SMTP_TIMEOUT", "0.2")
        patch.setenv("PUBLISHER_SMTP_RETRIES", "2")
        with smtp_server(server) as port:
            run = room.send(port=port)
            one_error(run, 1, f"the SMTP server 127.0.0.1:{port} failed 2 times in a row")
            time.sleep(1.2)  # let the server finish what it was given (the test's own wait)
    doubt = room.states()["doubt"]
    assert len(doubt) == 2 and set(server.per_rcpt()) <= doubt
    assert_guarantee(room, server)


# -- the store -----------------------------------------------------------------------

def test_two_sends_through_a_symlink_one_refuses(room: Room) -> None:
    """The 998 doubles: the send locks the file itself, not the path as typed."""
    link = room.db.with_name("link.sqlite")
    link.symlink_to(room.db.name)
    _a_second_send_through(room, link, shown=room.db.name)


def _a_second_send_through(room: Room, other: Path, shown: str) -> None:
    """While one send runs, a second one on the store's ``other`` name refuses in one
    line (naming ``shown`` and the first's process); the first sends everyone once."""
    server = Faulty(delay=0.01)
    with smtp_server(server) as port:
        first = room.spawn(port=port)
        while len(server.received) < 5 and first.poll() is None:
            time.sleep(0.01)
        second = room.spawn(port=port, db=other)
        _, err = second.communicate(timeout=60)
        assert one_error((second.returncode, err), 1) == (
            f"error: {shown}: another send is using this subscriber store (process "
            f"{first.pid} on this host): wait for it to end, or stop it")
        server.delay = 0.0  # refused while the first ran: the first may finish at once
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert server.per_rcpt() == {a: 1 for a in room.addresses}


@pytest.mark.parametrize("room", store_support.BOTH, indirect=True)
def test_an_address_unsubscribed_during_the_send_is_not_mailed(room: Room) -> None:
    late = room.addresses[190]
    server = Faulty(delay=0.01)
    with smtp_server(server) as port:
        proc = room.spawn(port=port)
        while len(server.received) < 10 and proc.poll() is None:
            time.sleep(0.01)
        room.unsubscribe(late)  # the sender fetched its batch long before
        server.delay = 0.0  # (the rest need not take 10 ms each)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert f"{late}: unsubscribed during the send: not mailed" in err
    assert late not in server.per_rcpt()
    assert server.per_rcpt() == {a: 1 for a in room.addresses if a != late}


@contextlib.contextmanager
def write_lock(db: Path, seconds: float) -> Iterator[threading.Thread]:
    """Hold the store's write lock for ``seconds`` from another connection."""
    ready = threading.Event()

    def hold() -> None:
        with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
            conn.execute("BEGIN IMMEDIATE")
            ready.set()
            time.sleep(seconds)
            conn.execute("COMMIT")

    holder = threading.Thread(target=hold)
    holder.start()
    ready.wait()
    try:
        yield holder
    finally:
        holder.join()


def test_a_store_busy_for_a_while_is_waited_for(room: Room) -> None:
    server = Faulty(delay=0.005)
    with smtp_server(server) as port:
        proc = room.spawn(port=port, PUBLISHER_STORE_TIMEOUT="30")
        while len(server.received) < 20 and proc.poll() is None:
            time.sleep(0.005)
        with write_lock(room.db, 2.0):
            pass
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert server.per_rcpt() == {a: 1 for a in room.addresses}


@pytest.mark.parametrize("hold", [1.5, 4.0])
def test_a_store_busy_for_too_long_stops_the_send_cleanly(room: Room, hold: float) -> None:
    """The raw OperationalError: one line, exit 1; nothing sent twice or lost."""
    server = Faulty(delay=0.005)
    with smtp_server(server) as port:
        proc = room.spawn("--connections", "2", port=port, PUBLISHER_STORE_TIMEOUT="1")
        while len(server.received) < 20 and proc.poll() is None:
            time.sleep(0.005)
        with write_lock(room.db, hold):
            _, err = proc.communicate(timeout=120)
        line = one_error((proc.returncode, err), 1, "subscribers.sqlite: the subscriber "
                         "store is busy: another process has held its write lock for over 1 s")
        assert line.endswith("run 'publisher send 2023-08' again to send the rest")
        states = room.states()
        if hold < 2:  # the lock is gone before the sender records what it sent
            assert "sending" not in states and "handed" not in states, err
            assert states["sent"] == set(server.per_rcpt())
        received = len(server.received)
        run = room.send("--connections", "2", port=port)
        assert run.status in (0, 1) and "Traceback" not in run.err
    assert received < len(room.addresses)  # the send stopped, then the rerun finished it
    assert set(room.states()) <= {"sent", "doubt"}
    assert set(room.addresses) - room.states().get("doubt", set()) <= set(server.per_rcpt())
    assert_guarantee(room, server)


def test_a_store_busy_at_the_start_is_one_line(room: Room,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISHER_STORE_TIMEOUT", "0.3")
    server = Faulty()
    with smtp_server(server) as port, write_lock(room.db, 1.5):
        run = room.send(port=port)
    assert one_error(run, 1) == ("error: subscribers.sqlite: the subscriber store is busy: "
                                 "another process has held its write lock for over 0.3 s")
    assert not server.received and server.connections == 0


def _small_filesystem(where: Path) -> bool:
    """Mount a 16 MB tmpfs at ``where`` (root only); False where that cannot be done."""
    where.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(where)],
                          capture_output=True)
    return done.returncode == 0


def _fill(folder: Path, leave: int) -> Path:
    """Fill the filesystem of ``folder`` but ``leave`` bytes."""
    filler = folder / "filler"
    st = os.statvfs(folder)
    filler.write_bytes(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
    return filler


def test_a_full_disk_stops_the_send_in_one_line(room: Room, tmp_path: Path) -> None:
    small = tmp_path / "small"
    real = _small_filesystem(small)
    try:
        shutil.copy(room.db, small / "subscribers.sqlite")
        room.db = small / "subscribers.sqlite"
        server = Faulty()
        with smtp_server(server) as port:
            if real:  # a real full disk: the store's writes fail with SQLITE_FULL
                with contextlib.closing(sqlite3.connect(room.db)) as db:
                    db.execute("PRAGMA journal_mode=WAL")
                filler = _fill(small, 256 * 1024)
            with pytest.MonkeyPatch.context() as patch:
                if not real:  # no tmpfs here: the store's commits fail as on a full disk
                    filler = None
                    _commits_fail_after(patch, 60)
                run = room.send(port=port)
            assert one_error(run, 1, "small/subscribers.sqlite: the disk of the subscriber "
                             "store is full").endswith(
                "run 'publisher send 2023-08' again to send the rest"), run.err
            received = len(server.received)
            if filler is not None:
                filler.unlink()
            rerun = room.send(port=port)
        assert rerun.status == 0, rerun.err
        assert 0 < received < len(room.addresses)
        assert set(room.states()) <= {"sent", "doubt"}
        assert_guarantee(room, server)
        assert set(room.addresses) - room.states().get("doubt", set()) <= set(
            server.per_rcpt())
    finally:
        if real:
            subprocess.run(["umount", "-l", str(small)], check=False)


class _FullDisk:
    """A store connection whose commits fail, after ``after`` of them, as on a full disk."""

    commits = 0

    def __init__(self, db: sqlite3.Connection, after: int):
        self._db, self._after = db, after

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql == "COMMIT":
            type(self).commits += 1
            if type(self).commits > self._after:
                error = sqlite3.OperationalError("database or disk is full")
                error.sqlite_errorcode, error.sqlite_errorname = sqlite3.SQLITE_FULL, "SQLITE_FULL"
                raise error
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._db, name)


def _commits_fail_after(monkeypatch: pytest.MonkeyPatch, after: int) -> None:
    from publisher.deliver import subscribers

    real = subscribers.connect
    _FullDisk.commits = 0
    monkeypatch.setattr(subscribers, "connect", lambda path, **kw: _FullDisk(
        real(path, **kw), after))


# -- signals -------------------------------------------------------------------------

@pytest.mark.parametrize(("room", "signum"), [("sqlite", signal.SIGTERM),
                                             ("sqlite", signal.SIGINT),
                                             ("postgres", signal.SIGTERM)], indirect=["room"])
def test_a_signal_stops_after_the_messages_in_flight(room: Room, signum: int) -> None:
    server = Faulty(delay=0.02)
    with smtp_server(server) as port:
        proc = room.spawn("--connections", "3", port=port)
        while len(server.received) < 20 and proc.poll() is None:
            time.sleep(0.005)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
        line = one_error((proc.returncode, err), 128 + signum,
                         f"stopped by {signal.Signals(signum).name} after the messages in "
                         "flight: ")
        sent, left = map(int, re.findall(r"(\d+) sent, (\d+) left", line)[0])
        assert line.endswith("; run 'publisher send 2023-08' again to send the rest")
        states = room.states()
        assert set(states) <= {"sent", "pending"}  # nothing left in flight or in doubt
        assert len(states["sent"]) == sent == len(server.received)
        assert len(states["pending"]) == left > 0
        server.delay = 0.0  # the rerun need not be slow
        run = room.send("--connections", "3", port=port)
        assert run.status == 0, run.err
    assert server.per_rcpt() == {a: 1 for a in room.addresses}


def test_a_second_signal_does_not_wait_for_a_stuck_server(room: Room) -> None:
    server = Faulty(delay=30.0)  # takes each message, then sits on its reply
    with smtp_server(server) as port:
        proc = room.spawn("--connections", "2", port=port)
        while len(room.states().get("handed", ())) < 2 and proc.poll() is None:
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        assert proc.poll() is None  # the first waits for the messages in flight
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        line = one_error((proc.returncode, err), 143, "stopped by SIGTERM")
        assert "0 sent, 198 left; 2 message(s) in doubt" in line
        assert room.states()["doubt"] == set(room.addresses[:2])
        assert room.states()["pending"] == set(room.addresses[2:])


# -- random mixes ----------------------------------------------------------------------

FAULTS = ["keep-drop", "drop", "rcpt:421 4.7.0 busy", "data:421 4.3.2 closing",
          "rcpt:451 4.2.1 busy", "data:452 4.3.1 full", "rcpt:550 5.1.1 unknown"]


@pytest.mark.parametrize("seed", range(30 if LONG else 3))
def test_a_random_mix_of_faults_and_kills(room: Room, tmp_path: Path, seed: int) -> None:
    """Faults on a seeded random set of addresses, the sender killed (SIGKILL) or stopped
    (SIGTERM) at random moments, run again until it is done: the guarantee holds."""
    rng = random.Random(seed)
    addresses = room.addresses[:120]
    make_store(tmp_path / "mix.sqlite", addresses)
    room.db, room.addresses = tmp_path / "mix.sqlite", addresses
    once: dict[str, list[str]] = {}
    always: dict[str, str] = {}
    for address in rng.sample(addresses, 24):
        fault = rng.choice(FAULTS)
        if fault.startswith("rcpt:550") or rng.random() < 0.2:
            always[address] = fault
        else:
            once[address] = [fault] * rng.randint(1, 3)
    server = Faulty(once={a: list(f) for a, f in once.items()}, always=dict(always),
                    delay=0.002)
    connections = rng.randint(1, 3)
    with smtp_server(server) as port:
        for _ in range(rng.randint(2, 4)):
            before_conn, before_tries = server.connections, server.tries.copy()
            proc = room.spawn("--connections", str(connections), port=port)
            target = rng.randint(0, len(addresses))
            while len(server.received) < target and proc.poll() is None:
                time.sleep(0.002)
            how = rng.choice([signal.SIGKILL, signal.SIGTERM, None])
            if how is not None and proc.poll() is None:
                proc.send_signal(how)
            _, err = proc.communicate(timeout=120)
            assert "Traceback" not in err, err
            # SIGTERM before the command has begun (Python starting): gone, nothing done
            assert proc.returncode in (0, 1, 143, -signal.SIGKILL) or (
                proc.returncode == -signal.SIGTERM and not err), err
            if proc.returncode in (1, 143):
                one_error((proc.returncode, err), proc.returncode)
            assert server.connections - before_conn <= connections * (1 + RECONNECTS)
            assert all(n - before_tries[a] <= RETRIES for a, n in server.tries.items())
        server.heal()
        run = room.send("--connections", str(connections), port=port)
    assert run.status == 0, run.err
    final = room.ledger()
    for address in addresses:
        refused = always.get(address, "").startswith("rcpt:550") or (
            once.get(address, [""])[0].startswith("rcpt:550"))
        # (a refused address that no run reached before the server healed is sent)
        assert final[address][0] in (("failed", "sent") if refused else ("sent", "doubt")), (
            address, once.get(address), always.get(address), room.status())
    assert_guarantee(room, server)


def test_a_ledger_from_the_earlier_version_is_brought_up_to_date(room: Room) -> None:
    """A store whose ledger has the five states of before (no 'handed', 'doubt', owner),
    made before migrations (no version table): the first migration converts it."""
    with contextlib.closing(sqlite3.connect(room.db, isolation_level=None)) as db:
        db.executescript("DROP TABLE deliveries; DROP TABLE send_leases; DROP TABLE send_runs; "
                         "DROP TABLE schema_migrations;" + store_support.FIRST_LEDGER)
        # stopped after the 50th message, the 51st 'sending'; the 7th and 60th in doubt
        store_support.old_ledger_rows(db, sent=50, doubt=(7, 60))
    # converted when first opened (here by --status): the 'sending' row as handed over, the
    # pending row with a hand-over in doubt as in doubt
    assert room.status().splitlines()[0] == (
        "2023-08: 148 pending, 1 sending, 50 sent, 0 deferred, 0 failed, 1 in doubt")
    server = Faulty()
    with smtp_server(server) as port:
        run = room.send(port=port)
    assert run.status == 0, run.err
    # the earlier version's 'sending' may have been handed over: in doubt, not sent again;
    # and a row it had put back to pending after a hand-over in doubt stays in doubt
    assert "1 message(s) had been handed to the server when an earlier send stopped" in run.err
    doubts = {room.addresses[50], room.addresses[59]}
    assert set(server.per_rcpt()) == set(room.addresses[51:]) - doubts
    ledger = room.ledger()
    assert room.states() == {"sent": set(room.addresses) - doubts, "doubt": doubts}
    assert ledger[room.addresses[6]] == ("sent", 1, 1)
    assert server.message_ids()[room.addresses[51]] == {"<52@old>"}


def test_a_lease_is_free_once_its_holder_is_gone_or_silent(room: Room) -> None:
    from publisher.deliver import lease, subscribers
    from publisher.errors import PublisherError

    with contextlib.closing(subscribers.connect(room.db)) as db:
        elsewhere = lease.Lease(MONTH, host="elsewhere.example", pid=1)
        assert elsewhere.acquire(db) is None
        with pytest.raises(PublisherError, match=r"already running \(process 1 on "
                           r"elsewhere\.example, since .*\): wait for it to end"):
            lease.Lease(MONTH).acquire(db)
        assert lease.Lease("2023-09").acquire(db) is None  # another mailing: its own lease
        db.execute("UPDATE send_leases SET expires = 0 WHERE host = 'elsewhere.example'")
        mine = lease.Lease(MONTH)
        assert mine.acquire(db) is not None  # not renewed: taken over
        assert not elsewhere.renew(db) and mine.renew(db)  # the old holder knows it lost it
        mine.release(db)
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        dead = lease.Lease(MONTH, pid=gone.pid)
        dead.acquire(db)
        lease._HELD.discard(dead.owner)
        assert lease.Lease(MONTH).acquire(db) is not None  # its process is gone: taken over


@contextlib.contextmanager
def _leased_ledger(room: Room) -> Iterator[Any]:
    """The room's ledger of MONTH, prepared, under a lease this test holds (released at
    the end of the block)."""
    from publisher.deliver import lease, ledger, subscribers

    with contextlib.closing(subscribers.connect(room.db)) as db:
        mine = lease.Lease(MONTH)
        mine.acquire(db)
        book = ledger.Ledger(db, MONTH, mine.owner)
        book.prepare(lambda key: f"<{key}>")
        yield book
        mine.release(db)


@pytest.mark.parametrize("room", store_support.BOTH, indirect=True)
def test_a_row_moves_only_along_the_machine_and_only_for_its_claimer(room: Room) -> None:
    from publisher.deliver import ledger

    with _leased_ledger(room) as book:
        db = book.db
        other = ledger.Ledger(db, MONTH, "someone-else")
        assert other.claim(1) == "lease"  # no lease, no claim
        assert book.claim(1) == ledger.SENDING
        assert book.claim(1) == "gone"  # claimed once only
        with pytest.raises(ledger.Conflict):
            other.hand_over(1)
        with pytest.raises(ValueError, match="no move from sending to sent"):
            book.record(ledger.Outcome(1, ledger.SENDING, ledger.SENT))
        book.hand_over(1)
        book.record(ledger.Outcome(1, ledger.HANDED, ledger.DOUBT, "timed out"))
        assert book.claim(1) == "gone"  # in doubt: not claimable
        assert book.retry_failed() == (0, 0) and book.claim(1) == "gone"
        assert book.resend_in_doubt() == 1 and book.claim(1) == ledger.SENDING
        row = next(book.rows(ledger.SENDING))
        assert (row.attempts, row.in_doubt) == (2, 1)  # every claim a try


# -- one store file, one name ------------------------------------------------------------

STORE_COMMANDS = [("send", MONTH), ("send", MONTH, "--status"), ("send", MONTH, "--dry-run",
                  "eml"), ("subscribers", "count"), ("subscribers", "list"),
                  ("subscribers", "unsubscribe", "reader0001@example.org"),
                  ("subscribers", "export"), ("subscribers", "import", "subscribers.csv")]


def test_a_store_with_two_names_is_refused_by_every_command(room: Room) -> None:
    """Hard links: SQLite's WAL (its -wal and -shm, which hold the locks and the latest
    commits) is kept per name, so two sends through two names both took the lease, sent
    duplicates and corrupted the file.  Every command that opens the store refuses it."""
    server = Faulty()
    with smtp_server(server) as port:
        room.send(port=port)
        before = room.ledger()
        link = room.db.with_name("hard.sqlite")
        os.link(room.db, link)
        for args in STORE_COMMANDS:
            for db in (room.db, link):
                os.environ["PUBLISHER_SMTP_PORT"] = str(port)
                run = room.cli(*args, "--db", str(db), paths=room.paths)
                assert one_error(run, 1, f"{db.name}: the subscriber store has 2 names "
                                 "(hard links): a store must have one name") == (
                    f"error: {db.name}: the subscriber store has 2 names (hard links): a "
                    "store must have one name, as SQLite's write-ahead log is kept per "
                    "name; remove the other links")
    assert server.per_rcpt() == {a: 1 for a in room.addresses}
    assert room.ledger() == before  # nothing changed


def test_a_send_killed_then_run_again_through_a_hard_link_is_refused(room: Room) -> None:
    """The 88-91 doubles: the killed run's last commits were in the -wal of its name."""
    server = Faulty(delay=0.01)
    with smtp_server(server) as port:
        proc = room.spawn(port=port)
        while len(server.received) < 30 and proc.poll() is None:
            time.sleep(0.005)
        proc.kill()
        proc.communicate()
        link = room.db.with_name("hard.sqlite")
        os.link(room.db, link)
        received = len(server.received)
        os.environ["PUBLISHER_SMTP_PORT"] = str(port)
        run = room.cli("send", MONTH, "--db", str(link), paths=room.paths)
        one_error(run, 1, "hard.sqlite: the subscriber store has 2 names (hard links)")
        assert len(server.received) == received
        link.unlink()
        server.delay = 0.0  # the rerun need not be slow
        run = room.send(port=port)
        assert run.status in (0, 1), run.err
    assert_guarantee(room, server)
    assert set(room.states()) <= {"sent", "doubt"}


def test_a_send_holds_an_os_lock_on_the_store_file_itself(room: Room) -> None:
    """A bind mount gives the file a second name with a link count of 1: the send takes
    ``flock`` on the file (its inode, whatever its name), before SQLite opens it."""
    import fcntl

    server = Faulty()
    with smtp_server(server) as port, open(room.db, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as another send would, elsewhere
        run = room.send(port=port)
        assert one_error(run, 1) == (
            f"error: {room.db.name}: another send is using this subscriber store (process "
            f"{os.getpid()} on this host): wait for it to end, or stop it")
        assert server.received == [] and room.ledger() == {}
        fcntl.flock(held, fcntl.LOCK_UN)
        run = room.send(port=port)
        assert run.status == 0, run.err
    assert server.per_rcpt() == {a: 1 for a in room.addresses}


def test_two_sends_through_a_bind_mount_one_refuses(room: Room) -> None:
    bound = room.db.with_name("bound.sqlite")
    bound.touch()
    mounted = subprocess.run(["mount", "--bind", str(room.db), str(bound)],
                             capture_output=True, check=False)
    if mounted.returncode:
        pytest.skip("no bind mount here (needs root)")
    try:
        assert os.stat(bound).st_nlink == 1  # the link count does not see it
        _a_second_send_through(room, bound, shown=bound.name)
        with contextlib.closing(sqlite3.connect(room.db)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        subprocess.run(["umount", str(bound)], check=False)


# -- replies that are no replies -----------------------------------------------------------

@pytest.mark.parametrize("line", ["garbage reply", "354 what?", "600 odd", "199 early"])
@pytest.mark.parametrize("room", store_support.BOTH, indirect=True)
def test_a_reply_to_the_dot_that_is_not_2xx_4xx_or_5xx_leaves_the_message_in_doubt(
        room: Room, line: str) -> None:
    """After the final dot only a 4xx or 5xx says the server did not keep the message:
    anything else is a lost reply, so --retry-failed must not send it again."""
    odd = room.addresses[3]
    server = Faulty(once={odd: [f"keep-reply:{line}"]})
    with smtp_server(server) as port:
        run = room.send(port=port)
        assert one_error(run, 1) == IN_DOUBT
        assert f"{odd}: in doubt: the connection was lost after the message was handed " \
               "over (a reply that makes no sense" in run.err
        assert room.states()["doubt"] == {odd}
        run = room.send("--retry-failed", port=port)
        assert run.status == 0, run.err
    assert server.per_rcpt() == {a: 1 for a in room.addresses}
    assert odd in in_doubt_listed(room)
    assert_guarantee(room, server)


def test_a_421_to_rset_closes_that_connection(room: Room) -> None:
    refused = room.addresses[2]
    server = Faulty(always={refused: "rcpt:550 5.1.1 no such user"},
                    rset=["421 4.3.2 closing"])
    with smtp_server(server) as port:
        run = room.send(port=port)
    assert run.status == 0, run.err
    assert server.connections == 2  # reopened after the 421, not used half-closed ...
    assert {attempts for _, _, attempts in room.ledger().values()} == {1}  # ... for a try
    assert room.states()["failed"] == {refused}
    assert server.per_rcpt() == {a: 1 for a in room.addresses if a != refused}


# -- stops that wait on nothing ------------------------------------------------------------

def test_a_slow_rate_does_not_hold_up_a_stop(room: Room) -> None:
    server = Faulty()
    with smtp_server(server) as port:
        proc = room.spawn("--rate", "0.001", port=port)  # 1000 s between messages
        while not server.received and proc.poll() is None:
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert one_error((proc.returncode, err), 143) == (
        "error: stopped by SIGTERM after the messages in flight: 1 sent, 199 left; run "
        "'publisher send 2023-08' again to send the rest")


@contextlib.contextmanager
def mute_server() -> Iterator[tuple[socket.socket, int]]:
    """A server that accepts the connection and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(60)  # a send that never connects fails the test, not hangs it
        yield listener, listener.getsockname()[1]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_server_that_never_greets_does_not_hold_up_a_signal(room: Room,
                                                               signum: int) -> None:
    with mute_server() as (listener, port):
        proc = room.spawn(port=port, PUBLISHER_SMTP_TIMEOUT="3600")
        conn, _ = listener.accept()  # the send is waiting for the greeting now
        with conn:
            proc.send_signal(signum)
            _, err = proc.communicate(timeout=60)
    assert one_error((proc.returncode, err), 128 + signum) == (
        f"error: stopped by {signal.Signals(signum).name} after the messages in flight: 0 "
        "sent, 200 left; run 'publisher send 2023-08' again to send the rest")
    assert room.states() == {"pending": set(room.addresses)}


def test_opening_a_connection_gives_way_to_a_stop() -> None:
    """What a worker's reconnect does: the opening waits on the stop, not the server."""
    from publisher.deliver import smtp

    with mute_server() as (listener, port):
        conn = smtp.Connection(smtp.SmtpSettings("127.0.0.1", port, timeout=3600))
        stop = threading.Event()
        accepted: list[socket.socket] = []

        def accept() -> None:  # the connection is made, and the greeting never comes
            accepted.append(listener.accept()[0])
            stop.set()

        threading.Thread(target=accept, daemon=True).start()
        assert conn.open(stop) is False
        assert not conn.connected
        for sock in accepted:
            sock.close()


# -- settings --------------------------------------------------------------------------------

@pytest.mark.parametrize(("key", "value", "expected"), [
    ("PUBLISHER_SMTP_TIMEOUT", "nan", "a number from 0.001 to 3600"),
    ("PUBLISHER_SMTP_TIMEOUT", "inf", "a number from 0.001 to 3600"),
    ("PUBLISHER_SMTP_TIMEOUT", "1e300", "a number from 0.001 to 3600"),
    ("PUBLISHER_SMTP_TIMEOUT", "0", "a number from 0.001 to 3600"),
    ("PUBLISHER_SMTP_BACKOFF", "nan", "a number from 0 to 3600"),
    ("PUBLISHER_SMTP_RETRIES", "0", "a whole number from 1 to 100"),
    ("PUBLISHER_SMTP_RETRIES", "lots", "a whole number from 1 to 100"),
    ("PUBLISHER_SMTP_PORT", "99999", "a whole number from 1 to 65535"),
    ("PUBLISHER_STORE_TIMEOUT", "nan", "a number of seconds from 0 to 999999"),
    ("PUBLISHER_STORE_TIMEOUT", "inf", "a number of seconds from 0 to 999999"),
])
def test_a_bad_setting_is_one_line_before_anything_is_done(
        room: Room, monkeypatch: pytest.MonkeyPatch, key: str, value: str,
        expected: str) -> None:
    monkeypatch.setenv(key, value)
    if key != "PUBLISHER_SMTP_PORT":
        monkeypatch.setenv("PUBLISHER_SMTP_PORT", str(free_port()))
    run = room.cli("send", MONTH, "--db", str(room.db), paths=room.paths)
    assert one_error(run, 1) == f"error: {key} is {value!r}: expected {expected}"
    assert room.ledger() == {}


@pytest.mark.parametrize("rate", ["-5", "nan", "inf", "1e-300", "1e300"])
def test_a_bad_rate_is_a_usage_error(room: Room, rate: str) -> None:
    run = room.send("--rate", rate, port=free_port())
    assert one_error(run, 2) == (
        f"error: --rate is {float(rate):g}: give messages per second, from 0.001 to 100000 "
        "(0: no limit)")
    assert room.ledger() == {}


# -- a corrupt store ---------------------------------------------------------------------------

def test_a_corrupt_store_is_one_line_for_every_command(room: Room) -> None:
    server = Faulty()
    with smtp_server(server) as port:
        assert room.send(port=port).status == 0
        data = bytearray(room.db.read_bytes())
        for page in range(2, len(data) // 4096):  # every page's cells, past its header
            data[page * 4096 + 8:page * 4096 + 64] = b"\xff" * 56
        room.db.write_bytes(bytes(data))
        for args in STORE_COMMANDS:
            os.environ["PUBLISHER_SMTP_PORT"] = str(port)
            run = room.cli(*args, "--db", str(room.db), paths=room.paths)
            line = one_error(run, 1, "subscribers.sqlite: ")
            assert "malformed" in line or "not a database" in line, line
    assert server.per_rcpt() == {a: 1 for a in room.addresses}


# -- the store file goes away ------------------------------------------------------------------

@pytest.mark.parametrize("how", ["removed", "replaced"])
def test_a_store_removed_or_replaced_during_the_send_stops_it(room: Room, how: str) -> None:
    server = Faulty(delay=0.02)
    with smtp_server(server) as port:
        proc = room.spawn(port=port)
        while len(server.received) < 10 and proc.poll() is None:
            time.sleep(0.005)
        if how == "removed":
            room.db.rename(room.db.with_name("elsewhere.sqlite"))
        else:  # by a backup taken before the send
            copy = room.db.with_name("copy.sqlite")
            with contextlib.closing(sqlite3.connect(room.db)) as db:
                db.execute("VACUUM INTO ?", (str(copy),))
            os.replace(copy, room.db)
        _, err = proc.communicate(timeout=120)
        # noticed at the next claim, not at the lease's heartbeat: the send stopped there
        assert len(server.received) < len(room.addresses)
        line = one_error((proc.returncode, err), 1)
        saved = re.findall(r"saved as (\S+):", line)[0]
        assert line == (
            f"error: the subscriber store {room.db} was removed or replaced during the send; "
            f"what this run recorded is saved as {saved}: put it back in place of "
            f"{room.db.name} (with no -wal or -shm file beside it), before sending again")
        for suffix in ("-wal", "-shm"):  # the old file's, beside the new one
            room.db.with_name(room.db.name + suffix).unlink(missing_ok=True)
        os.replace(room.db.with_name(saved), room.db)
        server.delay = 0.0  # the rerun need not be slow
        run = room.send(port=port)
        assert run.status == 0, run.err
    assert server.per_rcpt() == {a: 1 for a in room.addresses}


@pytest.mark.parametrize("room", store_support.BOTH, indirect=True)
def test_status_says_what_becomes_of_a_message_in_flight(room: Room) -> None:
    from publisher.deliver import ledger

    with _leased_ledger(room) as book:
        assert book.claim(1) == book.claim(2) == ledger.SENDING
        book.hand_over(2)
    lines = room.status().splitlines()
    assert f"sending   {room.addresses[0]}  <{room.addresses[0]}> (in flight, or a send was " \
           "killed: then not yet handed over, the next run sends it)" in lines
    assert f"sending   {room.addresses[1]}  <{room.addresses[1]}> (handed over, awaiting the " \
           "reply; or a send was killed: then in doubt, and the next run does not send it)" \
           in lines
