"""Readers subscribe themselves: the signup form, its confirmation link, the consent on
record, the outbox and the preference page, through the WSGI application in process
(on SQLite and, where the store's concurrency matters, on a real PostgreSQL), with the
confirmation mail sent to a real SMTP server (aiosmtpd).

The browser, ``publisher serve`` and a killed web process: test_signup_browser.py.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from wsgiref.util import setup_testing_defaults

import pytest

from conftest import FIXTURES, LAYOUTS
from publisher.build.builder import Paths
from publisher.deliver import consent, csv_import, outbox, signed, subscribers
from publisher.deliver.smtp import SmtpSettings
from publisher.errors import PublisherError
from publisher.site.app import site_application
from send_support import Recorder, parse, smtp_server

SECRET = "test-secret-for-the-signup-tests"
LIST = "korea"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str


@dataclass
class Site:
    app: Any
    where: str  # the store: a file's path or a postgresql:// URL

    def call(self, method: str, path: str, query: str = "", form: dict[str, str] | None = None,
             client: str = "192.0.2.1", **headers: str) -> Answer:
        body = urlencode(form or {}).encode()
        environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path,
                                   "QUERY_STRING": query, "wsgi.input": io.BytesIO(body),
                                   "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": client,
                                   **{f"HTTP_{k.upper()}": v for k, v in headers.items()}}
        setup_testing_defaults(environ)
        started: list[tuple[str, list[tuple[str, str]]]] = []
        data = b"".join(self.app(environ, lambda s, h, e=None: started.append((s, h))))
        status, found = started[-1]
        return Answer(int(status.split()[0]), dict(found), data.decode())

    def digest(self) -> str:
        page = self.call("GET", "/subscribe").body
        found = re.search(r'name="consent_digest" value="([^"]+)"', page)
        assert found, page
        return found.group(1)

    def subscribe(self, email: str, name: str = "", client: str = "192.0.2.1",
                  **extra: str) -> Answer:
        return self.call("POST", "/subscribe", form={"email": email, "name": name,
                                                     "consent_digest": self.digest(),
                                                     "website": "", **extra}, client=client)

    def db(self) -> Any:
        return contextlib.closing(subscribers.connect(self.where))

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.db() as db:
            return [tuple(r) for r in db.execute(sql, params).fetchall()]

    def links(self, email: str) -> list[str]:
        """The confirmation links the outbox holds (or held) for ``email``."""
        found = []
        for (message,) in self.rows("SELECT message FROM outbox WHERE email = ? ORDER BY id",
                                    email):
            body = parse(message.encode()).get_body(("plain",))
            assert body is not None
            text = body.get_content()
            found += re.findall(r"https://\S+/confirm\?[^\s<>\"]+", text)[:1]
        return [link.replace("&amp;", "&") for link in found]


def query_of(link: str) -> str:
    return urlsplit(link).query


def make_site(root: Path, where: str, **env: str) -> Site:
    site = root / "dist" / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "index.html").write_text("<!DOCTYPE html><title>KOREA</title>\n")
    subscribers.connect(where, create=True).close()
    paths = Paths(issues=FIXTURES, layouts=LAYOUTS, dist=root / "dist")
    app = site_application(paths, where, {"PUBLISHER_SECRET": SECRET, **env}, store_wait=2)
    return Site(app, where)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return make_site(tmp_path, str(tmp_path / "subscribers.sqlite"))


@pytest.fixture(params=["sqlite", "postgres"])
def any_site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    if request.param == "sqlite":
        yield make_site(tmp_path, str(tmp_path / "subscribers.sqlite"))
    else:
        yield make_site(tmp_path, request.getfixturevalue("pg_url"))


def sent_page(answer: Answer) -> str:
    assert answer.status == 200 and 'id="sent"' in answer.body, answer.body
    return answer.body


# -- signup and confirmation ---------------------------------------------------------------


def test_signup_then_confirm_subscribes_with_the_consent_on_record(any_site: Site) -> None:
    site = any_site
    sent_page(site.subscribe("Ann@Example.org", "Ann"))
    assert site.rows("SELECT count(*) FROM subscribers") == [(0,)]  # not before confirming
    [link] = site.links("Ann@example.org")
    ask = site.call("GET", "/confirm", query_of(link))
    assert ask.status == 200 and 'id="confirm"' in ask.body and 'method="post"' in ask.body
    assert site.rows("SELECT count(*) FROM subscribers") == [(0,)]  # a GET changes nothing
    done = site.call("POST", "/confirm", query_of(link), client="198.51.100.7")
    assert done.status == 200 and 'id="done"' in done.body
    with site.db() as db:
        assert subscribers.find(db, "ann@example.org") == subscribers.Subscriber(
            1, "Ann@example.org", "Ann", "subscribed")
        events = consent.history(db, "ann@example.org")
        assert [(e.event, e.how) for e in events] == [("signup", "form"), ("confirm", "link")]
        texts = db.execute("SELECT digest, version, text FROM consent_texts").fetchall()
    [(digest, version, text)] = texts
    assert all(e.consent_digest == digest and e.consent_version == version for e in events)
    assert text.startswith("Send me KOREA by email")
    # the client is kept as a keyed hash by default: the same client, the same hash
    assert events[0].client.startswith("hmac:") and "192.0.2.1" not in events[0].client
    assert events[1].client != events[0].client
    assert site.rows("SELECT count(*) FROM signups") == [(0,)]


def test_a_reused_forged_or_foreign_link_changes_nothing(site: Site) -> None:
    site.subscribe("bob@example.org")
    [link] = site.links("bob@example.org")
    query = query_of(link)
    token = re.search(r"token=([^&]+)", query).group(1)  # type: ignore[union-attr]
    forged = {
        "mac": query[:-4] + "AAAA",
        "other address": urlencode({"address": "eve@example.org", "token": token}),
        "no token": urlencode({"address": "bob@example.org"}),
        "unsubscribe token": urlencode({"address": "bob@example.org",
                                        "token": signed.preferences_token(
                                            SECRET.encode(), LIST, "bob@example.org")}),
        "other secret": urlencode({"address": "bob@example.org", "token": signed.confirm_token(
            b"another-secret-12345", LIST, "bob@example.org", "x", int(time.time()) + 99)}),
    }
    for name, bad in forged.items():
        for method in ("GET", "POST"):
            answer = site.call(method, "/confirm", bad)
            assert answer.status == 400 and 'id="invalid"' in answer.body, (name, method)
    assert site.rows("SELECT count(*) FROM subscribers") == [(0,)]
    assert site.call("POST", "/confirm", query).status == 200
    again = site.call("POST", "/confirm", query)  # a second press: still subscribed, no event
    assert again.status == 200 and 'id="done"' in again.body
    with site.db() as db:
        assert [e.event for e in consent.history(db, "bob@example.org")] == ["signup", "confirm"]


def test_an_expired_link_is_refused_and_confirms_nothing(site: Site) -> None:
    site.subscribe("cy@example.org")
    [link] = site.links("cy@example.org")
    [(nonce,)] = site.rows("SELECT nonce FROM signups")
    old = signed.confirm_token(SECRET.encode(), LIST, "cy@example.org", nonce,
                               int(time.time()) - 1)
    for method in ("GET", "POST"):
        answer = site.call(method, "/confirm", urlencode({"address": "cy@example.org",
                                                          "token": old}))
        assert answer.status == 410 and 'id="expired"' in answer.body
    with site.db() as db:  # the store's own expiry, whatever the token says
        db.execute("UPDATE signups SET expires = '2000-01-01T00:00:00.000000Z'")
    answer = site.call("POST", "/confirm", query_of(link))
    assert answer.status == 410 and 'id="expired"' in answer.body
    assert site.rows("SELECT count(*) FROM subscribers") == [(0,)]
    assert site.rows("SELECT count(*) FROM signups") == [(0,)]
    site.subscribe("dan@example.org")  # one nobody confirms: the next sender drops it
    with site.db() as db:
        db.execute("UPDATE signups SET expires = '2000-01-01T00:00:00.000000Z'")
        assert consent.purge(db) == 1
        assert [e.event for e in consent.history(db, "dan@example.org")] == [
            "signup", "expire"]
        assert [e.event for e in consent.history(db, "cy@example.org")] == [
            "signup", "expire"]


def test_the_answer_is_the_same_for_new_pending_and_subscribed(site: Site) -> None:
    with site.db() as db:
        db.execute("INSERT INTO subscribers (email, email_key, created, changed) "
                   "VALUES ('old@example.org', 'old@example.org', '', '')")
    pages = [sent_page(site.subscribe(a, client=f"192.0.2.{n}")) for n, a in enumerate(
        ["new@example.org", "new@example.org", "old@example.org"])]
    assert pages[0] == pages[1] == pages[2]
    assert site.links("old@example.org") == []  # nothing mailed to the subscribed
    assert len(site.links("new@example.org")) == 2
    assert len(set(site.links("new@example.org"))) == 1  # pending: the same link again


def test_the_honeypot_and_bad_input(site: Site) -> None:
    sent_page(site.subscribe("bot@example.org", website="https://spam.example"))
    assert site.rows("SELECT count(*) FROM signups") == [(0,)]
    assert site.rows("SELECT count(*) FROM outbox") == [(0,)]
    assert site.rows("SELECT count(*) FROM consent_events") == [(0,)]
    bad = site.subscribe("not an address")
    assert bad.status == 400 and 'id="problem"' in bad.body and "not an address" in bad.body
    stale = site.call("POST", "/subscribe", form={"email": "dee@example.org",
                                                  "consent_digest": "sha256:old"})
    assert stale.status == 400 and "have changed" in stale.body  # re-shown, new words
    evil = site.subscribe("eve@example.org", name="Eve\r\nBcc: x@example.org")
    assert evil.status == 400
    assert site.rows("SELECT count(*) FROM signups") == [(0,)]


def test_a_post_from_another_site_is_refused(site: Site) -> None:
    form = {"email": "far@example.org", "consent_digest": site.digest()}
    answer = site.call("POST", "/subscribe", form=form, origin="https://evil.example")
    assert answer.status == 403
    answer = site.call("POST", "/subscribe", form=form, sec_fetch_site="cross-site")
    assert answer.status == 403
    ok = site.call("POST", "/subscribe", form=form, origin="https://example.org",
                   sec_fetch_site="same-origin")
    sent_page(ok)
    for answer in (site.call("GET", "/subscribe"), ok):
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert answer.headers["Cache-Control"] == "no-store"


def test_rate_limits_per_address_and_per_client(site: Site) -> None:
    for n in range(5):  # one address from five clients: three mails at most
        sent_page(site.subscribe("flood@example.org", client=f"203.0.113.{n}"))
    assert len(site.links("flood@example.org")) == 3
    answers = [site.subscribe(f"r{n}@example.org", client="198.51.100.99") for n in range(22)]
    assert [a.status for a in answers] == [200] * 20 + [429, 429]
    assert "Retry-After" in answers[-1].headers
    assert site.rows("SELECT count(*) FROM signups WHERE email LIKE 'r%'") == [(20,)]


def test_concurrent_signups_of_one_address(any_site: Site) -> None:
    site = any_site
    digest = site.digest()
    answers: list[Answer] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        answer = site.call("POST", "/subscribe", form={
            "email": "same@example.org", "consent_digest": digest}, client=f"192.0.2.{n}")
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == 8 and {a.status for a in answers} == {200}
    assert len({a.body for a in answers}) == 1
    assert site.rows("SELECT count(*) FROM signups") == [(1,)]
    links = site.links("same@example.org")
    assert 1 <= len(links) <= 3 and len(set(links)) == 1  # the address's limit, one link
    assert site.call("POST", "/confirm", query_of(links[0])).status == 200
    assert site.rows("SELECT status FROM subscribers") == [("subscribed",)]


def test_an_unsubscribed_address_comes_back_only_by_a_confirmed_signup(site: Site,
                                                                        tmp_path: Path) -> None:
    with site.db() as db:
        subscribers.unsubscribe(db, "gone@example.org")
    file = tmp_path / "back.csv"
    file.write_text("email\ngone@example.org\n")
    csv_import.import_csv(file, site.where)
    assert site.rows("SELECT status FROM subscribers") == [("unsubscribed",)]
    site.subscribe("gone@example.org")
    assert site.rows("SELECT status FROM subscribers") == [("unsubscribed",)]
    [link] = site.links("gone@example.org")
    site.call("POST", "/confirm", query_of(link))
    assert site.rows("SELECT status FROM subscribers") == [("subscribed",)]
    with site.db() as db:
        assert [(e.event, e.how) for e in consent.history(db, "gone@example.org")] == [
            ("unsubscribe", "command"), ("signup", "form"), ("confirm", "link")]


# -- the outbox -----------------------------------------------------------------------------


def smtp_settings(port: int) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, tls="none", timeout=5, backoff=0)


def test_the_outbox_sends_each_confirmation_once_in_html_and_text(any_site: Site) -> None:
    site = any_site
    site.subscribe("fay@example.org", "Fay")
    site.subscribe("독자@example.org")
    recorder = Recorder()
    with smtp_server(recorder) as port:
        counts = outbox.send_due(site.where, smtp_settings(port))
        again = outbox.send_due(site.where, smtp_settings(port))
    assert (counts.sent, again.sent) == (2, 0)
    assert recorder.per_rcpt() == {"fay@example.org": 1, "독자@example.org": 1}
    msg = parse(next(r.data for r in recorder.received if r.rcpt == "fay@example.org"))
    assert msg["Subject"] == "Confirm your subscription to KOREA"
    assert msg["Content-Language"] == "en"
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    page = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Dear Fay," in text and "/confirm?address=fay%40example.org" in text
    assert 'lang="en"' in page and "Confirm my subscription</a>" in page
    assert 'style="' in page and "<style>" in page  # inlined, as the issue email is
    assert site.rows("SELECT state, message FROM outbox ORDER BY id") == [
        ("sent", ""), ("sent", "")]  # the link is not kept once sent


def test_a_sender_killed_before_the_dot_is_resent_and_after_it_is_in_doubt(
        site: Site) -> None:
    site.subscribe("gil@example.org")
    site.subscribe("hal@example.org")
    with site.db() as db:  # a web process (pid 999999999, gone) died mid-send of each
        db.execute("UPDATE outbox SET state = 'sending', owner = ?, claimed = ? "
                   "WHERE email = 'gil@example.org'",
                   (f"{outbox.socket.gethostname()}:999999999:1", time.time()))
        db.execute("UPDATE outbox SET state = 'handed', owner = ?, claimed = ? "
                   "WHERE email = 'hal@example.org'",
                   (f"{outbox.socket.gethostname()}:999999999:1", time.time()))
    recorder = Recorder()
    with smtp_server(recorder) as port:
        counts = outbox.send_due(site.where, smtp_settings(port))
    assert counts.recovered == 2 and counts.sent == 1
    assert recorder.per_rcpt() == {"gil@example.org": 1}
    assert dict(site.rows("SELECT email, state FROM outbox")) == {
        "gil@example.org": "sent", "hal@example.org": "doubt"}


def test_a_server_that_refuses_for_now_defers_then_sends(site: Site) -> None:
    site.subscribe("ivy@example.org")
    recorder = Recorder(busy=frozenset({"ivy@example.org"}))
    with smtp_server(recorder) as port:
        counts = outbox.send_due(site.where, smtp_settings(port))
        assert counts.deferred == 1 and recorder.per_rcpt() == {}
        recorder.busy = frozenset()
        counts = outbox.send_due(site.where, smtp_settings(port))
    assert counts.sent == 1 and recorder.per_rcpt() == {"ivy@example.org": 1}


# -- the preference page --------------------------------------------------------------------


def subscribed(site: Site, address: str, name: str = "") -> str:
    """Sign ``address`` up, confirm it; its preference page's query."""
    site.subscribe(address, name)
    site.call("POST", "/confirm", query_of(site.links(address)[-1]))
    return urlencode({"address": address,
                      "token": signed.preferences_token(SECRET.encode(), LIST, address)})


