"""The whole way, as a reader goes it: Chromium (Playwright) fills the signup form of the
built site served by ``publisher serve``, a real SMTP server (aiosmtpd) receives the
confirmation, the browser follows its link and confirms, the next ``publisher send``
mails the issue to the address, and its preference page exports and erases it.  Every
page of the flow passes axe-core at 375 and 1280 px.  And a web process killed between
a signup and its confirmation mail: the mail is sent once, by the next sender.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import site_support
from conftest import PROJECT, Run
from publisher.build.builder import Paths
from publisher.deliver import subscribers
from send_support import Recorder, bodies, parse, smtp_server
from site_support import wait_for

SECRET = "test-secret-for-the-signup-browser-tests"
AXE = PROJECT / "tools" / "ace" / "node_modules" / "@daisy" / "axe-core-for-ace" / "axe.min.js"
WIDTHS = (375, 1280)


@contextlib.contextmanager
def serve(paths: Paths, db: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``publisher serve`` on a free port, with the secret and ``env`` (no other
    PUBLISHER_ setting); its URL and process."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    environ.update({"PUBLISHER_SECRET": SECRET, **env})
    if not db.exists():  # an empty store (the application never makes one: a typo)
        subscribers.connect(db, create=True).close()
    with site_support.serve(paths, db, environ) as served:
        yield served


def check_axe(page: Any, what: str) -> None:
    """axe-core's rules on the page at each width: no violation."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        if not page.evaluate("() => typeof axe !== 'undefined'"):
            page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
        found = page.evaluate("""async () => (await axe.run(document)).violations.map(
            v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))""")
        assert found == [], f"{what} at {width} px: {found}"



def confirm_link(recorder: Recorder, address: str) -> str:
    def found() -> str:
        for r in recorder.received:
            if r.rcpt == address:
                text, _ = bodies(parse(r.data))
                return re.findall(r"https://\S+/confirm\?[^\s<>]+", text)[0]
        return ""
    return str(wait_for(found))


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def smtp_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Recorder, dict[str, str]]]:
    recorder = Recorder()
    with smtp_server(recorder) as port:
        env = {"PUBLISHER_SMTP_HOST": "127.0.0.1", "PUBLISHER_SMTP_PORT": str(port),
               "PUBLISHER_SMTP_TLS": "none"}
        yield recorder, env


