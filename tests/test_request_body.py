"""The request body at its limits (publisher.site.body), through ``publisher serve``'s
threaded WSGI server on 127.0.0.1, spoken to over a raw socket: a body longer than the
limit is cut there and the answer does not wait for the rest; a missing, malformed or
negative Content-Length reads nothing; a slow client is waited for in its own thread
while others are answered; one that closes early is read as far as it went.  The
signup form (8 KB) and the one-click unsubscribe (4 KB) read it alike."""

from __future__ import annotations

import io
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from conftest import FIXTURES, LAYOUTS
from publisher.build.builder import Paths
from publisher.deliver import subscribers, tokens
from publisher.diagnostics import Diagnostics
from publisher.site import forms, unsubscribe
from publisher.site.app import make_preview_server, site_application
from publisher.site.body import content_length, read_body
from publisher.source.config import load_publication

SECRET = "test-secret-for-the-body-tests-0123"


@dataclass
class Served:
    port: int
    store: Path

    def request(self, method: str, target: str, body: bytes = b"", length: str | None = None,
                *, pause: float = 0.0, pieces: int = 1, close_early: bool = False,
                timeout: float = 10.0) -> tuple[int, str]:
        """Send a request (``length``: the Content-Length header, None for none; the body in
        ``pieces`` with ``pause`` seconds between; ``close_early``: shut the sending side
        after the body); the status and the page, or a TimeoutError when none comes."""
        head = f"{method} {target} HTTP/1.0\r\nHost: 127.0.0.1:{self.port}\r\n"
        if length is not None:
            head += f"Content-Length: {length}\r\n"
        head += "Content-Type: application/x-www-form-urlencoded\r\n\r\n"
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as conn:
            conn.sendall(head.encode())
            step = -(-len(body) // pieces) if body else 0
            for i in range(pieces):
                if pause and i:
                    time.sleep(pause)
                conn.sendall(body[i * step:(i + 1) * step])
            if close_early:
                conn.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        status_line, _, rest = answer.partition(b"\r\n")
        return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2].decode()

    def form(self, **extra: str) -> bytes:
        page = self.request("GET", "/subscribe")[1]
        digest = re.search(r'name="consent_digest" value="([^"]+)"', page)
        assert digest, page
        return urlencode({"email": "reader@example.org", "name": "Reader",
                          "consent_digest": digest.group(1), "website": "", **extra}).encode()

    def signups(self) -> int:
        with subscribers.connect(self.store) as db:
            return int(db.execute("SELECT count(*) FROM signups").fetchone()[0])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    dist = tmp_path / "dist"
    (dist / "site").mkdir(parents=True)
    (dist / "site" / "index.html").write_text("<!DOCTYPE html><title>KOREA</title>\n")
    store = tmp_path / "subscribers.sqlite"
    subscribers.connect(store, create=True).close()
    app = site_application(Paths(issues=FIXTURES, layouts=LAYOUTS, dist=dist), store,
                           {"PUBLISHER_SECRET": SECRET})
    server = make_preview_server(app, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(server.server_address[1], store)
    finally:
        server.shutdown()
        server.server_close()


def unsubscribe_target(address: str) -> str:
    publication = load_publication(FIXTURES, Diagnostics())
    assert publication is not None
    url = urlsplit(tokens.unsubscribe_url(publication, address, SECRET.encode()))
    return f"/unsubscribe?{url.query}"


# -- the reader itself, on a stream --------------------------------------------------------

@pytest.mark.parametrize(("length", "expected"), [
    (None, 0), ("", 0), ("abc", 0), ("-5", 0), ("1.5", 0), (" 12 ", 12), ("12", 12)])
def test_the_announced_length(length: str | None, expected: int) -> None:
    environ = {} if length is None else {"CONTENT_LENGTH": length}
    assert content_length(environ) == expected


def test_a_body_is_read_as_announced_and_never_past_the_limit() -> None:
    stream = io.BytesIO(b"x" * 100)
    assert read_body({"CONTENT_LENGTH": "10", "wsgi.input": stream}, 50) == b"x" * 10
    assert read_body({"CONTENT_LENGTH": "90", "wsgi.input": stream}, 50) == b"x" * 50
    assert stream.tell() == 60  # the rest left unread
    assert read_body({"CONTENT_LENGTH": "nonsense", "wsgi.input": stream}, 50) == b""
    assert stream.tell() == 60


# -- through the server ----------------------------------------------------------------------

def test_a_form_within_the_limit_is_taken(served: Served) -> None:
    status, page = served.request("POST", "/subscribe", body := served.form(),
                                  str(len(body)))
    assert status == 200 and 'id="sent"' in page
    assert served.signups() == 1


def test_a_form_past_the_limit_is_cut_there_and_not_waited_for(served: Served) -> None:
    """The address stands after 8 KB of padding: cut off, so the form fails its checks;
    the rest of the announced megabyte never comes, and the answer does not wait for it."""
    body = b"pad=" + b"x" * forms.MAX_BODY + b"&" + served.form()
    status, page = served.request("POST", "/subscribe", body, str(1_000_000), timeout=5)
    assert status == 400 and "does not look like an email address" in page
    assert served.signups() == 0


@pytest.mark.parametrize("length", [None, "abc", "-1"])
def test_a_form_without_a_length_reads_nothing_and_does_not_wait(served: Served,
                                                                length: str | None) -> None:
    status, page = served.request("POST", "/subscribe", served.form(), length, timeout=5)
    assert status == 400 and "does not look like an email address" in page
    assert served.signups() == 0


def test_a_slow_client_is_waited_for_while_others_are_answered(served: Served) -> None:
    body = served.form()
    answers: list[tuple[int, str]] = []
    slow = threading.Thread(target=lambda: answers.append(served.request(
        "POST", "/subscribe", body, str(len(body)), pieces=4, pause=0.4)))
    started = time.monotonic()
    slow.start()
    time.sleep(0.2)
    assert served.request("GET", "/subscribe")[0] == 200  # answered meanwhile
    assert not answers
    slow.join(timeout=10)
    assert time.monotonic() - started >= 1.2
    assert answers[0][0] == 200 and 'id="sent"' in answers[0][1]
    assert served.signups() == 1


def test_a_client_that_closes_early_is_read_as_far_as_it_went(served: Served) -> None:
    body = served.form()
    status, page = served.request("POST", "/subscribe", body[:-10], str(len(body)),
                                  close_early=True, timeout=5)
    assert status == 400 and "The words below have changed" in page  # the digest cut short
    assert served.signups() == 0


@pytest.mark.parametrize(("body", "length", "pieces"), [
    (b"List-Unsubscribe=One-Click", "26", 1),
    (b"List-Unsubscribe=One-Click", None, 1),
    (b"List-Unsubscribe=One-Click", "abc", 1),
    (b"x" * (unsubscribe.MAX_BODY + 100), str(10_000_000), 1),  # past 4 KB: not waited for
    (b"List-Unsubscribe=One-Click", "26", 3),  # slow
])
def test_the_one_click_unsubscribe_reads_its_body_alike(served: Served, body: bytes,
                                                        length: str | None,
                                                        pieces: int) -> None:
    status, page = served.request("POST", unsubscribe_target("reader@example.org"), body,
                                  length, pieces=pieces, pause=0.2, timeout=5)
    assert status == 200 and 'id="done"' in page
    with subscribers.connect(served.store) as db:
        found = subscribers.find(db, "reader@example.org")
    assert found is not None and found.status == subscribers.UNSUBSCRIBED