def test_the_preference_page_changes_the_name_pauses_and_stops(any_site: Site) -> None:
    site = any_site
    query = subscribed(site, "joy@example.org", "Joy")
    page = site.call("GET", "/preferences", query)
    assert page.status == 200 and 'id="state">subscribed' in page.body
    assert 'value="Joy"' in page.body
    named = site.call("POST", "/preferences", query, {"action": "name", "name": "Joy K"})
    assert named.status == 200 and 'id="done-name"' in named.body
    assert site.rows("SELECT name FROM subscribers") == [("Joy K",)]
    assert 'id="state">paused' in site.call("POST", "/preferences", query,
                                              {"action": "pause"}).body
    with site.db() as db:
        assert list(subscribers.subscribed(db)) == []  # a paused reader is not mailed
    assert 'id="state">subscribed' in site.call("POST", "/preferences", query,
                                                  {"action": "resume"}).body
    assert 'id="state">unsubscribed' in site.call("POST", "/preferences", query,
                                                    {"action": "stop"}).body
    resumed = site.call("POST", "/preferences", query, {"action": "resume"})
    assert 'id="state">unsubscribed' in resumed.body  # only a signup brings it back
    with site.db() as db:
        assert [(e.event, e.how) for e in consent.history(db, "joy@example.org")][2:] == [
            ("name", "preferences"), ("pause", "preferences"), ("resume", "preferences"),
            ("unsubscribe", "preferences")]


