"""``publisher preview``: the web edition served, rebuilt on a save and reloaded by itself,
a source error shown in the page, the other formats built in the background."""

from __future__ import annotations

import http.client
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import FIXTURES, LAYOUTS
from publisher.build.builder import Paths, build
from publisher.model import Month
from publisher.site.app import make_preview_server
from publisher.site.preview import Preview
from publisher.site.security import SecureHeaders
from site_support import wait_for

JAN = Month(2024, 1)


@dataclass
class Running:
    preview: Preview
    paths: Paths
    port: int

    def get(self, path: str) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        finally:
            connection.close()

    @property
    def article(self) -> Path:
        return self.paths.issues / "2024-01" / "articles" / "01-features.md"


def _serve(tmp_path: Path, background: bool) -> Iterator[Running]:
    shutil.copytree(FIXTURES, tmp_path / "issues")
    paths = Paths(tmp_path / "issues", LAYOUTS, tmp_path / "dist")
    preview = Preview(paths, JAN, background=background)
    preview.start()
    server = make_preview_server(SecureHeaders(preview), 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Running(preview, paths, server.server_address[1])
    finally:
        preview.stop()
        server.shutdown()
        server.server_close()


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    yield from _serve(tmp_path, background=False)



def test_it_serves_the_web_edition_with_its_reload_script(running):
    status, page = running.get("/2024-01/features/")
    assert status == 200 and "Features “Quoted”" in page
    assert '<script src="/_preview/reload.js"' in page
    assert running.get("/2024-01/_web/web.css")[0] == 200
    assert running.get("/")[0] == 302
    assert running.get("/2023-12/")[0] == 404


def test_a_save_rebuilds_the_page(running):
    before = running.preview.state.version
    text = running.article.read_text(encoding="utf-8")
    running.article.write_text(text.replace('title: "Features', 'title: "Edited'),
                               encoding="utf-8")
    wait_for(lambda: running.preview.state.version > before, 10)
    assert "Edited “Quoted”" in running.get("/2024-01/features/")[1]


def test_a_save_before_the_watcher_first_looks_is_seen(tmp_path):
    """The watcher's thread may first run after a save (a busy machine): the files it
    compares with are those the first build read, so the save still rebuilds."""
    shutil.copytree(FIXTURES, tmp_path / "issues")
    paths = Paths(tmp_path / "issues", LAYOUTS, tmp_path / "dist")
    article = paths.issues / "2024-01" / "articles" / "01-features.md"

    class Late(Preview):
        def _spawn(self, target):  # the save comes before the thread runs
            text = article.read_text(encoding="utf-8")
            article.write_text(text.replace('title: "Features', 'title: "Late'),
                               encoding="utf-8")
            super()._spawn(target)

    preview = Late(paths, JAN, background=False)
    preview.start()
    try:
        wait_for(lambda: preview.state.version > 1, 10)
        assert any("Late “Quoted”" in page.decode("utf-8")
                   for page in preview.state.pages.values())
    finally:
        preview.stop()


def test_a_source_error_is_shown_in_the_page_and_the_server_goes_on(running):
    text = running.article.read_text(encoding="utf-8")
    before = running.preview.state.version
    running.article.write_text(text.replace("byline:", "bylin:"), encoding="utf-8")
    wait_for(lambda: running.preview.state.version > before, 10)
    status, page = running.get("/2024-01/features/")
    assert status == 200
    assert "01-features.md:" in page and "Traceback" not in page
    assert "Features “Quoted”" in page  # the last good version, under the error
    # Mended: the error goes.  (A save is not atomic: the watcher may first see the file
    # emptied by write_text and show that as an error for one round, so wait for the
    # page, not for the first rebuild.)
    running.article.write_text(text, encoding="utf-8")
    page = wait_for(lambda: (lambda p: p if "<pre>" not in p else None)(
        running.get("/2024-01/features/")[1]), 10)
    assert "Features “Quoted”" in page and "01-features.md:" not in page


def test_the_built_web_edition_never_carries_the_reload_script(tmp_path):
    shutil.copytree(FIXTURES, tmp_path / "issues")
    paths = Paths(tmp_path / "issues", LAYOUTS, tmp_path / "dist")
    build(JAN, paths, ["web"], parallel=False)
    for page in (paths.dist / "2024-01" / "web").rglob("*.html"):
        assert b"_preview" not in page.read_bytes(), page


def test_the_browser_reloads_by_itself_on_a_save(running, browser):
    tab = browser.new_page()
    try:
        tab.goto(f"http://127.0.0.1:{running.port}/2024-01/features/")
        tab.wait_for_timeout(300)  # the event stream is open
        text = running.article.read_text(encoding="utf-8")
        with tab.expect_navigation(timeout=10000):
            running.article.write_text(text.replace('title: "Features', 'title: "Saved'),
                                       encoding="utf-8")
        tab.wait_for_load_state("load")
        assert tab.inner_text("h1") == "Saved “Quoted”"
    finally:
        tab.close()


def test_the_other_formats_are_built_in_the_background_and_linked(tmp_path):
    for running in _serve(tmp_path, background=True):
        wait_for(lambda preview=running.preview: set(preview.builds().values()) == {"up to date"},
               300)
        page = running.get("/2024-01/")[1]
        for name in ("korea-2024-01.pdf", "korea-2024-01.epub", "email.html"):
            assert f'href="/2024-01/{name}"' in page
            assert running.get(f"/2024-01/{name}")[0] == 200
        assert "up to date" in page


def test_a_busy_port_is_said_before_any_rebuild(fixture_copy, cli, monkeypatch):
    """The port is taken before the first full rebuild: a busy one is one line at once
    (was: the whole web edition rebuilt first, then the error)."""
    import socket

    rebuilds: list[Preview] = []
    monkeypatch.setattr(Preview, "rebuild", lambda self: rebuilds.append(self))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = cli("preview", "2024-01", "--no-background", "--port", str(port),
                  paths=fixture_copy)
    assert run.status == 1 and "Traceback" not in run.err
    assert run.err_lines == [f"error: cannot listen on 127.0.0.1:{port}: Address already in "
                             "use (another program is listening there: stop it or choose "
                             "another --port)"]
    assert rebuilds == []
