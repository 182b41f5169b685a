"""``publisher send`` with DKIM and VERP: every message that reaches the real SMTP server
of the tests (aiosmtpd) verifies with dkimpy against the key a local DNS server publishes
(tests/dns_support.py), and its envelope sender names its subscriber and mailing."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import dkim
import pytest
from dkim.util import parse_tag_value

from dns_support import DKIM_DOMAIN, LocalDNS, publish
from mailroom import MONTH, SECRET, Mailroom, check_message
from publisher.deliver import dkim as signer
from publisher.deliver import job, verp
from publisher.deliver.personalise import Template
from publisher.model import Publication
from send_support import Recorder, fake_eml, smtp_server

DOMAIN = DKIM_DOMAIN
BOUNCES = "bounces.webzine.example.org"
SENDER = "newsletter@webzine.example.org"


@pytest.fixture
def keys(dkim_keys: dict[str, signer.NewKey]) -> dict[str, signer.NewKey]:
    """One key of each kind (the session's: dns_support.dkim_keys)."""
    return {signer.RSA: dkim_keys["news-rsa"], signer.ED25519: dkim_keys["news-ed25519"]}


def use_key(mailroom: Mailroom, key: signer.NewKey) -> None:
    mailroom.monkeypatch.setenv("PUBLISHER_DKIM_KEY", str(key.path))
    mailroom.monkeypatch.setenv("PUBLISHER_DKIM_SELECTOR", key.path.name.split(".")[0])
    mailroom.monkeypatch.setenv("PUBLISHER_DKIM_DOMAIN", DOMAIN)


def signed_names(data: bytes) -> list[bytes]:
    head = data.split(b"\r\n\r\n", 1)[0]
    found = re.match(rb"DKIM-Signature:(.*?)\r\n(?![ \t])", head, re.DOTALL)
    assert found, "the signature is the first header"
    tags = parse_tag_value(found.group(1).replace(b"\r\n", b""))
    return [name.strip() for name in tags[b"h"].split(b":")]


def subscriber_ids(db: Path) -> dict[int, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT id, email FROM subscribers"))


@pytest.mark.subscribers(200)
@pytest.mark.parametrize("algorithm", [signer.RSA, signer.ED25519])
def test_every_message_arrives_signed_with_its_own_return_path(
        mailroom: Mailroom, keys: dict[str, signer.NewKey], dns_server: LocalDNS,
        algorithm: str) -> None:
    """200 subscribers (not the mailroom's 1,000): each message is signed and given its
    return path on its own, over two connections at once, so 200 show what 1,000 did."""
    publish(dns_server, keys[algorithm].record)
    use_key(mailroom, keys[algorithm])
    mailroom.monkeypatch.setenv("PUBLISHER_BOUNCE_DOMAIN", BOUNCES)
    recorder = Recorder()
    with smtp_server(recorder) as port:
        run = mailroom.send("--connections", "2", port=port)
    assert run.status == 0, run.err
    assert recorder.per_rcpt() == {a: 1 for a in mailroom.addresses}
    ids = subscriber_ids(mailroom.db)
    for i, received in enumerate(sorted(recorder.received, key=lambda r: r.rcpt)):
        check_message(received.data, received.rcpt)  # personalised as before
        bounced = verp.parse(received.mail_from, SECRET.encode())
        assert bounced is not None and received.mail_from.endswith(f"@{BOUNCES}")
        assert (ids[int(bounced.recipient)], bounced.mailing) == (received.rcpt, MONTH)
        if i % 20 == 0 or i == len(recorder.received) - 1:  # dkimpy takes a while
            assert dkim.verify(received.data, dnsfunc=dns_server.txt_lookup), received.rcpt
    names = signed_names(recorder.received[0].data)
    for header in (b"from", b"to", b"subject", b"date", b"message-id", b"list-unsubscribe",
                   b"list-unsubscribe-post"):
        assert names.count(header) == 2, header  # signed, and oversigned
    assert len({r.mail_from for r in recorder.received}) == len(mailroom.addresses) == 200


@pytest.mark.subscribers(200)
def test_a_signature_breaks_when_the_message_is_changed_on_the_way(
        mailroom: Mailroom, keys: dict[str, signer.NewKey], dns_server: LocalDNS) -> None:
    publish(dns_server, keys[signer.ED25519].record)
    use_key(mailroom, keys[signer.ED25519])
    recorder = Recorder()
    with smtp_server(recorder) as port:
        assert mailroom.send(port=port).status == 0
    data = recorder.received[7].data
    assert dkim.verify(data, dnsfunc=dns_server.txt_lookup)
    other = re.sub(rb"List-Unsubscribe: <mailto:[^>]*>", b"List-Unsubscribe: <mailto:x@y.z>",
                   data)
    assert other != data
    assert not dkim.verify(other, dnsfunc=dns_server.txt_lookup)


@pytest.mark.subscribers(200)
def test_proofs_and_dry_runs_are_signed_too(mailroom: Mailroom, tmp_path: Path,
                                            keys: dict[str, signer.NewKey],
                                            dns_server: LocalDNS) -> None:
    publish(dns_server, keys[signer.RSA].record)
    use_key(mailroom, keys[signer.RSA])
    mailroom.monkeypatch.setenv("PUBLISHER_BOUNCE_DOMAIN", BOUNCES)
    recorder = Recorder()
    with smtp_server(recorder) as port:
        run = mailroom.send("--test", "reader0003@example.org", port=port)
    assert run.status == 0, run.err
    [proof] = recorder.received
    assert dkim.verify(proof.data, dnsfunc=dns_server.txt_lookup)
    assert proof.mail_from == SENDER  # a proof keeps the sender as its return path
    run = mailroom.send("--dry-run", str(tmp_path / "out"))
    assert run.status == 0, run.err
    files = sorted((tmp_path / "out").iterdir())
    assert len(files) == len(mailroom.addresses) == 200
    for path in files[::50]:
        assert dkim.verify(path.read_bytes(), dnsfunc=dns_server.txt_lookup), path.name


@pytest.mark.subscribers(200)
def test_without_the_settings_nothing_is_signed(mailroom: Mailroom) -> None:
    recorder = Recorder()
    with smtp_server(recorder) as port:
        assert mailroom.send(port=port).status == 0
    assert {r.mail_from for r in recorder.received} == {SENDER}
    assert not any(b"DKIM-Signature" in r.data for r in recorder.received)


BAD_KEY = ({"PUBLISHER_DKIM_KEY": "missing.pem", "PUBLISHER_DKIM_SELECTOR": "s1",
            "PUBLISHER_DKIM_DOMAIN": DOMAIN},
           "error: missing.pem: PUBLISHER_DKIM_KEY: cannot read")
HALF_SET = ({"PUBLISHER_DKIM_SELECTOR": "s1"},
            "error: PUBLISHER_DKIM_KEY and PUBLISHER_DKIM_DOMAIN are not set, but "
            "PUBLISHER_DKIM_SELECTOR is")
BAD_DOMAIN = ({"PUBLISHER_BOUNCE_DOMAIN": "not a domain"},
              "error: PUBLISHER_BOUNCE_DOMAIN is 'not a domain'")
SEND, TEST, DRY_RUN = [], ["--test", "ann@example.org"], ["--dry-run", "out"]


@pytest.mark.parametrize(("mode", "case"), [
    (SEND, BAD_KEY), (SEND, HALF_SET), (SEND, BAD_DOMAIN), (TEST, BAD_KEY), (TEST, HALF_SET),
    (DRY_RUN, BAD_KEY), (DRY_RUN, HALF_SET),  # only a real send uses the bounce domain
])
def test_bad_settings_are_one_line_before_anything_is_sent(
        mailroom: Mailroom, tmp_path: Path, mode: list[str],
        case: tuple[dict[str, str], str]) -> None:
    env, error = case
    for key, value in env.items():
        mailroom.monkeypatch.setenv(key, value)
    recorder = Recorder()
    with smtp_server(recorder) as port:
        run = mailroom.send(*mode, port=port)
    assert run.status == 1
    assert len(run.err_lines) == 1 and run.err_lines[0].startswith(error), run.err
    assert "Traceback" not in run.err
    assert recorder.received == [] and mailroom.ledger() == {}
    assert not (tmp_path / "out").exists()


PUBLICATION = Publication(title="KOREA", publisher="KOCIS", language="en",
                          base_url="https://webzine.example.org/korea",
                          sender_name="Webzine KOREA", sender_address=SENDER,
                          postal_address="Seoul")


def test_a_mailing_checks_its_return_paths_when_it_is_made() -> None:
    template, secret = Template(fake_eml(padding=3)), SECRET.encode()
    mailing = job.Mailing(MONTH, template, PUBLICATION, secret, bounce_domain=BOUNCES)
    assert mailing.return_path(4711) == verp.return_path(4711, MONTH, secret, BOUNCES)
    assert job.Mailing(MONTH, template, PUBLICATION, secret).return_path(4711) == (
        template.sender)
    with pytest.raises(ValueError, match="not a domain name"):
        job.Mailing(MONTH, template, PUBLICATION, secret, bounce_domain="localhost")
    with pytest.raises(ValueError, match=r"the mailing '2023\.08'"):
        job.Mailing("2023.08", template, PUBLICATION, secret, bounce_domain=BOUNCES)
