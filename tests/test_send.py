"""``publisher send`` against a real SMTP server (aiosmtpd), with faults and crashes."""

from __future__ import annotations

import email
import email.policy
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import trustme

import store_support
from mailroom import (  # the fixture: conftest
    MONTH,
    SECRET,
    Mailroom,
    check_message,
    ledger_lines,
    make_store,
)
from publisher.deliver import tokens
from send_support import Recorder, bodies, free_port, parse_header, smtp_server


@pytest.mark.parametrize("mailroom", store_support.BOTH, indirect=True)
def test_every_subscriber_gets_exactly_one_message(mailroom: Mailroom) -> None:
    recorder = Recorder()
    with smtp_server(recorder) as port:
        run = mailroom.send("--connections", "2", port=port)
        assert run.status == 0, run.err
        assert mailroom.send(port=port).status == 0  # a rerun sends nothing more
    assert "2023-08: 1000 sent, 0 deferred, 0 failed, 0 in doubt, 0 not yet sent" in run.err
    assert recorder.per_rcpt() == {a: 1 for a in mailroom.addresses}
    ledger = mailroom.ledger()
    headers = set()
    for received in recorder.received:
        msg_id = check_message(received.data, received.rcpt)  # the one full parse
        assert ledger[received.rcpt][:2] == ("sent", msg_id)
        headers.add(parse_header(received.data, "Date"))
    assert len({r.message_id for r in recorder.received}) == 1000
    # a numeric zone: RFC 5322 4.3 forbids generating the obsolete "GMT"
    assert all(re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000", h)
               for h in headers), headers
    dates = {parsedate_to_datetime(h) for h in headers}
    # when sent (this test's minutes), not the issue's date
    assert len(dates) == 1
    assert abs((dates.pop() - datetime.now(UTC)).total_seconds()) < 600
    status = mailroom.send("--status")
    assert ledger_lines(status.out) == ["2023-08: 0 pending, 0 sending, 1000 sent, "
                                        "0 deferred, 0 failed, 0 in doubt"]


@pytest.mark.parametrize("mailroom", store_support.BOTH, indirect=True)
def test_faults_lose_nothing_and_duplicate_nothing(mailroom: Mailroom) -> None:
    rejected = {"reader0013@example.org", "reader0500@example.org", "reader0999@example.org"}
    recorder = Recorder(temp_fail_every=7, reject=frozenset(rejected), drop_at=frozenset({400}))
    mailroom.monkeypatch.setenv("PUBLISHER_SMTP_RETRIES", "12")
    with smtp_server(recorder) as port:
        run = mailroom.send("--connections", "2", port=port)
        # the connection dropped after the data of message 400: in doubt, not sent again
        assert run.status == 1, run.err
        ledger = mailroom.ledger()
        [doubt] = [a for a, (state, *_) in ledger.items() if state == "doubt"]
        assert doubt not in recorder.per_rcpt()  # this server drops the message it was given
        assert recorder.per_rcpt() == {a: 1 for a in mailroom.addresses
                                       if a not in rejected | {doubt}}
        assert run.err_lines[-1] == (
            "error: 1 message(s) in doubt (the connection was lost after the server had them):"
            " 'publisher send 2023-08 --status' lists them, --resend-in-doubt sends them again")
        assert mailroom.send(port=port).status == 0  # a plain rerun leaves it alone
        assert doubt not in recorder.per_rcpt()
        again = mailroom.send("--resend-in-doubt", port=port)  # the operator's decision
        assert again.status == 0, again.err
    assert recorder.per_rcpt() == {a: 1 for a in mailroom.addresses if a not in rejected}
    ledger = mailroom.ledger()
    assert ledger[doubt][:3:2] == ("sent", 1)
    for address in rejected:
        assert ledger[address][0] == "failed"
        assert ledger[address][3] == f"550 5.1.1 <{address}>: mailbox unavailable"
        assert f"warning: {address}: failed: 550 5.1.1 <{address}>: mailbox unavailable" \
            in run.err_lines
    assert sum(state == "sent" for state, *_ in ledger.values()) == 997
    assert recorder.transactions > 1000 + 1000 // 7  # the 451s and the drop were retried
    assert "lost (Connection unexpectedly closed): reconnecting" in run.err


