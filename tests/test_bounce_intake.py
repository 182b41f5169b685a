"""Bounces and complaints taken in by every path that reads messages: an IMAP mailbox on
a real server (Dovecot, tests/imap_support.py), a Maildir, an mbox, one message file, and
the inbound SMTP listener (a real SMTP client talking to it).  The samples are the
corpus of tests/data/bounces/ (their README says what each one is)."""

from __future__ import annotations

import mailbox
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from imap_support import Dovecot
from publisher.deliver.bounces import files, imap
from publisher.deliver.bounces.intake import Event, Intake
from publisher.deliver.bounces.listener import Listener
from publisher.deliver.bounces.report import Kind
from publisher.errors import PublisherError
from send_support import free_port

DATA = Path(__file__).resolve().parent / "data" / "bounces"
SECRET = b"bounce-corpus-secret-not-for-production"  # the corpus's (its README)
BOUNCE_DOMAIN = "bounces.example.org"

#: sample -> (kind, address or subscriber id) the intake records; the others are ignored
RECORDED = {
    "postfix-dsn-user-unknown.eml": (Kind.HARD, 101),
    "postfix-dsn-delayed.eml": (Kind.SOFT, 102),
    "exim-failed.eml": (Kind.HARD, 104),
    "qmail-failure.eml": (Kind.HARD, 106),
    "gmail-dsn.eml": (Kind.HARD, 109),
    "ses-dsn.eml": (Kind.HARD, "niaj@example.org"),  # SES: no VERP, the address
    "arf-yahoo.eml": (Kind.COMPLAINT, 114),
    "arf-hotmail-jmrp.eml": (Kind.COMPLAINT, 116),
}
IGNORED = ("autoreply-vacation.eml", "human-reply.eml")
SAMPLES = [*RECORDED, *IGNORED]


class Collector:
    """An intake whose events are collected instead of recorded."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.intake = Intake(SECRET, self._apply)

    def _apply(self, event: Event) -> str:
        self.events.append(event)
        return "collected"

    def found(self) -> dict[str, tuple[Kind, int | str]]:
        return {e.key: (e.kind, e.subscriber_id if e.subscriber_id is not None else e.address)
                for e in self.events}


def expected() -> set[tuple[Kind, int | str]]:
    return set(RECORDED.values())


def test_the_samples_read_as_the_table_says() -> None:
    """The table above, checked directly (the corpus's own test checks the parse)."""
    collector = Collector()
    for name in SAMPLES:
        event = collector.intake.message((DATA / name).read_bytes(), "file")
        if name in IGNORED:
            assert event is None, name
        else:
            assert event is not None, name
            who = event.subscriber_id if event.subscriber_id is not None else event.address
            assert (event.kind, who) == RECORDED[name], name
            assert event.mailing in ("2023-08", "")
    assert collector.intake.counts["ignored (auto-reply)"] == 1


# -- IMAP -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    with Dovecot() as server:
        yield server


def imap_env(server: Dovecot, user: str, **more: str) -> dict[str, str]:
    return {"PUBLISHER_IMAP_HOST": "127.0.0.1", "PUBLISHER_IMAP_PORT": str(server.port),
            "PUBLISHER_IMAP_TLS": "none", "PUBLISHER_IMAP_USER": user,
            "PUBLISHER_IMAP_PASSWORD": server.users[user], **more}


def test_imap_reads_the_unseen_messages_once(dovecot: Dovecot) -> None:
    user, _ = dovecot.add_user()
    for name in SAMPLES:
        dovecot.append(user, (DATA / name).read_bytes())
    settings = imap.ImapSettings.from_env(imap_env(dovecot, user))
    collector = Collector()
    assert imap.fetch(settings, collector.intake.message) == len(SAMPLES)
    assert set(collector.found().values()) == expected()
    assert dovecot.unseen(user) == 0  # each marked seen
    dovecot.append(user, (DATA / "exim-failed.eml").read_bytes())
    again = Collector()
    assert imap.fetch(settings, again.intake.message) == 1  # only what came in since
    assert list(again.found().values()) == [(Kind.HARD, 104)]


def test_imap_reads_another_folder(dovecot: Dovecot) -> None:
    user, _ = dovecot.add_user()
    dovecot.append(user, (DATA / "arf-yahoo.eml").read_bytes(), folder="Bounces")
    collector = Collector()
    settings = imap.ImapSettings.from_env(imap_env(dovecot, user,
                                                   PUBLISHER_IMAP_FOLDER="Bounces"))
    assert imap.fetch(settings, collector.intake.message) == 1
    assert list(collector.found().values()) == [(Kind.COMPLAINT, 114)]


def test_imap_failures_are_one_line(dovecot: Dovecot) -> None:
    user, _ = dovecot.add_user()
    wrong = imap.ImapSettings.from_env(imap_env(dovecot, user,
                                                PUBLISHER_IMAP_PASSWORD="wrong"))
    with pytest.raises(PublisherError, match=f"refused the login of '{user}'"):
        imap.fetch(wrong, Collector().intake.message)
    folder = imap.ImapSettings.from_env(imap_env(dovecot, user, PUBLISHER_IMAP_FOLDER="Nope"))
    with pytest.raises(PublisherError, match="has no folder 'Nope'"):
        imap.fetch(folder, Collector().intake.message)
    closed = imap.ImapSettings.from_env(imap_env(dovecot, user,
                                                 PUBLISHER_IMAP_PORT=str(free_port())))
    with pytest.raises(PublisherError, match="cannot reach the IMAP server"):
        imap.fetch(closed, Collector().intake.message)
    tls = imap.ImapSettings.from_env(imap_env(dovecot, user, PUBLISHER_IMAP_TLS="ssl"))
    with pytest.raises(PublisherError, match="cannot reach the IMAP server"):
        imap.fetch(tls, Collector().intake.message)  # that port speaks no TLS


@pytest.mark.parametrize("mode", ["ssl", "starttls"])
def test_imap_over_tls(dovecot: Dovecot, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    user, _ = dovecot.add_user()
    dovecot.append(user, (DATA / "exim-failed.eml").read_bytes())
    port = dovecot.tls_port if mode == "ssl" else dovecot.port
    settings = imap.ImapSettings.from_env(imap_env(dovecot, user, PUBLISHER_IMAP_TLS=mode,
                                                   PUBLISHER_IMAP_PORT=str(port)))
    with pytest.raises(PublisherError, match="CERTIFICATE_VERIFY_FAILED"):
        imap.fetch(settings, Collector().intake.message)  # the test CA is not trusted
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.ca_file))
    collector = Collector()
    assert imap.fetch(settings, collector.intake.message) == 1
    assert list(collector.found().values()) == [(Kind.HARD, 104)]