def test_a_forged_preference_link_is_refused(site: Site) -> None:
    subscribed(site, "kim@example.org")
    for query in (urlencode({"address": "kim@example.org", "token": "A" * 43}),
                  urlencode({"address": "lee@example.org", "token": signed.preferences_token(
                      SECRET.encode(), LIST, "kim@example.org")}), ""):
        for method in ("GET", "POST"):
            answer = site.call(method, "/preferences", query, {"action": "erase-now"})
            assert answer.status == 400 and 'id="invalid"' in answer.body
    assert site.rows("SELECT count(*) FROM subscribers") == [(1,)]


def test_my_data_then_erase_leaves_only_a_keyed_hash(any_site: Site, tmp_path: Path) -> None:
    site = any_site
    query = subscribed(site, "max@example.org", "Max")
    export = site.call("POST", "/preferences", query, {"action": "export"})
    assert export.status == 200 and export.headers["Content-Type"].startswith(
        "application/json")
    assert "attachment" in export.headers["Content-Disposition"]
    data = json.loads(export.body)
    assert data["subscriber"]["name"] == "Max" and data["subscriber"]["status"] == "subscribed"
    assert [e["event"] for e in data["history"]] == ["signup", "confirm"]
    assert next(iter(data["consent_texts"].values()))["text"].startswith("Send me KOREA")
    ask = site.call("POST", "/preferences", query, {"action": "erase"})
    assert 'id="erase-now"' in ask.body and site.rows("SELECT count(*) FROM subscribers") == [(1,)]
    gone = site.call("POST", "/preferences", query, {"action": "erase-now"})
    assert gone.status == 200 and 'id="erased"' in gone.body
    for table in ("subscribers", "consent_events", "signups", "outbox", "pauses"):
        assert site.rows(f"SELECT count(*) FROM {table}") == [(0,)], table
    [(key_hash,)] = site.rows("SELECT key_hash FROM erasures")
    assert "max" not in key_hash
    # an import does not add it back (and cannot tell without the secret)
    file = tmp_path / "list.csv"
    file.write_text("email,name\nmax@example.org,Max\nnew@example.org,New\n")
    with pytest.raises(PublisherError, match="PUBLISHER_SECRET is not set"):
        csv_import.import_csv(file, site.where)
    result = csv_import.import_csv(file, site.where, secret=SECRET.encode())
    assert (result.added, result.kept_erased) == (1, 1)
    assert site.rows("SELECT email FROM subscribers") == [("new@example.org",)]
    # a new signup, confirmed, brings it back and lifts the erasure
    subscribed(site, "max@example.org")
    assert site.rows("SELECT count(*) FROM erasures") == [(0,)]
    assert site.rows("SELECT status FROM subscribers WHERE email = 'max@example.org'") == [
        ("subscribed",)]


