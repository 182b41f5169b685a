"""The site application (``publisher.site.app``) and its endpoint under odd requests and a busy
store: no 500, no traceback, the security headers on every response.

The application runs in process for the fuzzing, and behind the real threaded server
(``make_preview_server`` on 127.0.0.1) for the busy store, held by another SQLite
connection.
"""

from __future__ import annotations

import html
import http.client
import io
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from wsgiref.util import setup_testing_defaults

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FIXTURES, LAYOUTS
from publisher.build.builder import Paths
from publisher.deliver import subscribers, tokens
from publisher.site.app import make_preview_server, site_application
from publisher.site.security import ENDPOINT_POLICY, FILE_POLICY, PAGE_POLICY, SecureHeaders

SECRET = "test-secret-for-the-web-tests"
ADDRESS = "reader@example.org"
LIST = "korea"
SECURITY = ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
            "Content-Security-Policy")


@dataclass
class Site:
    paths: Paths
    db: Path
    app: Any

    def status(self, address: str = ADDRESS) -> str:
        with closing(sqlite3.connect(self.db)) as db:
            return str(db.execute("SELECT status FROM subscribers WHERE email = ?",
                                  (address,)).fetchone()[0])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """A small dist/site/ (a page, a stylesheet, a download), a store of one subscriber,
    and the application over them, with the endpoint and a short wait for the store."""
    root = tmp_path_factory.mktemp("web")
    folder = root / "dist" / "site"
    (folder / "2023-08").mkdir(parents=True)
    (folder / "index.html").write_text("<!DOCTYPE html><title>KOREA</title>\n")
    (folder / "site.css").write_text("body { margin: 0 }\n")
    (folder / "2023-08" / "index.html").write_text("<!DOCTYPE html><title>2023-08</title>\n")
    (folder / "2023-08" / "korea-2023-08.pdf").write_bytes(b"%PDF-1.7\n%%EOF\n")
    db = root / "subscribers.sqlite"
    store = subscribers.connect(db, create=True)
    store.execute("INSERT INTO subscribers (email, email_key, created, changed) "
                  "VALUES (?, ?, '', '')", (ADDRESS, ADDRESS))
    store.close()
    paths = Paths(issues=FIXTURES, layouts=LAYOUTS, dist=root / "dist")
    app = site_application(paths, db, {"PUBLISHER_SECRET": SECRET}, store_wait=0.3)
    return Site(paths, db, app)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def call(app: Any, method: str, path: str, query: str = "", body: bytes = b"",
         length: str | None = None) -> Answer:
    """One request to the WSGI application, in process, as a WSGI server makes it."""
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path,
                               "QUERY_STRING": query, "wsgi.input": io.BytesIO(body)}
    if length is not None:
        environ["CONTENT_LENGTH"] = length
    setup_testing_defaults(environ)
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Any:
        started.append((status, headers))
        return lambda data: None

    data = b"".join(app(environ, start_response))
    status, headers = started[-1]
    names = [name.casefold() for name, _ in headers]
    assert len(names) == len(set(names)), headers  # no header twice
    return Answer(int(status.split()[0]), dict(headers), data)


def token_query(address: str, secret: str = SECRET) -> str:
    return urlencode({"address": address,
                      "token": tokens.make_token(address, LIST, secret.encode())})


def assert_secure(answer: Answer) -> None:
    for name in SECURITY:
        assert name in answer.headers, (name, answer.headers)
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    policy = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy


# -- headers, HEAD, odd paths, odd addresses --------------------------------------------