@pytest.mark.parametrize("mailroom", store_support.BOTH, indirect=True)
def test_retry_failed_sends_the_refused_messages_once_and_nothing_else(
        mailroom: Mailroom) -> None:
    refused = {"reader0013@example.org", "reader0500@example.org", "reader0777@example.org"}
    gone = "reader0777@example.org"
    with smtp_server(Recorder(reject=frozenset(refused))) as port:
        assert mailroom.send(port=port).status == 0
        plain_rerun = Recorder()
    with smtp_server(plain_rerun) as port:
        assert mailroom.send(port=port).status == 0
    assert plain_rerun.received == []  # a refusal stays a refusal without --retry-failed
    before = mailroom.ledger()
    assert mailroom.cli("subscribers", "unsubscribe", gone, "--db", str(mailroom.db)).status == 0
    recorder = Recorder()
    with smtp_server(recorder) as port:
        run = mailroom.send("--retry-failed", port=port)
    assert run.status == 0, run.err
    assert "2 message(s) the server refused before are sent again" in run.err
    assert recorder.per_rcpt() == {a: 1 for a in refused - {gone}}
    after = mailroom.ledger()
    for address in refused - {gone}:
        assert after[address][:2] == ("sent", before[address][1])  # the same Message-ID
    assert after[gone][0] == "failed"  # unsubscribed since: not mailed again
    assert mailroom.send("--status").out.splitlines()[0] == (
        "2023-08: 0 pending, 0 sending, 999 sent, 0 deferred, 1 failed, 0 in doubt")
    usage = mailroom.send("--retry-failed", "--status")
    assert usage.status == 2 and "--retry-failed goes with a real send" in usage.err


@pytest.mark.subscribers(200)  # a property of each message, not of the count
def test_an_international_address_is_mailed_with_smtputf8(mailroom: Mailroom) -> None:
    eai = "홍길동@example.org"
    extra = mailroom.db.with_name("extra.csv")
    extra.write_text(f"email,name\n{eai},홍길동\n", encoding="utf-8")
    assert mailroom.cli("subscribers", "import", str(extra), "--db", str(mailroom.db)).status == 0
    recorder = Recorder()
    with smtp_server(recorder) as port:
        run = mailroom.send(port=port)
    assert run.status == 0, run.err
    assert recorder.per_rcpt()[eai] == 1 and len(recorder.received) == 201
    [mail] = [r for r in recorder.received if r.rcpt == eai]
    assert "SMTPUTF8" in mail.mail_options
    ascii_mail = next(r for r in recorder.received if r.rcpt != eai)
    assert "SMTPUTF8" not in ascii_mail.mail_options  # only where it is needed
    # UTF-8 headers (RFC 6532): read as text, not as bytes (which takes them as ASCII)
    msg = email.message_from_string(mail.data.decode("utf-8"), policy=email.policy.default)
    assert [a.addr_spec for a in msg["To"].addresses] == [eai]
    assert msg["To"].addresses[0].display_name == "홍길동"
    text, _ = bodies(msg)
    assert f"sent to {eai}" in text and "Dear 홍길동," in text
    link = msg["List-Unsubscribe"].split(", ")[1].strip("<>")
    query = parse_qs(urlsplit(link).query)
    assert query["address"] == [eai]
    assert tokens.verify(eai, "korea", query["token"][0], SECRET.encode())


@pytest.mark.subscribers(200)  # a property of each message, not of the count
def test_a_server_without_smtputf8_fails_only_the_international_address(
        mailroom: Mailroom) -> None:
    eai = "독자@example.org"
    extra = mailroom.db.with_name("extra.csv")
    extra.write_text(f"email,name\n{eai},\n", encoding="utf-8")
    assert mailroom.cli("subscribers", "import", str(extra), "--db", str(mailroom.db)).status == 0
    recorder = Recorder()
    with smtp_server(recorder, smtputf8=False) as port:
        run = mailroom.send(port=port)
    assert run.status == 0, run.err
    assert eai not in recorder.per_rcpt() and len(recorder.received) == 200
    state, _, _, reply = mailroom.ledger()[eai]
    assert state == "failed"
    assert reply.endswith("does not take international addresses (no SMTPUTF8)")