# -- imports and the command line -----------------------------------------------------------


def test_an_import_records_where_each_address_consent_comes_from(tmp_path: Path,
                                                                cli: Any) -> None:
    db = tmp_path / "s.sqlite"
    file = tmp_path / "readers.csv"
    file.write_text("email,name,consent\nann@example.org,Ann,form 2023-05-01\n"
                    "bob@example.org,Bob,\n")
    run = cli("subscribers", "import", str(file), "--db", str(db))
    assert run.status == 0, run.err
    assert "1 recorded in the file ('consent' column), 1 assumed from you" in run.err
    history = cli("subscribers", "history", "ann@example.org", "--db", str(db))
    assert "\timport\timport\t" in history.out
    assert "readers.csv: consent recorded in the file: form 2023-05-01" in history.out
    bob = cli("subscribers", "history", "bob@example.org", "--db", str(db))
    assert "consent assumed from the operator" in bob.out
    assert "subscribed, 1 event(s)" in bob.err
    export = cli("subscribers", "export", "--history", "--db", str(db))
    rows = list(csv.DictReader(io.StringIO(export.out)))
    assert [(r["email"], r["event"]) for r in rows] == [("ann@example.org", "import"),
                                                       ("bob@example.org", "import")]
    plain = cli("subscribers", "export", "--db", str(db))
    assert plain.out.splitlines()[0] == "email,name,status"
    file.write_text("email,name\nbob@example.org,Robert\n")
    assert cli("subscribers", "import", str(file), "--db", str(db)).status == 0
    bob = cli("subscribers", "history", "bob@example.org", "--db", str(db))
    assert "\tname\timport\t" in bob.out and "readers.csv: name changed" in bob.out


