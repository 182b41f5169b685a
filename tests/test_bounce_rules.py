"""What bounces and complaints do to the store (publisher.deliver.bounces.record), and
the whole loop: a send, its bounces and complaints coming back by IMAP (Dovecot), the
SMTP listener, a Maildir and the webhooks, one intake run each, and the next send
skipping every address they stopped.  The rules, the rates of --check and a loop (a send,
its bounces read, the next send) run on SQLite and PostgreSQL alike."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest

import store_support
from conftest import Run
from imap_support import Dovecot
from mailroom import MONTH, SECRET, Mailroom, make_store
from publisher.deliver.bounces import record
from publisher.deliver.bounces.intake import Event, Intake
from publisher.deliver.bounces.listener import Listener
from publisher.deliver.bounces.report import Kind
from send_support import Recorder, fake_eml, free_port, smtp_server

BOUNCES = "bounces.webzine.example.org"
NEXT = "2023-07"  # the next mailing of these tests (any other built month would do)


def dsn(to: str, recipient: str, message_id: str, status: str = "5.1.1",
        action: str = "failed") -> bytes:
    """A delivery status notification (RFC 3464), as Postfix writes one."""
    return f"""From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: {make_msgid(domain="mx.example.net")}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B0UND"

--B0UND
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be delivered.

--B0UND
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; 550 {status} <{recipient}>: user unknown

--B0UND
Content-Type: text/rfc822-headers

Message-ID: {message_id}
To: {recipient}
Subject: KOREA

--B0UND--
""".replace("\n", "\r\n").encode()


def arf(to: str, recipient: str, message_id: str, verp: str = "") -> bytes:
    """A feedback-loop complaint (ARF, RFC 5965)."""
    mail_from = f"Original-Mail-From: <{verp}>\n" if verp else ""
    return f"""From: feedback@fbl.example.net
To: {to}
Subject: Complaint about message from 192.0.2.1
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="B0UND"

--B0UND
Content-Type: text/plain; charset=us-ascii

This is an email abuse report.

--B0UND
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: fbl/1.0
Version: 1
{mail_from}Original-Rcpt-To: <{recipient}>

--B0UND
Content-Type: text/rfc822-headers

Message-ID: {message_id}
To: {recipient}
Subject: KOREA

--B0UND--
""".replace("\n", "\r\n").encode()


# -- the rules, one event at a time ---------------------------------------------------------


@pytest.fixture(params=store_support.BOTH)
def store(tmp_path: Path, request: pytest.FixtureRequest) -> Path | str:
    """Three subscribers, in an SQLite file or a PostgreSQL database."""
    db = store_support.target(request, tmp_path / "subscribers.sqlite")
    make_store(db, ["ann@example.org", "bob@example.org", "carol@example.org"],
               tmp_path / "subscribers.csv")
    return db


def query(where: Path | str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (``?`` placeholders) on the store, either backend."""
    from publisher.deliver import db

    with contextlib.closing(db.connect(where)) as conn:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]


def change(where: Path | str, sql: str, params: tuple[Any, ...] = ()) -> None:
    from publisher.deliver import db

    with contextlib.closing(db.connect(where)) as conn, db.transaction(conn):
        conn.execute(sql, params)


def event(kind: Kind, address: str = "ann@example.org", mailing: str = "2023-08",
          key: str = "") -> Event:
    return Event(kind, address, None, mailing, "", "5.1.1" if kind == Kind.HARD else "4.2.2",
                 "", "abuse" if kind == Kind.COMPLAINT else "", "test",
                 key or f"k-{kind}-{address}-{mailing}")


def status(db: Path | str, address: str = "ann@example.org") -> tuple[str, str]:
    """The subscriber's status and the reason of its suppression ('' for none)."""
    row = query(db, "SELECT s.status, coalesce(p.reason, '') FROM subscribers s LEFT JOIN "
                    "suppressions p ON p.subscriber_id = s.id WHERE s.email = ?", (address,))[0]
    return row[0], row[1]