def test_a_server_that_goes_away_stops_the_send_and_marks_nothing_unsent(
        mailroom: Mailroom) -> None:
    recorder = Recorder(vanish_at=300)
    with smtp_server(recorder) as port:
        run = mailroom.send(port=port)
    assert run.status == 1
    assert run.err_lines[-1] == (
        f"error: lost the SMTP server 127.0.0.1:{port} (Connection unexpectedly closed) and "
        "could not reconnect; 1 message(s) in doubt (the connection was lost after the server "
        "had them): 'publisher send 2023-08 --status' lists them, --resend-in-doubt sends "
        "them again; run 'publisher send 2023-08' again to send the rest")
    ledger = mailroom.ledger()
    sent = {a for a, (state, *_) in ledger.items() if state == "sent"}
    assert sent == set(recorder.per_rcpt()) and len(sent) == 299
    assert [a for a, (state, *_) in ledger.items() if state == "doubt"] == [
        mailroom.addresses[299]]  # the 300th message's connection was cut after its data
    assert all(state == "pending" for a, (state, *_) in ledger.items()
               if a not in sent and a != mailroom.addresses[299])
    again = Recorder()
    with smtp_server(again) as port:
        assert mailroom.send(port=port).status == 0
    assert set(again.per_rcpt()) == set(mailroom.addresses[300:])
    assert max(again.per_rcpt().values()) == 1


@pytest.mark.subscribers(200)  # a property of each message, not of the count
@pytest.mark.parametrize("mailroom", store_support.BOTH, indirect=True)
def test_deferred_messages_wait_for_the_next_run(mailroom: Mailroom) -> None:
    busy = "reader0042@example.org"
    mailroom.monkeypatch.setenv("PUBLISHER_SMTP_RETRIES", "3")
    with smtp_server(Recorder(busy=frozenset({busy}))) as port:
        run = mailroom.send(port=port)
    assert run.status == 1
    assert run.err_lines[-1] == ("error: 1 message(s) deferred: run 'publisher send 2023-08' "
                                 "again later")
    assert mailroom.ledger()[busy][0] == "deferred"
    status = ledger_lines(mailroom.send("--status").out)
    assert status == ["2023-08: 0 pending, 0 sending, 199 sent, 1 deferred, 0 failed, 0 in doubt",
                      f"deferred  {busy}  after 3 attempt(s): 451 4.2.1 mailbox busy, try "
                      "later"]
    recorder = Recorder()
    with smtp_server(recorder) as port:
        assert mailroom.send(port=port).status == 0
    assert recorder.per_rcpt() == {busy: 1}
    assert mailroom.ledger()[busy][0] == "sent"


@pytest.mark.subscribers(200)  # a property of each message, not of the count
@pytest.mark.parametrize("mailroom", store_support.BOTH, indirect=True)
def test_unsubscribed_addresses_are_not_mailed(mailroom: Mailroom) -> None:
    gone, busy = "reader0007@example.org", "reader0008@example.org"
    assert mailroom.cli("subscribers", "unsubscribe", gone, "--db", str(mailroom.db)).status == 0
    mailroom.monkeypatch.setenv("PUBLISHER_SMTP_RETRIES", "2")
    recorder = Recorder(busy=frozenset({busy}))
    with smtp_server(recorder) as port:
        assert mailroom.send(port=port).status == 1  # busy is deferred
    assert gone not in recorder.per_rcpt() and len(recorder.received) == 198
    assert mailroom.cli("subscribers", "unsubscribe", busy, "--db", str(mailroom.db)).status == 0
    recorder = Recorder()
    with smtp_server(recorder) as port:
        assert mailroom.send(port=port).status == 0  # unsubscribed while deferred: done
    assert recorder.received == []
    assert ledger_lines(mailroom.send("--status").out) == [
        "2023-08: 0 pending, 0 sending, 198 sent, 0 deferred, 0 failed, 0 in doubt"]


@pytest.mark.subscribers(200)  # a property of each message, not of the count
@pytest.mark.parametrize("mailroom", store_support.BOTH, indirect=True)
def test_dry_run_writes_messages_and_sends_nothing(mailroom: Mailroom, tmp_path: Path) -> None:
    recorder = Recorder()
    with smtp_server(recorder) as port:
        run = mailroom.send("--dry-run", str(tmp_path / "out"), port=port)
    assert run.status == 0
    files = sorted((tmp_path / "out").iterdir())
    assert len(files) == 200 and recorder.received == []
    assert check_message(files[5].read_bytes(), "reader0005@example.org")
    assert mailroom.ledger() == {}


def test_proof_goes_to_one_address_outside_the_ledger(mailroom: Mailroom) -> None:
    recorder = Recorder()
    with smtp_server(recorder) as port:
        run = mailroom.send("--test", "Reader0003@Example.org", port=port)
    assert run.status == 0, run.err
    assert [r.rcpt for r in recorder.received] == ["reader0003@example.org"]
    check_message(recorder.received[0].data, "reader0003@example.org")
    assert mailroom.ledger() == {}


# -- bad input ----------------------------------------------------------------------