@pytest.mark.parametrize(("env", "error"), [
    ({}, "PUBLISHER_IMAP_HOST is not set"),
    ({"PUBLISHER_IMAP_HOST": "h"}, "PUBLISHER_IMAP_USER is not set"),
    ({"PUBLISHER_IMAP_HOST": "h", "PUBLISHER_IMAP_USER": "u", "PUBLISHER_IMAP_TLS": "x"},
     "PUBLISHER_IMAP_TLS is 'x'"),
    ({"PUBLISHER_IMAP_HOST": "h", "PUBLISHER_IMAP_USER": "u", "PUBLISHER_IMAP_PORT": "0"},
     "PUBLISHER_IMAP_PORT is '0'"),
])
def test_imap_settings(env: dict[str, str], error: str) -> None:
    with pytest.raises(PublisherError, match=error):
        imap.ImapSettings.from_env(env)


# -- files ----------------------------------------------------------------------------------


def test_a_maildir_is_read_and_its_new_messages_marked_seen(tmp_path: Path) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for name in SAMPLES:
        box.add((DATA / name).read_bytes())
    collector = Collector()
    assert files.read(tmp_path / "Maildir", collector.intake.message) == len(SAMPLES)
    assert set(collector.found().values()) == expected()
    assert not list((tmp_path / "Maildir" / "new").iterdir())
    assert all(name.endswith(":2,S") for name in
               (p.name for p in (tmp_path / "Maildir" / "cur").iterdir()))
    again = Collector()  # read again: the same reports, with the same keys
    files.read(tmp_path / "Maildir", again.intake.message)
    assert again.found() == collector.found()


def test_an_mbox_and_a_single_message(tmp_path: Path) -> None:
    box = mailbox.mbox(tmp_path / "bounces.mbox", create=True)
    for name in SAMPLES:
        box.add((DATA / name).read_bytes())
    box.close()
    collector = Collector()
    assert files.read(tmp_path / "bounces.mbox", collector.intake.message) == len(SAMPLES)
    assert set(collector.found().values()) == expected()
    one = Collector()
    assert files.read(DATA / "qmail-failure.eml", one.intake.message) == 1
    assert list(one.found().values()) == [(Kind.HARD, 106)]


def test_what_is_no_mailbox(tmp_path: Path) -> None:
    with pytest.raises(PublisherError, match="not a Maildir"):
        files.read(tmp_path, Collector().intake.message)
    with pytest.raises(PublisherError, match="cannot read"):
        files.read(tmp_path / "missing", Collector().intake.message)


# -- the SMTP listener ----------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[tuple[Listener, Collector]]:
    collector = Collector()
    server = Listener(BOUNCE_DOMAIN, collector.intake.message, port=free_port(), max_kb=64)
    server.start()
    try:
        yield server, collector
    finally:
        server.stop()


def test_the_listener_takes_bounces_for_its_domain(
        listener: tuple[Listener, Collector]) -> None:
    server, collector = listener
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        for name in SAMPLES:
            client.sendmail("MAILER-DAEMON@mx.example.net" if "arf" not in name else "",
                            [f"bounces+x@{BOUNCE_DOMAIN}"], (DATA / name).read_bytes())
    assert set(collector.found().values()) == expected()
    assert server.handler.received == len(SAMPLES)


def test_the_listener_is_no_relay_and_has_a_size_limit(
        listener: tuple[Listener, Collector]) -> None:
    server, collector = listener
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.ehlo()
        client.mail("")
        code, reply = client.rcpt("ann@example.org")
        assert code == 550 and b"relaying denied" in reply
        client.rset()
        big = (DATA / "exim-failed.eml").read_bytes() + b"x" * 70_000 + b"\r\n"
        with pytest.raises(smtplib.SMTPException) as refused:
            client.sendmail("", [f"bounces@{BOUNCE_DOMAIN}"], big)
        assert "552" in str(refused.value)
    assert collector.events == []