def test_a_hard_bounce_suppresses_at_once(store: Path | str) -> None:
    apply = record.Recorder(store, record.Rules())
    assert apply(event(Kind.HARD)) == "suppressed"
    assert status(store) == ("unsubscribed", "hard")
    assert status(store, "bob@example.org") == ("subscribed", "")
    assert apply(event(Kind.HARD)) == "already recorded"  # the same report again
    assert apply(event(Kind.HARD, key="another report")) == "already stopped"
    apply.close()


def test_soft_bounces_suppress_after_n_mailings_in_m_days(store: Path | str) -> None:
    apply = record.Recorder(store, record.Rules(soft_bounces=3, soft_days=30))
    assert apply(event(Kind.SOFT, mailing="2023-06")) == "counted, 1 of 3 in 30 days"
    # a second report on the same mailing (a delay warning, then the failure) is one
    assert apply(event(Kind.SOFT, mailing="2023-06", key="later")) == "counted, 1 of 3 in 30 days"
    assert apply(event(Kind.SOFT, mailing="2023-07")) == "counted, 2 of 3 in 30 days"
    assert status(store) == ("subscribed", "")
    assert apply(event(Kind.SOFT, mailing="2023-08")) == "suppressed"
    assert status(store) == ("unsubscribed", "soft")
    # older than the window: not counted
    assert apply(event(Kind.SOFT, "bob@example.org", "2023-06")) == "counted, 1 of 3 in 30 days"
    change(store, "UPDATE bounce_events SET received = '2020-01-01T00:00:00.000000Z' "
                  "WHERE email_key = 'bob@example.org'")
    assert apply(event(Kind.SOFT, "bob@example.org", "2023-07")) == "counted, 1 of 3 in 30 days"
    apply.close()


def test_a_complaint_unsubscribes_and_is_counted_apart(store: Path | str) -> None:
    apply = record.Recorder(store, record.Rules())
    assert apply(event(Kind.HARD)) == "suppressed"
    assert apply(event(Kind.COMPLAINT)) == "already unsubscribed"
    assert status(store) == ("unsubscribed", "complaint")  # the complaint's reason wins
    assert apply(event(Kind.COMPLAINT, "carol@example.org")) == "unsubscribed"
    assert apply(event(Kind.HARD, "nobody@example.net")) == "unknown address"
    apply.close()
    kinds = dict(query(store, "SELECT kind, count(*) FROM bounce_events GROUP BY kind"))
    assert kinds == {"hard": 2, "complaint": 2}
    # each stop is in the reader's history, as any unsubscribe is
    history = query(store, "SELECT email, how, detail FROM consent_events WHERE event = "
                           "'unsubscribe' AND how IN ('bounce', 'complaint') ORDER BY id")
    assert history == [("ann@example.org", "bounce", "hard"),
                       ("carol@example.org", "complaint", "complaint")]


def test_the_rules_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from publisher.errors import PublisherError

    assert record.Rules.from_env({}) == record.Rules(3, 30)
    assert record.Rules.from_env({"PUBLISHER_SOFT_BOUNCES": "5",
                                  "PUBLISHER_SOFT_BOUNCE_DAYS": "60"}) == record.Rules(5, 60)
    for name, value in (("PUBLISHER_SOFT_BOUNCES", "0"), ("PUBLISHER_SOFT_BOUNCE_DAYS", "x")):
        with pytest.raises(PublisherError, match=name):
            record.Rules.from_env({name: value})


def test_an_import_keeps_suppressed_addresses_out(store: Path | str, tmp_path: Path,
                                                   cli: object) -> None:
    from publisher.deliver import csv_import

    apply = record.Recorder(store, record.Rules())
    apply(event(Kind.HARD))
    apply(event(Kind.COMPLAINT, "bob@example.org"))
    apply.close()
    again = tmp_path / "again.csv"
    again.write_text("email,name\nAnn@Example.org,Ann\nbob@example.org,Bob\n"
                     "dave@example.org,Dave\n")
    result = csv_import.import_csv(again, store)
    assert (result.added, result.kept_unsubscribed) == (1, 2)
    assert status(store) == ("unsubscribed", "hard")
    assert status(store, "bob@example.org") == ("unsubscribed", "complaint")


