"""Several senders on one PostgreSQL mailing (a real server, a real SMTP server).

Each sender reserves its rows (``FOR UPDATE SKIP LOCKED``), the others reap a dead one
(its process gone from this host, or its lease expired) and take its rows over; the
guarantee is the SQLite store's: nobody missed, a second copy only for a message that
was in flight when its sender died, and each such address listed in doubt.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.build.builder import Paths
from send_support import Recorder, fake_eml, smtp_server

SECRET = "test-secret-do-not-use-0123456789"
MONTH = "2023-08"


@pytest.fixture
def project(project_copy: Paths, monkeypatch: pytest.MonkeyPatch) -> Iterator[Paths]:
    eml = project_copy.dist / MONTH / "email.eml"
    eml.parent.mkdir(parents=True)
    eml.write_bytes(fake_eml(padding=2))
    for key in [k for k in os.environ if k.startswith("PUBLISHER_")]:
        monkeypatch.delenv(key)
    for key, value in {"PUBLISHER_SMTP_HOST": "127.0.0.1", "PUBLISHER_SMTP_TLS": "none",
                       "PUBLISHER_SECRET": SECRET, "PUBLISHER_SMTP_BACKOFF": "0.001"}.items():
        monkeypatch.setenv(key, value)
    yield project_copy


def fill(url: str, n: int, folder: Path) -> list[str]:
    from publisher.deliver import csv_import

    addresses = [f"reader{i:05d}@example.org" for i in range(n)]
    csv_file = folder / "readers.csv"
    csv_file.write_text("email,name\n" + "".join(f"{a},Reader {i}\n"
                                                 for i, a in enumerate(addresses)))
    csv_import.import_csv(csv_file, url)
    return addresses


def sender(paths: Paths, url: str, port: int, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
           "PUBLISHER_SMTP_PORT": str(port)}
    return subprocess.Popen([sys.executable, "-m", "publisher", "send", MONTH, "--db", url,
                             "--issues", str(paths.issues), "--dist", str(paths.dist),
                             "--connections", "2", *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def ledger(url: str) -> dict[str, tuple[str, int]]:
    from publisher.deliver import subscribers

    with contextlib.closing(subscribers.connect(url)) as db:
        return {email: (state, doubt) for email, state, doubt in db.execute(
            "SELECT email, state, in_doubt FROM deliveries WHERE issue = ?", (MONTH,))}


def status(url: str, paths: Paths) -> str:
    done = subprocess.run([sys.executable, "-m", "publisher", "send", MONTH, "--status",
                           "--db", url, "--issues", str(paths.issues)],
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_four_senders_with_random_sigkills_miss_nobody(project: Paths, pg_url: str,
                                                        tmp_path: Path) -> None:
    """Four senders on one mailing, six of them SIGKILLed at random moments (each one
    replaced by a new sender): nobody missed, no second copy but for an address listed
    in doubt.

    The first kill comes 0.2 to 0.8 s after the start (senders starting, taking the
    lease, reserving their first rows); the other five at random points of the mailing's
    progress (between 5 % and 80 % of it sent), not after random sleeps: so each lands
    while the senders have rows reserved, claimed and handed over, however fast or
    loaded the machine, and 4,000 subscribers exercise what 20,000 did with sleeps (the
    count is not the property: what a kill leaves behind, and how the others reap and
    finish it, is the same at any size).
    """
    count = 4_000
    addresses = fill(pg_url, count, tmp_path)
    rng = random.Random(20230816)
    first = rng.uniform(0.2, 0.8)
    marks = sorted(rng.sample(range(count // 20, count * 4 // 5), 5))
    recorder = Recorder()
    kills = 0
    with smtp_server(recorder) as port:
        procs = [sender(project, pg_url, port) for _ in range(4)]
        started = time.monotonic()
        deadline = started + 240
        while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.005)
            live = [p for p in procs if p.poll() is None]
            due = (time.monotonic() - started >= first if kills == 0 else
                   kills <= len(marks) and len(recorder.received) >= marks[kills - 1])
            if due and live:
                victim = rng.choice(live)
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                kills += 1
                procs.append(sender(project, pg_url, port))  # a replacement joins
        errors = []
        for proc in procs:
            _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            if proc.returncode != -signal.SIGKILL:
                assert proc.returncode in (0, 1), err
                assert b"Traceback" not in err, err
                errors.append(err.decode())
        first = recorder.per_rcpt()
        book = ledger(pg_url)
        # before anything is sent again: at most one copy each, every row done
        assert max(first.values()) == 1
        assert {state for state, _ in book.values()} <= {"sent", "doubt"}
        assert {a for a, (state, _) in book.items() if state == "sent"} <= set(first)
        in_doubt = {a for a, (state, _) in book.items() if state == "doubt"}
        assert len(in_doubt) <= 2 * kills  # at most one per connection of a killed sender
        shown = status(pg_url, project)
        for address in in_doubt:
            assert f"in doubt  {address}  " in shown
        # every sender that got as far as taking its lease is listed, the killed ones too
        assert 4 <= sum(line.startswith("sender ") for line in shown.splitlines()) <= len(procs)
        # the operator sends the messages in doubt again: nobody missed
        last = sender(project, pg_url, port, "--resend-in-doubt")
        _, err = last.communicate(timeout=120)
        assert last.returncode == 0, err
    counts = recorder.per_rcpt()
    assert set(counts) == set(addresses)  # nobody missed
    book = ledger(pg_url)
    twice = {a for a, n in counts.items() if n == 2}
    assert max(counts.values()) <= 2 and twice <= in_doubt
    assert all(book[a] == ("sent", 1) for a in in_doubt)
    assert kills == 6


def test_a_dead_senders_claims_are_released_after_its_lease_expires(
        project: Paths, pg_url: str, tmp_path: Path) -> None:
    """A sender on another host stopped answering: its lease is not renewed; once it has
    expired, another sender takes its rows: those it had not handed over are sent, those
    it had are in doubt, those it had reserved are sent."""
    from publisher.deliver import lease, subscribers
    from publisher.deliver import ledger as ledgers

    addresses = fill(pg_url, 50, tmp_path)
    with contextlib.closing(subscribers.connect(pg_url)) as db:
        gone = lease.Lease(MONTH, host="elsewhere.example", pid=1, ttl=3.0)
        gone.acquire(db)
        book = ledgers.Ledger(db, MONTH, gone.owner)
        book.prepare(lambda key: f"<{key}>")
        reserved = book.to_send(limit=10)
        assert [d.subscriber_id for d in reserved] == list(range(1, 11))
        assert book.claim(1) == ledgers.SENDING
        assert book.claim(2) == ledgers.SENDING
        book.hand_over(2)
        # while its lease lasts, nobody else takes its rows
        other = ledgers.Ledger(db, MONTH, "someone")
        lease.Lease(MONTH, owner="someone").acquire(db)
        assert [d.subscriber_id for d in other.to_send(limit=100)][:2] == [11, 12]
        assert other.claim(3) == "gone"
        db.execute("DELETE FROM send_leases WHERE owner = 'someone'")
        db.execute("UPDATE deliveries SET owner = '' WHERE owner = 'someone'")
    time.sleep(3.1)  # its lease has expired
    recorder = Recorder()
    with smtp_server(recorder) as port:
        proc = sender(project, pg_url, port)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert b"process 1 on elsewhere.example" in err  # said: taken over
    assert set(recorder.per_rcpt()) == set(addresses) - {addresses[1]}
    rows = ledger(pg_url)
    assert rows[addresses[1]] == ("doubt", 1)
    assert all(rows[a] == ("sent", 0) for a in addresses if a != addresses[1])


def test_a_lost_database_connection_stops_the_send_in_one_line(
        project: Paths, pg_url: str, tmp_path: Path) -> None:
    """The server ends every connection of the sender (a restart, a failover) mid-send:
    one line, no traceback; the next run finishes, the guarantee kept."""
    import psycopg

    addresses = fill(pg_url, 400, tmp_path)
    recorder = Recorder(delay=0.005)
    with smtp_server(recorder) as port:
        proc = sender(project, pg_url, port)
        while len(recorder.received) < 50 and proc.poll() is None:
            time.sleep(0.01)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid != pg_backend_pid()")
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, err
        text = err.decode()
        assert "Traceback" not in text
        lines = [line for line in text.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and "lost the subscriber store (" in lines[0], text
        assert "s3cret" not in text
        again = sender(project, pg_url, port)
        _, err = again.communicate(timeout=120)
        assert again.returncode == 0, err
    counts = recorder.per_rcpt()
    rows = ledger(pg_url)
    assert set(counts) | {a for a, (state, _) in rows.items() if state == "doubt"} == set(
        addresses)
    assert all(n == 1 for n in counts.values())
