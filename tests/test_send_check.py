"""``publisher send MONTH --check``: each finding against a local DNS zone (dnslib,
tests/dns_support.py, named by PUBLISHER_DNS_SERVER) with each record right and each
wrong, the real SMTP server of the tests, and a real POST to the unsubscribe endpoint
served by the site's WSGI application on 127.0.0.1."""

from __future__ import annotations

import re
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import trustme

from conftest import Run
from dns_support import DKIM_DOMAIN, LocalDNS, publish
from mailroom import SECRET, Mailroom
from publisher.deliver import check
from publisher.deliver import dkim as signer
from publisher.deliver.db import masked
from publisher.site.app import make_preview_server, site_application
from send_support import Recorder, fake_eml, free_port, smtp_server

DOMAIN = DKIM_DOMAIN
BOUNCES = f"bounces.{DOMAIN}"
DMARC = "v=DMARC1; p=quarantine; rua=mailto:dmarc@webzine.example.org"


@dataclass
class Checker:
    mailroom: Mailroom
    dns: LocalDNS
    key: signer.NewKey
    endpoint: int  # the port of the site's application

    def run(self, *, smtp_port: int | None = None) -> Run:
        recorder = Recorder()
        if smtp_port is not None:
            return self.mailroom.send("--check", port=smtp_port)
        with smtp_server(recorder) as port:
            found = self.mailroom.send("--check", port=port)
        assert recorder.received == []  # --check sends nothing
        return found

    def publish_all(self, spf: str = "v=spf1 ip4:127.0.0.1 -all", dmarc: str = DMARC) -> None:
        if spf:
            self.dns.add(BOUNCES, "TXT", spf)
        self.publish_key()
        if dmarc:
            self.dns.add(f"_dmarc.{DOMAIN}", "TXT", dmarc)

    def publish_key(self, key: signer.NewKey | None = None, name: str = "") -> None:
        publish(self.dns, (key or self.key).record, name)


def lines(run: Run) -> dict[str, str]:
    """what -> 'level: text' of each finding."""
    found = {}
    for line in run.out.splitlines():
        level, what, text = line.split(": ", 2)
        found[what] = f"{level}: {text}"
    return found