def test_erasing_a_suppressed_reader_removes_its_bounces_too(store: Path | str) -> None:
    from publisher.deliver import consent
    from publisher.deliver import db as store_db

    apply = record.Recorder(store, record.Rules())
    assert apply(event(Kind.HARD)) == "suppressed"
    assert apply(event(Kind.SOFT, "bob@example.org")) == "counted, 1 of 3 in 30 days"
    apply.close()
    with contextlib.closing(store_db.connect(store)) as conn:  # (the rows refer to it)
        consent.erase(conn, "ann@example.org", SECRET.encode())
    assert query(store, "SELECT email_key FROM bounce_events") == [("bob@example.org",)]
    assert query(store, "SELECT count(*) FROM suppressions") == [(0,)]
    assert [r[0] for r in query(store, "SELECT email FROM subscribers ORDER BY id")] == [
        "bob@example.org", "carol@example.org"]


# -- the whole loop ---------------------------------------------------------------------------


def build_next(mailroom: Mailroom) -> None:
    eml = mailroom.paths.dist / NEXT / "email.eml"
    eml.parent.mkdir(parents=True, exist_ok=True)
    eml.write_bytes(fake_eml())


@pytest.mark.subscribers(200)  # what becomes of a few addresses, not of the count
def test_bounces_by_every_path_stop_the_next_send(mailroom: Mailroom, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    mailroom.monkeypatch.setenv("PUBLISHER_BOUNCE_DOMAIN", BOUNCES)
    first = Recorder()
    with smtp_server(first) as port:
        run = mailroom.send(port=port)
    assert run.status == 0, run.err
    sent = {r.rcpt: r for r in first.received}
    message_id = {a: r.message_id for a, r in sent.items()}

    def verp(address: str) -> str:
        return sent[address].mail_from

    # 1. a hard bounce and a complaint in the IMAP mailbox, read by 'bounces fetch'
    with Dovecot() as dovecot:
        user, password = dovecot.add_user()
        dovecot.append(user, dsn(verp("reader0001@example.org"), "reader0001@example.org",
                                 message_id["reader0001@example.org"]))
        dovecot.append(user, arf("abuse@webzine.example.org", "reader0002@example.org",
                                 message_id["reader0002@example.org"],
                                 verp("reader0002@example.org")))
        for key, value in (("PUBLISHER_IMAP_HOST", "127.0.0.1"),
                           ("PUBLISHER_IMAP_PORT", str(dovecot.port)),
                           ("PUBLISHER_IMAP_TLS", "none"), ("PUBLISHER_IMAP_USER", user),
                           ("PUBLISHER_IMAP_PASSWORD", password)):
            monkeypatch.setenv(key, value)
        run = mailroom.cli("bounces", "fetch", "--db", str(mailroom.db))
        assert run.status == 0, run.err
        assert "2 message(s) read: 1 complaint (unsubscribed), 1 hard (suppressed)" in run.err
        assert dovecot.unseen(user) == 0
        assert mailroom.cli("bounces", "fetch", "--db", str(mailroom.db)).status == 0

    # 2. a hard bounce straight to the SMTP listener (a relay keeping no VERP: the
    #    address and the Message-ID say who)
    intake = Intake(SECRET.encode(), record.recorder(mailroom.db))
    listener = Listener(BOUNCES, intake.message, port=free_port()).start()
    try:
        import smtplib

        with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as client:
            client.sendmail("", [verp("reader0003@example.org")],
                            dsn("someone@example.net", "reader0003@example.org",
                                message_id["reader0003@example.org"]))
    finally:
        listener.stop()
        intake.close()

    # 3. a Maildir with three soft bounces of one address, from three mailings: only one
    #    is this one's, so it counts once
    box = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    for i in range(3):
        (box / "new" / f"{i}.eml").write_bytes(dsn(verp("reader0004@example.org"),
                                                   "reader0004@example.org",
                                                   message_id["reader0004@example.org"],
                                                   status=f"4.2.{i}", action="delayed"))
    run = mailroom.cli("bounces", "read", str(box), "--db", str(mailroom.db))
    assert run.status == 0, run.err
    assert "3 message(s) read: 3 soft (counted)" in run.err
    assert "soft bounce of reader0004@example.org (2023-08): counted, 1 of 3 in 30 days" in run.err

    # the ledger of the mailing says what came back
    with sqlite3.connect(mailroom.db) as conn:
        reports = dict(conn.execute("SELECT email, report FROM deliveries WHERE issue = ? "
                                    "AND report != ''", (MONTH,)))
    assert reports == {"reader0001@example.org": "hard", "reader0002@example.org": "complaint",
                       "reader0003@example.org": "hard", "reader0004@example.org": "soft"}

    # the next send skips every address stopped, and only those
    build_next(mailroom)
    second = Recorder()
    with smtp_server(second) as port:
        mailroom.monkeypatch.setenv("PUBLISHER_SMTP_PORT", str(port))
        run = mailroom.cli("send", NEXT, "--db", str(mailroom.db), paths=mailroom.paths)
    assert run.status == 0, run.err
    skipped = set(mailroom.addresses) - {r.rcpt for r in second.received}
    assert skipped == {"reader0001@example.org", "reader0002@example.org",
                       "reader0003@example.org"}
    assert len(second.received) == 197


@pytest.mark.parametrize("mailroom", store_support.BOTH, indirect=True)
def test_check_reports_the_last_mailings_rates(mailroom: Mailroom) -> None:
    first = Recorder()
    with smtp_server(first) as port:
        assert mailroom.send(port=port).status == 0
    apply = record.Recorder(mailroom.db, record.Rules())
    for i in range(4):  # 4 complaints in 1000: 0.4 %, over Gmail's 0.3 %
        apply(event(Kind.COMPLAINT, f"reader{i:04d}@example.org", mailing=""))
    apply(event(Kind.HARD, "reader0100@example.org", mailing=""))
    apply.close()
    findings = _check_lines(mailroom)
    assert findings["complaints"] == ("error: 4 of 1000 message(s) of 2023-08: 0.40%, at or "
                                      "over 0.3%: find out why before sending again")
    assert findings["bounces"] == "ok: 1 of 1000 message(s) of 2023-08: 0.10%"


@pytest.mark.subscribers(200)  # what becomes of a few addresses, not of the count
@pytest.mark.parametrize("mailroom", store_support.BOTH, indirect=True)
def test_a_bounce_read_back_stops_the_next_send(mailroom: Mailroom, tmp_path: Path) -> None:
    """The loop on either backend: a send, a hard bounce to its VERP return path read
    from a message file, a complaint by the webhooks' path (the Recorder); the ledger
    row marked, the next send skipping both addresses."""
    mailroom.monkeypatch.setenv("PUBLISHER_BOUNCE_DOMAIN", BOUNCES)
    first = Recorder()
    with smtp_server(first) as port:
        run = mailroom.send(port=port)
    assert run.status == 0, run.err
    sent = {r.rcpt: r for r in first.received}
    hard = "reader0007@example.org"
    report = tmp_path / "bounce.eml"
    report.write_bytes(dsn(sent[hard].mail_from, hard, sent[hard].message_id))
    run = mailroom.cli("bounces", "read", str(report), "--db", str(mailroom.db))
    assert run.status == 0, run.err
    assert "1 message(s) read: 1 hard (suppressed)" in run.err
    apply = record.Recorder(mailroom.db, record.Rules())
    assert apply(event(Kind.COMPLAINT, "reader0008@example.org", mailing=MONTH)) == "unsubscribed"
    apply.close()
    assert status(mailroom.db, hard) == ("unsubscribed", "hard")
    assert dict(query(mailroom.db, "SELECT email, report FROM deliveries WHERE issue = ? AND "
                                   "report != ''", (MONTH,))) == {
        hard: "hard", "reader0008@example.org": "complaint"}

    build_next(mailroom)
    second = Recorder()
    with smtp_server(second) as port:
        mailroom.monkeypatch.setenv("PUBLISHER_SMTP_PORT", str(port))
        run = mailroom.cli("send", NEXT, "--db", str(mailroom.db), paths=mailroom.paths)
    assert run.status == 0, run.err
    assert set(mailroom.addresses) - {r.rcpt for r in second.received} == {
        hard, "reader0008@example.org"}
    assert len(second.received) == 198


def _check_lines(mailroom: Mailroom) -> dict[str, str]:
    with smtp_server(Recorder()) as port:
        run: Run = mailroom.send("--check", port=port)
    found = {}
    for line in run.out.splitlines():
        level, what, text = line.split(": ", 2)
        found[what] = f"{level}: {text}"
    return found


def test_the_listener_asks_again_when_the_store_is_busy(mailroom: Mailroom) -> None:
    first = Recorder()
    with smtp_server(first) as port:
        assert mailroom.send(port=port).status == 0
    intake = Intake(SECRET.encode(), record.Recorder(mailroom.db, record.Rules(), timeout=0.2))
    listener = Listener(BOUNCES, intake.message, port=free_port()).start()
    hold = sqlite3.connect(mailroom.db, isolation_level=None)
    hold.execute("BEGIN IMMEDIATE")
    done = threading.Event()
    try:
        import smtplib

        with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as client:
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.sendmail("", [f"bounces@{BOUNCES}"],
                                dsn("x@example.net", "reader0005@example.org", "<x@y>"))
            assert refused.value.smtp_code == 451
        done.set()
    finally:
        hold.execute("ROLLBACK")
        hold.close()
        listener.stop()
        intake.close()
    assert done.is_set()
    assert status(mailroom.db, "reader0005@example.org") == ("subscribed", "")


def test_the_serve_command_until_sigterm(mailroom: Mailroom) -> None:
    import os
    import signal
    import smtplib
    import subprocess
    import sys
    import time

    first = Recorder()
    mailroom.monkeypatch.setenv("PUBLISHER_BOUNCE_DOMAIN", BOUNCES)
    with smtp_server(first) as port:
        assert mailroom.send(port=port).status == 0
    verp = next(r.mail_from for r in first.received if r.rcpt == "reader0009@example.org")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "publisher", "bounces", "serve",
                               "--port", str(port), "--db", str(mailroom.db)],
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                              stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        assert "receiving bounces for @" in server.stderr.readline()
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail("", [verp], dsn("x@example.net", "reader0009@example.org", "<x@y>"))
    finally:
        time.sleep(0.1)
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert "1 message(s) read: 1 hard (suppressed)" in err
    assert "Traceback" not in err
    assert status(mailroom.db, "reader0009@example.org") == ("unsubscribed", "hard")


@pytest.mark.parametrize(("args", "error"), [
    (["bounces", "fetch"], "error: PUBLISHER_IMAP_HOST is not set"),
    (["bounces", "read", "nowhere"], "error: nowhere: cannot read"),
    (["bounces", "serve"], "error: PUBLISHER_BOUNCE_DOMAIN is not set"),
])
def test_the_commands_say_what_is_missing_in_one_line(mailroom: Mailroom, args: list[str],
                                                      error: str) -> None:
    run = mailroom.cli(*args, "--db", str(mailroom.db))
    assert run.status == 1 and "Traceback" not in run.err
    assert len(run.err_lines) == 1 and run.err_lines[0].startswith(error), run.err


def test_no_store_no_intake(tmp_path: Path, cli: object, monkeypatch: pytest.MonkeyPatch
                            ) -> None:
    monkeypatch.setenv("PUBLISHER_SECRET", SECRET)
    run = cli("bounces", "read", str(tmp_path), "--db",  # type: ignore[operator]
              str(tmp_path / "none.sqlite"))
    assert run.status == 1
    assert run.err_lines == [f"error: {tmp_path / 'none.sqlite'}: no subscriber store here: "
                             "import a CSV first ('publisher subscribers import FILE.csv')"]