def test_every_kind_of_response_carries_the_security_headers(site: Site) -> None:
    answers = {
        "page": call(site.app, "GET", "/"),
        "stylesheet": call(site.app, "GET", "/site.css"),
        "download": call(site.app, "GET", "/2023-08/korea-2023-08.pdf"),
        "missing": call(site.app, "GET", "/nope.html"),
        "not allowed": call(site.app, "DELETE", "/"),
        "confirm": call(site.app, "GET", "/unsubscribe", token_query(ADDRESS)),
        "forged": call(site.app, "POST", "/unsubscribe", token_query(ADDRESS, "x" * 20)),
        "endpoint not allowed": call(site.app, "PUT", "/unsubscribe"),
    }
    assert {k: a.status for k, a in answers.items()} == {
        "page": 200, "stylesheet": 200, "download": 200, "missing": 404, "not allowed": 405,
        "confirm": 200, "forged": 400, "endpoint not allowed": 405}
    for answer in answers.values():
        assert_secure(answer)
    policies = {k: a.headers["Content-Security-Policy"] for k, a in answers.items()}
    assert policies["page"] == PAGE_POLICY
    assert policies["download"] == policies["stylesheet"] == policies["missing"] == FILE_POLICY
    assert policies["confirm"] == policies["forged"] == ENDPOINT_POLICY
    assert "script-src" not in PAGE_POLICY + ENDPOINT_POLICY  # default-src 'none' applies
    assert answers["not allowed"].headers["Allow"] == "GET, HEAD"
    assert answers["endpoint not allowed"].headers["Allow"] == "GET, HEAD, POST"


@pytest.mark.parametrize(("path", "query"), [
    ("/", ""), ("/2023-08/korea-2023-08.pdf", ""), ("/unsubscribe", "<token>"),
    ("/unsubscribe", "token=forged"), ("/nope", "")])
def test_head_answers_the_headers_of_get_without_a_body(site: Site, path: str,
                                                        query: str) -> None:
    query = token_query(ADDRESS) if query == "<token>" else query
    get, head = call(site.app, "GET", path, query), call(site.app, "HEAD", path, query)
    assert head.status == get.status and head.body == b"" and get.body != b""
    assert head.headers == get.headers  # Content-Length included: the size of the GET
    assert int(get.headers["Content-Length"]) == len(get.body)


@pytest.mark.parametrize(("path", "status"), [
    ("/.\x00./", 400), ("/index.html\x00.txt", 400), ("/\x1b[31m", 400), ("/a\x7f", 400),
    ("/\xff\xfe", 400),  # bytes that are not UTF-8 (PATH_INFO carries them as Latin-1)
    ("/../../../etc/passwd", 404), ("/2023-08/../../subscribers.sqlite", 404),
    ("/..", 404), ("/./../web0/subscribers.sqlite", 404),
    ("/" + "a" * 5000, 404), ("/" + "a/" * 2000, 404), ("/" + "b" * 300 + "/x", 404),
    ("/2023-08//korea-2023-08.pdf", 200), ("/./site.css", 200),
    ("/2023-08/korea-2023-08.pdf/", 404)])
def test_odd_paths_are_400_or_404_never_500(site: Site, path: str, status: int) -> None:
    answer = call(site.app, "GET", path)
    assert answer.status == status, answer.body
    assert b"root:" not in answer.body and b"SQLite" not in answer.body
    assert_secure(answer)


@pytest.mark.parametrize("address", ["not an address", "two@@example.org", "a@b", "@example.org",
                                     "x" * 300 + "@example.org", "ann@example.org\r\nBcc: x"])
def test_a_valid_token_for_an_invalid_address_is_refused_with_a_page(site: Site,
                                                                     address: str) -> None:
    for method in ("GET", "POST"):
        answer = call(site.app, method, "/unsubscribe", token_query(address),
                      b"List-Unsubscribe=One-Click", "26")
        assert answer.status == 400, answer.body
        assert b'id="invalid"' in answer.body
        assert_secure(answer)
    with closing(sqlite3.connect(site.db)) as db:
        assert db.execute("SELECT count(*) FROM subscribers").fetchone() == (1,)


# -- fuzzing ----------------------------------------------------------------------------