def test_the_outbox_command_sends_and_counts(site: Site, cli: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    site.subscribe("ned@example.org")
    status = cli("subscribers", "outbox", "--status", "--db", site.where)
    assert "pending\t1" in status.out
    recorder = Recorder()
    with smtp_server(recorder) as port:
        monkeypatch.setenv("PUBLISHER_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("PUBLISHER_SMTP_PORT", str(port))
        monkeypatch.setenv("PUBLISHER_SMTP_TLS", "none")
        run = cli("subscribers", "outbox", "--db", site.where)
    assert run.status == 0, run.err
    assert recorder.per_rcpt() == {"ned@example.org": 1}
    assert "sent\t1" in cli("subscribers", "outbox", "--status", "--db", site.where).out


def test_the_settings_are_checked() -> None:
    assert consent.SignupSettings.from_env({}).expiry_days == 7
    for key, value in (("PUBLISHER_SIGNUP_EXPIRY_DAYS", "nan"),
                       ("PUBLISHER_SIGNUP_PER_ADDRESS", "0"),
                       ("PUBLISHER_CONSENT_CLIENT", "maybe")):
        with pytest.raises(PublisherError, match=key):
            consent.SignupSettings.from_env({key: value})
    kept = consent.SignupSettings(client_record="address").client(b"k" * 16, "192.0.2.1")
    assert kept == "192.0.2.1"
    assert consent.SignupSettings(client_record="none").client(b"k" * 16, "192.0.2.1") == ""