def assert_nothing_done(mailroom: Mailroom, recorder: Recorder) -> None:
    assert recorder.received == []
    assert mailroom.ledger() == {}


def test_unknown_month(mailroom: Mailroom) -> None:
    recorder = Recorder()
    with smtp_server(recorder) as port:
        mailroom.monkeypatch.setenv("PUBLISHER_SMTP_PORT", str(port))
        run = mailroom.cli("send", "2031-01", "--db", str(mailroom.db), paths=mailroom.paths)
    assert run.status == 1 and len(run.err_lines) == 1
    assert run.err_lines[0].startswith("error: no issue 2031-01 in ")
    assert_nothing_done(mailroom, recorder)


def test_missing_email(mailroom: Mailroom) -> None:
    (mailroom.paths.dist / MONTH / "email.eml").unlink()
    recorder = Recorder()
    with smtp_server(recorder) as port:
        run = mailroom.send(port=port)
    assert (run.status, run.err_lines) == (1, [
        f"error: {mailroom.paths.dist.name}/2023-08/email.eml: not built yet: run "
        "'publisher build MONTH' first"])
    assert_nothing_done(mailroom, recorder)


def test_missing_secret(mailroom: Mailroom) -> None:
    mailroom.monkeypatch.delenv("PUBLISHER_SECRET")
    recorder = Recorder()
    with smtp_server(recorder) as port:
        run = mailroom.send(port=port)
    assert run.status == 1 and len(run.err_lines) == 1
    assert run.err_lines[0].startswith("error: PUBLISHER_SECRET is not set")
    assert_nothing_done(mailroom, recorder)


# aiosmtpd warns that AUTH without TLS is unsafe: this test server listens on 127.0.0.1 only.
@pytest.mark.subscribers(200)  # a property of each message, not of the count
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_wrong_password(mailroom: Mailroom) -> None:
    mailroom.monkeypatch.setenv("PUBLISHER_SMTP_USER", "publisher")
    mailroom.monkeypatch.setenv("PUBLISHER_SMTP_PASSWORD", "wrong")
    recorder = Recorder()
    with smtp_server(recorder, user="publisher", password="right") as port:
        run = mailroom.send(port=port)
        assert (run.status, run.err_lines) == (1, [
            f"error: the SMTP server 127.0.0.1:{port} refused the login of 'publisher': "
            "535 5.7.8 Authentication credentials invalid; nothing was sent"])
        assert "wrong" not in run.err
        assert_nothing_done(mailroom, recorder)
        mailroom.monkeypatch.setenv("PUBLISHER_SMTP_PASSWORD", "right")
        assert mailroom.send(port=port).status == 0
    assert len(recorder.received) == 200


# With mode "ssl" aiosmtpd warns of AUTH without TLS: it counts only STARTTLS as TLS.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_tls_with_login(mailroom: Mailroom, tmp_path: Path, mode: str) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    for key, value in (("PUBLISHER_SMTP_TLS", mode), ("PUBLISHER_SMTP_USER", "publisher"),
                       ("PUBLISHER_SMTP_PASSWORD", "right")):
        mailroom.monkeypatch.setenv(key, value)
    recorder = Recorder()
    with smtp_server(recorder, user="publisher", password="right", tls=mode,
                     context=server_context) as port:
        run = mailroom.send("--test", "reader0001@example.org", port=port)  # CA not trusted
        assert run.status == 1 and len(run.err_lines) == 1
        assert f"cannot reach the SMTP server 127.0.0.1:{port}: " in run.err_lines[0]
        assert "CERTIFICATE_VERIFY_FAILED" in run.err_lines[0]
        ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        mailroom.monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
        run = mailroom.send("--test", "reader0001@example.org", port=port)
    assert run.status == 0, run.err
    assert [r.rcpt for r in recorder.received] == ["reader0001@example.org"]


def test_unreachable_server(mailroom: Mailroom) -> None:
    run = mailroom.send(port=free_port())
    assert run.status == 1 and len(run.err_lines) == 1
    assert run.err_lines[0].startswith("error: cannot reach the SMTP server 127.0.0.1:")
    assert run.err_lines[0].endswith(": Connection refused; nothing was sent")
    assert mailroom.ledger() == {}


