"""The whole way round: the built email is sent to real subscribers over SMTP, and the
one-click unsubscribe endpoint (served by ``publisher serve``) takes people off the list.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import Run, seed_sentences
from publisher.build.builder import Paths
from publisher.deliver import tokens
from publisher.diagnostics import Diagnostics
from publisher.model import Month
from publisher.source.config import load_publication
from send_support import Recorder, bodies, parse, smtp_server
from site_support import local, serve

SECRET = "test-secret-for-the-unsubscribe-tests"
AUG = Month(2023, 8)


@dataclass
class World:
    paths: Paths
    db: Path
    url: str  # the preview server
    addresses: list[str]

    def local(self, public_url: str) -> str:
        """A public unsubscribe URL pointed at the local preview server."""
        return local(self.url, public_url)

    def status(self) -> dict[str, str]:
        with sqlite3.connect(self.db) as db:
            return dict(db.execute("SELECT email, status FROM subscribers"))

    def public_url(self, address: str) -> str:
        publication = load_publication(self.paths.issues, Diagnostics())
        assert publication is not None
        return tokens.unsubscribe_url(publication, address, SECRET.encode())


@pytest.fixture(scope="module")
def world(built_2023_08: Paths, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """2023-08 built (every format), the site, 30 subscribers, and ``publisher serve``."""
    root = tmp_path_factory.mktemp("world")
    paths = built_2023_08
    addresses = [f"reader{i:02d}@example.org" for i in range(30)]
    csv_file = root / "subscribers.csv"
    csv_file.write_text("email,name\n" + "".join(f"{a},Reader {a[6:8]}\n" for a in addresses),
                        encoding="utf-8")
    db = root / "subscribers.sqlite"
    env = {**os.environ, "PUBLISHER_SECRET": SECRET}
    subprocess.run([sys.executable, "-m", "publisher", "subscribers", "import", str(csv_file),
                    "--db", str(db)], check=True, env=env, capture_output=True)
    with serve(paths, db, env) as (url, _):
        yield World(paths, db, url, addresses)


def _request(url: str, method: str, body: bytes | None = None) -> tuple[int, str]:
    status, _, page = _exchange(url, method, body)
    return status, page


def _exchange(url: str, method: str,
              body: bytes | None = None) -> tuple[int, dict[str, str], str]:
    """Status, headers and page of one request to the server."""
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


ONE_CLICK = b"List-Unsubscribe=One-Click"


def test_get_only_asks_and_post_unsubscribes(world: World) -> None:
    address = world.addresses[0]
    url = world.local(world.public_url(address))
    status, page = _request(url, "GET")
    assert status == 200 and 'id="confirm"' in page and address in page
    assert world.status()[address] == "subscribed"  # a link scanner changes nothing
    status, page = _request(url, "POST", ONE_CLICK)
    assert status == 200 and 'id="done"' in page
    assert world.status()[address] == "unsubscribed"
    assert _request(url, "POST", ONE_CLICK)[0] == 200  # again: still fine, still off


def test_every_answer_of_publisher_serve_carries_the_security_headers(world: World) -> None:
    address = world.addresses[4]
    url = world.local(world.public_url(address))
    answers = {"confirm": _exchange(url, "GET"), "head": _exchange(url, "HEAD"),
               "forged": _exchange(url[:-4] + "AAAA", "POST", ONE_CLICK),
               "options": _exchange(url, "OPTIONS"), "index": _exchange(world.url, "GET"),
               "missing": _exchange(world.url + "nope.html", "HEAD")}
    assert {k: status for k, (status, _, _) in answers.items()} == {
        "confirm": 200, "head": 200, "forged": 400, "options": 405, "index": 200,
        "missing": 404}
    for name, (_, headers, _) in answers.items():
        assert headers["X-Content-Type-Options"] == "nosniff", name
        assert headers["X-Frame-Options"] == "DENY", name
        assert headers["Referrer-Policy"] == "no-referrer", name
        policy = headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy, name
    assert answers["options"][1]["Allow"] == "GET, HEAD, POST"
    assert answers["head"][2] == "" and answers["missing"][2] == ""
    assert answers["head"][1]["Content-Length"] == answers["confirm"][1]["Content-Length"]
    assert world.status()[address] == "subscribed"  # neither HEAD nor GET unsubscribes


def test_a_valid_token_for_an_invalid_address_is_a_400_page(world: World) -> None:
    publication = load_publication(world.paths.issues, Diagnostics())
    assert publication is not None
    for address in ("not an address", "two@@example.org"):
        url = world.local(tokens.unsubscribe_url(publication, address, SECRET.encode()))
        for method in ("GET", "POST"):
            status, page = _request(url, method, ONE_CLICK if method == "POST" else None)
            assert status == 400 and 'id="invalid"' in page, (address, method)
    assert len(world.status()) == len(world.addresses)


@pytest.mark.parametrize("forgery", ["forged", "other address", "no token", "other secret"])
def test_bad_tokens_change_nothing(world: World, forgery: str) -> None:
    victim = world.addresses[1]
    url = world.local(world.public_url(victim))
    if forgery == "forged":
        url = re.sub(r"token=[^&]+", "token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", url)
    elif forgery == "other address":  # a valid token, but for someone else
        mine = world.local(world.public_url(world.addresses[2]))
        url = url.split("&token=")[0] + "&token=" + mine.split("&token=")[1]
    elif forgery == "no token":
        url = url.split("&token=")[0]
    else:
        publication = load_publication(world.paths.issues, Diagnostics())
        assert publication is not None
        url = world.local(tokens.unsubscribe_url(publication, victim, b"another-secret-1234"))
    for method in ("GET", "POST"):
        status, page = _request(url, method, ONE_CLICK if method == "POST" else None)
        assert status == 400 and 'id="invalid"' in page
    assert world.status()[victim] == "subscribed"


def test_200_concurrent_requests_are_all_answered_and_the_store_stays_consistent(
        world: World) -> None:
    targets = world.addresses[10:30]  # 20 subscribers, 10 requests each, mixed
    results: list[tuple[str, str, int]] = []
    lock = threading.Lock()

    def hit(address: str, kind: str) -> None:
        url = world.local(world.public_url(address))
        if kind == "forged":
            url = url[:-4] + "AAAA"
        status, _ = _request(url, "GET" if kind == "get" else "POST",
                             None if kind == "get" else ONE_CLICK)
        with lock:
            results.append((address, kind, status))

    kinds = ["post", "get", "forged", "post", "get", "forged", "post", "get", "forged", "get"]
    threads = [threading.Thread(target=hit, args=(address, kind))
               for address in targets for kind in kinds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 200
    for _, kind, status in results:
        assert status == (400 if kind == "forged" else 200)
    status = world.status()
    assert all(status[a] == "unsubscribed" for a in targets)
    with sqlite3.connect(world.db) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT COUNT(*) FROM subscribers").fetchone() == (30,)


def test_the_real_email_reaches_everyone_subscribed_once_personalised(
        world: World, cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch) -> None:
    """The built email.eml, sent: the unsubscribed are skipped, everyone else gets one
    message with the whole article and their own working unsubscribe link."""
    off = {a for a, s in world.status().items() if s == "unsubscribed"}
    assert off  # the tests above unsubscribed some
    for key in [k for k in os.environ if k.startswith("PUBLISHER_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PUBLISHER_SECRET", SECRET)
    monkeypatch.setenv("PUBLISHER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PUBLISHER_SMTP_TLS", "none")
    recorder = Recorder()
    with smtp_server(recorder) as port:
        monkeypatch.setenv("PUBLISHER_SMTP_PORT", str(port))
        run = cli("send", "2023-08", "--db", str(world.db), paths=world.paths)
    assert run.status == 0, run.err
    expected = set(world.addresses) - off
    assert recorder.per_rcpt() == {a: 1 for a in expected}
    sentences = seed_sentences()
    received = {r.rcpt: r for r in recorder.received}
    for address in sorted(expected)[:3]:
        msg = parse(received[address].data)
        assert [a.addr_spec for a in msg["To"].addresses] == [address]
        text, page = bodies(msg)
        flat = re.sub(r"\s+", " ", text)
        for sentence in sentences:
            assert sentence in flat, sentence
        [https] = [u.strip("<>") for u in msg["List-Unsubscribe"].split(", ")
                   if u.startswith("<https")]
        assert https == world.public_url(address)
        assert https.replace("&", "&amp;") in page
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "%%PUBLISHER" not in text and "%%PUBLISHER" not in page
    # the link in the message works: one click, and the next send skips them
    first = sorted(expected)[0]
    assert _request(world.local(world.public_url(first)), "POST", ONE_CLICK)[0] == 200
    assert world.status()[first] == "unsubscribed"


def test_the_confirmation_form_works_in_a_browser(world: World, browser: Any) -> None:
    address = world.addresses[3]
    page = browser.new_page()
    try:
        page.goto(world.local(world.public_url(address)))
        assert world.status()[address] == "subscribed"
        page.click("#confirm")
        page.wait_for_selector("#done")
        assert world.status()[address] == "unsubscribed"
    finally:
        page.close()


def test_an_international_address_unsubscribes_by_its_link(world: World, tmp_path: Path) -> None:
    """Last in this module: it adds a subscriber to the shared store."""
    address = "독자@example.org"
    csv_file = tmp_path / "more.csv"
    csv_file.write_text(f"email,name\n{address},\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "publisher", "subscribers", "import", str(csv_file),
                    "--db", str(world.db)], check=True, capture_output=True,
                   env={**os.environ, "PUBLISHER_SECRET": SECRET})
    url = world.local(world.public_url(address))
    assert url.isascii()  # the address travels percent-encoded
    status, page = _request(url, "GET")
    assert status == 200 and address in page
    status, _ = _request(url, "POST", ONE_CLICK)
    assert status == 200 and world.status()[address] == "unsubscribed"


def test_two_servers_on_one_postgresql_store_answer_every_request(
        built_2023_08: Paths, pg_url: str, tmp_path: Path) -> None:
    """The endpoint in two processes (two hosts, as far as it can tell) on one PostgreSQL
    store: 200 requests split between them, all answered, the store consistent."""
    from publisher.deliver import subscribers

    paths = built_2023_08
    addresses = [f"reader{i:02d}@example.org" for i in range(30)]
    csv_file = tmp_path / "subscribers.csv"
    csv_file.write_text("email,name\n" + "".join(f"{a},Reader {a[6:8]}\n" for a in addresses),
                        encoding="utf-8")
    env = {**os.environ, "PUBLISHER_SECRET": SECRET, "PUBLISHER_DATABASE_URL": pg_url}
    subprocess.run([sys.executable, "-m", "publisher", "subscribers", "import", str(csv_file)],
                   check=True, env=env, capture_output=True)
    servers, urls = [], []
    try:
        for _ in range(2):
            server = subprocess.Popen(
                [sys.executable, "-m", "publisher", "serve", "--port", "0",
                 "--dist", str(paths.dist), "--issues", str(paths.issues),
                 "--layouts", str(paths.layouts)], stderr=subprocess.PIPE, text=True, env=env)
            servers.append(server)
            assert server.stderr is not None
            for line in server.stderr:
                match = re.search(r"http://127\.0\.0\.1:\d+/", line)
                if match:
                    urls.append(match.group(0))
                    break
            threading.Thread(target=server.stderr.read, daemon=True).start()
        assert len(urls) == 2, "publisher serve did not start"
        worlds = [World(paths, Path(), url, addresses) for url in urls]
        results: list[int] = []
        lock = threading.Lock()

        def hit(n: int, address: str) -> None:
            world = worlds[n % 2]
            status, _ = _request(world.local(world.public_url(address)), "POST", ONE_CLICK)
            with lock:
                results.append(status)

        threads = [threading.Thread(target=hit, args=(n, address))
                   for n, address in enumerate(addresses[:20] * 10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert results == [200] * 200
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
            if server.stderr is not None:
                server.stderr.close()
    with contextlib.closing(subscribers.connect(pg_url)) as db:
        assert subscribers.count(db) == (10, 20)
        assert {s.email for s in subscribers.subscribed(db)} == set(addresses[20:])