LATIN1 = st.characters(max_codepoint=0xFF)  # PATH_INFO and QUERY_STRING are bytes as Latin-1
SEGMENTS = st.one_of(st.sampled_from(["", ".", "..", "unsubscribe", "index.html", "2023-08",
                                      "site.css", "korea-2023-08.pdf", "%00", "%2F", "\x00",
                                      "a" * 300]),
                     st.text(LATIN1, max_size=12))
PATHS = st.one_of(st.lists(SEGMENTS, max_size=6).map(lambda parts: "/" + "/".join(parts)),
                  st.text(LATIN1, max_size=40))
ADDRESSES = st.one_of(st.sampled_from([ADDRESS, "Reader@Example.org", "new@example.org",
                                       "", "not an address"]),
                      st.text(LATIN1, max_size=30))


@st.composite
def queries(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["random", "token", "pairs"]))
    if kind == "random":
        return draw(st.text(LATIN1, max_size=60))
    if kind == "token":  # valid tokens, for addresses good and bad
        return token_query(draw(ADDRESSES))
    pairs = draw(st.lists(st.tuples(st.sampled_from(["address", "token", "x", ""]),
                                    st.text(LATIN1, max_size=20)), max_size=4))
    return "&".join(f"{key}={value}" for key, value in pairs)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=st.one_of(st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS",
                                         "PATCH", "TRACE"]),
                        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E),
                                min_size=1, max_size=8)),
       path=PATHS, query=queries(), body=st.binary(max_size=64),
       length=st.one_of(st.none(), st.integers(-5, 10_000).map(str),
                        st.text(LATIN1, max_size=5)))
def test_no_request_gets_a_500_and_every_answer_is_secured(
        site: Site, method: str, path: str, query: str, body: bytes, length: str | None) -> None:
    answer = call(site.app, method, path if path.startswith("/") else "/" + path, query, body,
                  length)
    assert answer.status in (200, 400, 404, 405, 503), (answer.status, answer.body[:200])
    assert_secure(answer)
    assert int(answer.headers["Content-Length"]) == len(answer.body) or method == "HEAD"
    if method == "HEAD":
        assert answer.body == b""
    if answer.status == 405:
        assert "HEAD" in answer.headers["Allow"]
    assert b"Traceback" not in answer.body


# -- a busy store, behind the real server ------------------------------------------------

@pytest.fixture
def server(site: Site) -> Iterator[int]:
    """The application behind the threaded server of ``publisher serve``, on a free port."""
    with make_preview_server(site.app, 0) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield int(httpd.server_address[1])
        finally:
            httpd.shutdown()
            thread.join(timeout=10)


def request(port: int, method: str, target: str,
            body: bytes | None = None) -> tuple[int, dict[str, str], str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def test_a_busy_store_answers_503_then_the_retry_records_the_unsubscribe(
        site: Site, server: int) -> None:
    # Addresses of this test's own: the module's store is shared with the property test
    # above, which may well have unsubscribed ADDRESS with a valid token.
    address, held = "busy@example.org", "held@example.org"
    with closing(sqlite3.connect(site.db, isolation_level=None)) as db:
        for one in (address, held):
            db.execute("INSERT OR IGNORE INTO subscribers (email, email_key, created, changed) "
                       "VALUES (?, ?, '', '')", (one, one))
    target = "/unsubscribe?" + token_query(address)
    holder = sqlite3.connect(site.db, isolation_level=None)  # another process's long write
    holder.execute("BEGIN EXCLUSIVE")
    try:
        holder.execute("UPDATE subscribers SET changed = 'held' WHERE email = ?", (held,))
        status, headers, page = request(server, "POST", target, b"List-Unsubscribe=One-Click")
        assert status == 503, page
        assert headers["Retry-After"] == "10"
        assert 'id="busy"' in page and "Traceback" not in page
        assert headers["Content-Security-Policy"] == ENDPOINT_POLICY
        # the page's button repeats the request
        action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page)[1])
        assert action == target.removeprefix("/unsubscribe")
        status, _, page = request(server, "GET", target)  # the link still shows its form
        assert status == 200 and 'id="confirm"' in page
        assert site.status(address) == "subscribed"  # not recorded, nothing half-done
    finally:
        holder.execute("COMMIT")
        holder.close()
    status, _, page = request(server, "POST", "/unsubscribe" + action,
                              b"List-Unsubscribe=One-Click")
    assert status == 200 and 'id="done"' in page
    assert site.status(address) == "unsubscribed"
    assert site.status(held) == "subscribed"  # the other process's write, kept as it was