@pytest.fixture
def checker(mailroom: Mailroom, dns_server: LocalDNS,
            dkim_keys: dict[str, signer.NewKey]) -> Iterator[Checker]:
    paths = mailroom.paths
    port = free_port()
    toml = paths.issues / "publication.toml"
    toml.write_text(re.sub(r'(?m)^base_url = .*$', f'base_url = "http://127.0.0.1:{port}"',
                           toml.read_text()))
    (paths.dist / "site").mkdir(parents=True)
    (paths.dist / "site" / "index.html").write_text("<!doctype html><title>x</title>")
    app = site_application(paths, mailroom.db, {"PUBLISHER_SECRET": SECRET})
    server = make_preview_server(app, port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = mailroom.monkeypatch.setenv
    env("PUBLISHER_DNS_SERVER", f"127.0.0.1:{dns_server.port}")
    env("PUBLISHER_BOUNCE_DOMAIN", BOUNCES)
    env("PUBLISHER_DKIM_KEY", str(dkim_keys["news"].path))
    env("PUBLISHER_DKIM_SELECTOR", "news")
    env("PUBLISHER_DKIM_DOMAIN", DOMAIN)
    try:
        yield Checker(mailroom, dns_server, dkim_keys["news"], port)
    finally:
        server.shutdown()
        server.server_close()


def test_everything_right(checker: Checker) -> None:
    checker.publish_all()
    run = checker.run()
    found = lines(run)
    assert run.status == 0, run.out + run.err
    assert found["SPF"].startswith(f"ok: {BOUNCES}'s record covers the relay 127.0.0.1")
    assert found["DKIM"] == (f"ok: news._domainkey.{DOMAIN} publishes this key (ed25519); a "
                             "signed probe verifies")
    assert found["DMARC"] == (f"ok: _dmarc.{DOMAIN}: {DMARC} (DKIM and SPF aligned with "
                              f"{DOMAIN})")
    assert found["SMTP"].startswith("warning: ") and "without TLS" in found["SMTP"]
    assert found["one-click"] == (f"ok: http://127.0.0.1:{checker.endpoint}/unsubscribe "
                                  "answers a one-click POST (200)")
    assert found["size"].startswith("ok: the HTML is ")
    assert found["complaints"] == "ok: no mailing sent yet"
    assert list(found) == ["SPF", "DKIM", "DMARC", "SMTP", "one-click", "size", "complaints"]


@pytest.mark.parametrize(("spf", "error"), [
    ("", f"{BOUNCES} has no SPF record"),
    ("v=spf1 ip4:198.51.100.7 -all", f"{BOUNCES}'s record does not cover the relay 127.0.0.1"),
    ("v=spf1 ip4:127.0.0.1 -all|v=spf1 a -all", f"{BOUNCES} has 2 SPF records"),
])
def test_spf_wrong(checker: Checker, spf: str, error: str) -> None:
    checker.publish_all(spf="")
    for record in filter(None, spf.split("|")):
        checker.dns.add(BOUNCES, "TXT", record)
    run = checker.run()
    assert run.status == 1
    assert lines(run)["SPF"].startswith(f"error: {error}")
    assert lines(run)["DKIM"].startswith("ok: ")


@pytest.mark.parametrize("spf", [
    "v=spf1 a:relay.webzine.example.org -all",
    "v=spf1 include:_spf.webzine.example.org -all",
    "v=spf1 mx ~all",
    "v=spf1 redirect=_spf.webzine.example.org",
])
def test_spf_through_names(checker: Checker, spf: str) -> None:
    checker.publish_all(spf=spf)
    checker.dns.add("relay.webzine.example.org", "A", "127.0.0.1")
    checker.dns.add("_spf.webzine.example.org", "TXT", "v=spf1 a:relay.webzine.example.org -all")
    checker.dns.add(BOUNCES, "MX", ("relay.webzine.example.org", 10))
    assert lines(checker.run())["SPF"].startswith("ok: ")


def test_spf_of_a_provider_is_its_include(dns_server: LocalDNS) -> None:
    resolver = check.Dns(f"127.0.0.1:{dns_server.port}")
    dns_server.add(BOUNCES, "TXT", "v=spf1 include:amazonses.com ~all")
    relay = "email-smtp.eu-west-1.amazonaws.com"
    assert check.spf(resolver, BOUNCES, relay).level == check.OK
    dns_server.add("bounces2.example.org", "TXT", "v=spf1 include:spf.mtasv.net ~all")
    found = check.spf(resolver, "bounces2.example.org", relay)
    assert (found.level, found.text.split(": add ")[1]) == (check.ERROR, "include:amazonses.com")


def test_dkim_not_published_or_another_key(checker: Checker,
                                           dkim_keys: dict[str, signer.NewKey]) -> None:
    checker.publish_all()
    checker.mailroom.monkeypatch.setenv("PUBLISHER_DKIM_SELECTOR", "missing")
    run = checker.run()
    assert run.status == 1
    assert lines(run)["DKIM"].startswith(f"error: no key is published at missing._domainkey."
                                         f"{DOMAIN}")
    checker.publish_key(dkim_keys["other"], f"wrong._domainkey.{DOMAIN}.")
    checker.mailroom.monkeypatch.setenv("PUBLISHER_DKIM_SELECTOR", "wrong")
    run = checker.run()
    assert lines(run)["DKIM"].startswith(f"error: the key published at wrong._domainkey."
                                         f"{DOMAIN} is not the key of")


def test_no_dkim_at_all(checker: Checker) -> None:
    checker.publish_all()
    for name in ("PUBLISHER_DKIM_KEY", "PUBLISHER_DKIM_SELECTOR", "PUBLISHER_DKIM_DOMAIN"):
        checker.mailroom.monkeypatch.delenv(name)
    run = checker.run()
    assert run.status == 1
    assert lines(run)["DKIM"].startswith("error: messages are not signed")
    assert lines(run)["DMARC"].startswith("ok: ") and "(SPF aligned" in lines(run)["DMARC"]


@pytest.mark.parametrize(("dmarc", "error"), [
    ("", f"error: no DMARC record at _dmarc.{DOMAIN}"),
    ("v=DMARC1; rua=mailto:d@webzine.example.org", "error: _dmarc.webzine.example.org has no "
                                                   "policy"),
])
def test_dmarc_missing(checker: Checker, dmarc: str, error: str) -> None:
    checker.publish_all(dmarc=dmarc)
    run = checker.run()
    assert run.status == 1 and lines(run)["DMARC"].startswith(error)


def test_dmarc_at_the_parent_domain_and_alignment(checker: Checker) -> None:
    checker.publish_all(dmarc="")
    checker.dns.add("_dmarc.example.org", "TXT", "v=DMARC1; p=reject; aspf=s")
    found = lines(checker.run())["DMARC"]
    # strict SPF: bounces.webzine.example.org is not webzine.example.org; DKIM (relaxed) is
    assert found == (f"ok: _dmarc.example.org: v=DMARC1; p=reject; aspf=s (DKIM aligned with "
                     f"{DOMAIN})")


def test_dmarc_not_aligned(checker: Checker, dkim_keys: dict[str, signer.NewKey]) -> None:
    checker.publish_all()
    checker.mailroom.monkeypatch.setenv("PUBLISHER_BOUNCE_DOMAIN", "bounces.other.example.net")
    checker.dns.add("bounces.other.example.net", "TXT", "v=spf1 ip4:127.0.0.1 -all")
    checker.dns.add(f"_dmarc.{DOMAIN}", "TXT", "v=DMARC1; p=none; adkim=s")
    checker.mailroom.monkeypatch.setenv("PUBLISHER_DKIM_DOMAIN", "other.example.net")
    checker.publish_key(dkim_keys["news"], "news._domainkey.other.example.net.")
    run = checker.run()
    assert run.status == 1
    assert lines(run)["DMARC"].startswith("error: neither DKIM (d=other.example.net) nor SPF "
                                          "(bounces.other.example.net) is aligned")


def test_one_click_endpoint_down_or_refusing(checker: Checker) -> None:
    checker.publish_all()
    toml = checker.mailroom.paths.issues / "publication.toml"
    toml.write_text(toml.read_text().replace(f":{checker.endpoint}", f":{free_port()}"))
    run = checker.run()
    assert run.status == 1
    assert lines(run)["one-click"].startswith("error: the unsubscribe endpoint did not answer")
    toml.write_text(re.sub(r":\d+\"", f':{checker.endpoint}"', toml.read_text()))
    checker.mailroom.monkeypatch.setenv("PUBLISHER_SECRET", "another-secret-0123456789")
    run = checker.run()  # the endpoint knows another secret: 400 for this token
    assert lines(run)["one-click"].startswith("error: the unsubscribe endpoint answered a "
                                              "one-click POST with 400")


def test_a_message_gmail_would_clip(checker: Checker) -> None:
    checker.publish_all()
    eml = checker.mailroom.paths.dist / "2023-08" / "email.eml"
    eml.write_bytes(fake_eml(padding=1500))
    run = checker.run()
    assert run.status == 0  # close: a warning
    assert lines(run)["size"] == "warning: the HTML is 93 KB, close to Gmail's 102 KB clip"
    eml.write_bytes(fake_eml(padding=2000))
    run = checker.run()
    assert run.status == 1
    assert re.match(r"error: the HTML is \d+ KB: Gmail clips it past 102 KB",
                    lines(run)["size"])


def test_starttls_and_login(checker: Checker, tmp_path: Path) -> None:
    checker.publish_all()
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    for key, value in (("PUBLISHER_SMTP_TLS", "starttls"), ("PUBLISHER_SMTP_USER", "publisher"),
                       ("PUBLISHER_SMTP_PASSWORD", "right"),
                       ("SSL_CERT_FILE", str(tmp_path / "ca.pem"))):
        checker.mailroom.monkeypatch.setenv(key, value)
    with smtp_server(Recorder(), user="publisher", password="right", tls="starttls",
                     context=context) as port:
        assert lines(checker.run(smtp_port=port))["SMTP"] == (
            f"ok: 127.0.0.1:{port}: STARTTLS and the login of 'publisher'")
        checker.mailroom.monkeypatch.setenv("PUBLISHER_SMTP_PASSWORD", "wrong")
        run = checker.run(smtp_port=port)
    assert run.status == 1
    assert lines(run)["SMTP"].startswith(f"error: the SMTP server 127.0.0.1:{port} refused the "
                                         "login of 'publisher'")


@pytest.mark.parametrize("value", ["nonsense", "127.0.0.1:99999", "dns.example.org"])
def test_a_bad_resolver_setting_is_one_line(checker: Checker, value: str) -> None:
    checker.mailroom.monkeypatch.setenv("PUBLISHER_DNS_SERVER", value)
    run = checker.run()
    assert run.status == 1 and run.out == ""
    assert run.err_lines == [f"error: PUBLISHER_DNS_SERVER is {value!r}: give the resolver's "
                             "address, and a port if not 53 (192.0.2.53 or 127.0.0.1:5353)"]


def test_a_resolver_that_does_not_answer(checker: Checker) -> None:
    checker.mailroom.monkeypatch.setenv("PUBLISHER_DNS_SERVER", f"127.0.0.1:{free_port()}")
    checker.mailroom.monkeypatch.setenv("PUBLISHER_DNS_TIMEOUT", "0.5")
    run = checker.run()
    assert run.status == 1 and "Traceback" not in run.err
    assert lines(run)["SPF"].startswith("error: the resolver did not answer")


def test_the_resolver_timeout_is_a_number_of_seconds(checker: Checker) -> None:
    checker.mailroom.monkeypatch.setenv("PUBLISHER_DNS_TIMEOUT", "soon")
    run = checker.run()
    assert run.status == 1 and run.out == ""
    assert run.err_lines == ["error: PUBLISHER_DNS_TIMEOUT is 'soon': expected a number of "
                             "seconds from 0.1 to 120"]


def test_a_store_not_there_yet_is_said_as_it_is(checker: Checker, pg_url: str,
                                                tmp_path: Path) -> None:
    """No store (an empty PostgreSQL database, no SQLite file), a store with no one
    subscribed: each said as it is, a warning (the other findings all shown, exit 0)."""
    checker.publish_all()

    def check_with(db: str) -> tuple[Run, dict[str, str]]:
        run = replace(checker, mailroom=replace(checker.mailroom, db=db)).run()
        assert run.status == 0, run.out + run.err
        found = lines(run)
        assert list(found) == ["SPF", "DKIM", "DMARC", "SMTP", "one-click", "size", "store"]
        return run, found

    where = masked(pg_url)
    found = check_with(pg_url)[1]
    assert found["store"] == (f"warning: {where} holds no subscriber store yet, so no mailing "
                              "was sent from it: import a CSV first ('publisher subscribers "
                              "import FILE.csv'), or create it with 'publisher db upgrade'")
    missing = tmp_path / "none.sqlite"
    found = check_with(str(missing))[1]
    assert found["store"] == (f"warning: no subscriber store at {missing} yet, so no mailing "
                              "was sent from it: import a CSV first ('publisher subscribers "
                              "import FILE.csv')")
    assert not missing.exists()  # --check creates nothing
    assert checker.mailroom.cli("db", "upgrade", "--db", pg_url).status == 0
    found = check_with(pg_url)[1]
    assert found["store"] == (f"warning: no one is subscribed in {where}, and no mailing was "
                              "sent from it yet: import a CSV first ('publisher subscribers "
                              "import FILE.csv')")