def test_a_reader_subscribes_receives_the_issue_and_erases_themselves(
        built_2023_08: Paths, tmp_path: Path, browser: Any, cli: Callable[..., Run],
        smtp_env: tuple[Recorder, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    recorder, env = smtp_env
    paths = built_2023_08
    db = tmp_path / "subscribers.sqlite"
    address = "reader@example.org"
    context = browser.new_context(bypass_csp=True, accept_downloads=True)  # axe is a script
    page = context.new_page()
    try:
        with serve(paths, db, **env) as (url, _):
            page.goto(url)
            check_axe(page, "the index with its signup form")
            page.fill("#signup-email", address)
            page.fill("#signup-name", "Min-jun")
            page.click("#subscribe")
            page.wait_for_selector("#sent")
            check_axe(page, "the signup's answer")
            page.goto(url + "subscribe")
            check_axe(page, "the signup page")
            link = confirm_link(recorder, address)  # sent by the web process after the commit
            page.goto(site_support.local(url, link))
            page.wait_for_selector("#confirm")
            check_axe(page, "the confirmation page")
            assert rows(db, "SELECT count(*) FROM subscribers") == [(0,)]  # GET: nothing yet
            page.click("#confirm")
            page.wait_for_selector("#done")
            check_axe(page, "the confirmed page")
            for key, value in env.items():
                monkeypatch.setenv(key, value)
            monkeypatch.setenv("PUBLISHER_SECRET", SECRET)
            run = cli("send", "2023-08", "--db", str(db), paths=paths)
            assert run.status == 0, run.err
            issues = [r for r in recorder.received if r.rcpt == address
                      and "2023-08" in r.message_id]
            assert len(issues) == 1
            text, html = bodies(parse(issues[0].data))
            assert "Dear Min-jun," in text
            preferences = re.findall(r"https://\S+/preferences\?[^\s<>]+", text)[0]
            assert preferences.replace("&", "&amp;") in html
            page.goto(site_support.local(url, preferences))
            page.wait_for_selector("#export")
            check_axe(page, "the preference page")
            with page.expect_download() as download:
                page.click("#export")
            data = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
            assert data["subscriber"]["email"] == address
            assert [e["event"] for e in data["history"]] == ["signup", "confirm"]
            assert data["deliveries"][0]["issue"] == "2023-08"
            page.click("#erase")
            page.wait_for_selector("#erase-now")
            check_axe(page, "the erase question")
            page.click("#erase-now")
            page.wait_for_selector("#erased")
            check_axe(page, "the erased page")
            for name in ("subscribers", "consent_events", "signups", "outbox", "deliveries"):
                assert rows(db, f"SELECT count(*) FROM {name}") == [(0,)], name
            assert len(rows(db, "SELECT key_hash FROM erasures")) == 1
            for bad in ("confirm?address=x%40example.org&token=1.2.3", "preferences?address=x"):
                page.goto(url + bad)
                page.wait_for_selector("#invalid")
                check_axe(page, f"the refusal of {bad}")
    finally:
        context.close()


def silent_server() -> tuple[socket.socket, int]:
    """A port that accepts connections and never says a word (an SMTP server hung)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock, sock.getsockname()[1]


def signup(url: str, address: str) -> None:
    import urllib.request
    from urllib.parse import urlencode

    with urllib.request.urlopen(url + "subscribe", timeout=30) as response:
        digest = re.search(r'name="consent_digest" value="([^"]+)"',
                           response.read().decode()).group(1)  # type: ignore[union-attr]
    body = urlencode({"email": address, "consent_digest": digest}).encode()
    with urllib.request.urlopen(url + "subscribe", data=body, timeout=30) as response:
        assert response.status == 200 and 'id="sent"' in response.read().decode()


def test_a_web_process_killed_before_the_confirmation_mail_loses_nothing(
        built_2023_08: Paths, tmp_path: Path, cli: Callable[..., Run],
        monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "subscribers.sqlite"
    hung, port = silent_server()
    try:
        with serve(built_2023_08, db, PUBLISHER_SMTP_HOST="127.0.0.1",
                   PUBLISHER_SMTP_PORT=str(port), PUBLISHER_SMTP_TLS="none") as (url, server):
            signup(url, "kept@example.org")
            hung.settimeout(20)
            conn, _ = hung.accept()  # the web process is trying to send it now
            server.send_signal(signal.SIGKILL)
            server.wait(10)
            conn.close()
    finally:
        hung.close()
    assert rows(db, "SELECT state FROM outbox") == [("pending",)]
    recorder = Recorder()
    with smtp_server(recorder) as smtp_port:
        for key, value in {"PUBLISHER_SMTP_HOST": "127.0.0.1", "PUBLISHER_SMTP_TLS": "none",
                           "PUBLISHER_SMTP_PORT": str(smtp_port)}.items():
            monkeypatch.setenv(key, value)
        run = cli("subscribers", "outbox", "--db", str(db))
        again = cli("subscribers", "outbox", "--db", str(db))
    assert run.status == again.status == 0, run.err
    assert recorder.per_rcpt() == {"kept@example.org": 1}
    assert rows(db, "SELECT state FROM outbox") == [("sent",)]


def test_a_web_process_killed_after_handing_the_mail_over_never_sends_it_twice(
        built_2023_08: Paths, tmp_path: Path, cli: Callable[..., Run],
        monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "subscribers.sqlite"
    recorder = Recorder(delay=3.0)  # the reply to the final dot comes late
    with smtp_server(recorder) as smtp_port:
        env = {"PUBLISHER_SMTP_HOST": "127.0.0.1", "PUBLISHER_SMTP_TLS": "none",
               "PUBLISHER_SMTP_PORT": str(smtp_port)}
        with serve(built_2023_08, db, **env) as (url, server):
            signup(url, "once@example.org")
            wait_for(lambda: rows(db, "SELECT state FROM outbox") == [("handed",)])
            server.send_signal(signal.SIGKILL)
            server.wait(10)
        time.sleep(3.5)  # the server's reply: aiosmtpd drops a message whose client left
        before = len(recorder.received)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        recorder.delay = 0
        run = cli("subscribers", "outbox", "--db", str(db))
    assert run.status == 0, run.err
    assert len(recorder.received) == before <= 1  # 0 or 1 copy, never a second
    assert rows(db, "SELECT state FROM outbox") == [("doubt",)]
    status = cli("subscribers", "outbox", "--status", "--db", str(db))
    assert "doubt\t1" in status.out