def test_a_missing_store_is_a_503_page_not_a_500(site: Site, tmp_path: Path) -> None:
    paths = site.paths
    app = site_application(paths, tmp_path / "none.sqlite", {"PUBLISHER_SECRET": SECRET})
    answer = call(app, "POST", "/unsubscribe", token_query(ADDRESS))
    assert answer.status == 503 and b"Please try again later" in answer.body
    assert_secure(answer)
    assert not (tmp_path / "none.sqlite").exists()


def test_an_application_that_fails_gives_a_plain_500_with_the_headers() -> None:
    def broken(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        raise RuntimeError("secret detail /srv/korea/subscribers.sqlite")

    for method in ("GET", "HEAD"):
        answer = call(SecureHeaders(broken), method, "/")
        assert answer.status == 500
        assert answer.body == (b"" if method == "HEAD" else
                               b"Internal error: it has been logged.\n")
        assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert_secure(answer)


# -- on PostgreSQL -------------------------------------------------------------------

@pytest.fixture
def pg_site(site: Site, pg_url: str) -> Iterator[tuple[Any, str]]:
    """The same site over a PostgreSQL store of one subscriber (a pool of connections)."""
    store = subscribers.connect(pg_url, create=True)
    store.execute("INSERT INTO subscribers (email, email_key, created, changed) "
                  "VALUES (?, ?, '', '')", (ADDRESS, ADDRESS))
    store.close()
    app = site_application(site.paths, pg_url, {"PUBLISHER_SECRET": SECRET}, store_wait=0.3)
    with make_preview_server(app, 0) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield int(httpd.server_address[1]), pg_url
        finally:
            httpd.shutdown()
            thread.join(timeout=10)
            app.app.routes["/unsubscribe"].pool.close()  # its connections, before the drop


def _pg_status(url: str, address: str) -> str:
    with closing(subscribers.connect(url)) as db:
        return str(db.execute("SELECT status FROM subscribers WHERE email = ?",
                              (address,)).fetchone()[0])


def test_a_busy_postgresql_store_answers_503_then_the_retry_records_the_unsubscribe(
        pg_site: tuple[int, str]) -> None:
    import psycopg

    port, url = pg_site
    target = "/unsubscribe?" + token_query(ADDRESS)
    holder = psycopg.connect(url, autocommit=True)  # another process holding the table
    try:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE subscribers IN EXCLUSIVE MODE")
        status, headers, page = request(port, "POST", target, b"List-Unsubscribe=One-Click")
        assert status == 503, page
        assert headers["Retry-After"] == "10" and 'id="busy"' in page
        assert "Traceback" not in page
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    assert _pg_status(url, ADDRESS) == "subscribed"
    status, _, page = request(port, "POST", target, b"List-Unsubscribe=One-Click")
    assert status == 200 and 'id="done"' in page
    assert _pg_status(url, ADDRESS) == "unsubscribed"


def test_an_unreachable_postgresql_store_is_a_503_page_not_a_500(site: Site) -> None:
    from send_support import free_port

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/gone"
    app = site_application(site.paths, url, {"PUBLISHER_SECRET": SECRET}, store_wait=0.3)
    answer = call(app, "POST", "/unsubscribe", token_query(ADDRESS))
    assert answer.status == 503 and b"Please try again later" in answer.body
    assert_secure(answer)