@pytest.mark.subscribers(200)  # a property of each message, not of the count
def test_one_send_at_a_time(mailroom: Mailroom) -> None:
    from publisher.deliver import subscribers
    from publisher.deliver.lease import Lease

    store = subscribers.connect(mailroom.db)
    holder = Lease(MONTH)  # as a running send (this live process) holds it
    holder.acquire(store)
    started = store.execute("SELECT started FROM send_leases").fetchone()[0]
    recorder = Recorder()
    with smtp_server(recorder) as port:
        run = mailroom.send(port=port)
        assert (run.status, run.err_lines) == (1, [
            f"error: the send of 2023-08 is already running (process {os.getpid()} on "
            f"{socket.gethostname()}, since {started}): wait for it to end, or stop it"])
        assert recorder.received == []
        holder.release(store)
        assert mailroom.send(port=port).status == 0
    store.close()
    assert len(recorder.received) == 200


def test_no_smtp_host(mailroom: Mailroom) -> None:
    mailroom.monkeypatch.delenv("PUBLISHER_SMTP_HOST")
    run = mailroom.send()
    assert run.status == 1
    assert run.err_lines == ["error: PUBLISHER_SMTP_HOST is not set: name the SMTP server "
                             "(and PUBLISHER_SMTP_PORT, _TLS, _USER, _PASSWORD)"]


# -- crash safety -------------------------------------------------------------------

@pytest.mark.subscribers(150)  # the store it resets to, trial after trial
@pytest.mark.parametrize("mailroom", store_support.BOTH, indirect=True)
def test_sigkill_at_any_moment_then_rerun_completes(mailroom: Mailroom, tmp_path: Path) -> None:
    """Kill the send with SIGKILL at random moments; the rerun finishes the job, and the
    only duplicates are messages the ledger lists as in flight at the kill."""
    addresses = mailroom.addresses[:150]
    pristine = tmp_path / "pristine.sqlite"
    make_store(pristine, addresses)

    def reset() -> None:
        if isinstance(mailroom.db, Path):
            shutil.copy(pristine, mailroom.db)
            return
        from publisher.deliver import subscribers
        with subscribers.connect(mailroom.db) as conn:
            conn.execute("TRUNCATE deliveries, send_leases, send_runs, bounce_events, "
                         "suppressions, subscribers RESTART IDENTITY")
        make_store(mailroom.db, addresses, tmp_path / "pristine.csv")

    rng = random.Random(20230801)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    interrupted = 0
    for trial in range(12):
        reset()
        recorder = Recorder(delay=0.002)
        with smtp_server(recorder) as port:
            env["PUBLISHER_SMTP_PORT"] = str(port)
            proc = subprocess.Popen(mailroom.argv("--connections", "2", "--rate", "400"),
                                    env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            # two kills while the command starts, the rest after a random number of messages
            target = -1 if trial < 2 else rng.randrange(1, len(addresses))
            deadline = time.monotonic() + (rng.uniform(0.0, 0.5) if target < 0 else 30.0)
            while (len(recorder.received) < max(target, 1) and proc.poll() is None
                   and time.monotonic() < deadline):
                time.sleep(0.001)
            time.sleep(rng.uniform(0.0, 0.003))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            before = len(recorder.received)
            run = mailroom.send("--connections", "2", port=port)
            assert run.status == 0, (trial, run.err)
        counts = recorder.per_rcpt()
        ledger = mailroom.ledger()
        in_doubt = {a for a, (state, _, doubt, _) in ledger.items() if doubt}
        assert all(ledger[a][:3:2] == ("doubt", 1) for a in in_doubt), trial
        assert all(ledger[a][0] == "sent" for a in set(addresses) - in_doubt), trial
        # nobody missing but the messages handed over at the kill, nobody mailed twice
        assert set(addresses) - in_doubt <= set(counts), trial
        assert max(counts.values()) == 1 and len(in_doubt) <= 2, trial  # one per connection
        for address, ids in recorder.message_ids().items():
            assert ids == {ledger[address][1]}
        status = mailroom.send("--status").out
        for address in in_doubt:
            assert f"in doubt  {address}  {ledger[address][1]}  not confirmed: 0 or 1 copy, " \
                f"at most 0 extra (1 hand-over(s) with no reply)" in status
        interrupted += 0 < before < len(addresses)
    assert interrupted >= 8  # most kills landed in the middle of a send


def test_dry_run_onto_a_file_is_one_line(mailroom: Mailroom, tmp_path: Path) -> None:
    target = tmp_path / "out.eml"
    target.write_bytes(b"kept")
    run = mailroom.send("--dry-run", str(target))
    assert run.status == 1 and "Traceback" not in run.err
    (line,) = [x for x in run.err.splitlines() if x.startswith("error:")]
    assert "out.eml: is not a folder" in line
    assert target.read_bytes() == b"kept" and mailroom.ledger() == {}
