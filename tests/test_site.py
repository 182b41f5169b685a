"""The download site, served by ``publisher serve`` and read in a real browser."""

from __future__ import annotations

import http.client
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from conftest import seed_sentences
from publisher.build.builder import Paths
from publisher.model import Month
from publisher.render.email import placeholders
from publisher.site.pages import build_site
from site_support import serve

ATOM = "{http://www.w3.org/2005/Atom}"
MONTHS = ["2023-08", "2023-07", "2023-06", "2023-05", "2023-04", "2023-03"]


@dataclass
class Site:
    paths: Paths
    url: str

    @property
    def root(self) -> Path:
        return self.paths.dist / "site"


@pytest.fixture(scope="session")
def site(built_2023_08: Paths) -> Iterator[Site]:
    """2023-08 built, the site built, and ``publisher serve`` running on a free port."""
    with serve(built_2023_08, None, os.environ) as (url, _):
        yield Site(built_2023_08, url)


@pytest.fixture(scope="session")
def page(site: Site, browser: Any) -> Iterator[Any]:
    tab = browser.new_page()
    tab.goto(site.url)
    yield tab
    tab.close()


def test_the_index_lists_every_issue_newest_first(page):
    months = page.eval_on_selector_all(".issue time", "els => els.map(e => e.dateTime)")
    assert months == MONTHS
    stories = page.eval_on_selector_all(".issue .story", "els => els.map(e => e.textContent)")
    assert stories == ["Korea’s Push for Greater Security Ties", "Chuncheon", "Gwangju",
                       "Gongju", "Wanju", "Marado Island"]


def test_downloads_answer_with_their_bytes_and_type(site, page):
    dist = site.paths.dist / "2023-08"
    for css, name, media_type in (("a.pdf", "korea-2023-08.pdf", "application/pdf"),
                                  ("a.epub", "korea-2023-08.epub", "application/epub+zip")):
        href = page.eval_on_selector(f"#issue-2023-08 {css}", "a => a.href")
        response = page.request.get(href)
        assert response.status == 200
        assert response.headers["content-type"] == media_type
        body = response.body()
        assert body == (dist / name).read_bytes()
        size = page.eval_on_selector(f"#issue-2023-08 {css} + .size", "e => e.textContent")
        assert size.endswith(" KB") and abs(float(size[:-3]) * 1024 - len(body)) < 52


def test_archive_only_issues_keep_their_links(page):
    href = page.eval_on_selector("#issue-2023-07 a.pdf", "a => a.href")
    assert href == "https://webzine.example.org/korea/2023-07/korea-2023-07.pdf"


def test_covers_load(page):
    covers = page.eval_on_selector_all(
        "img.cover", "imgs => imgs.map(i => [i.complete, i.naturalWidth])")
    assert covers == [[True, 480]]  # 2023-08 has a cover image; the archive has stand-ins
    standins = page.eval_on_selector_all(".cover-standin", "els => els.length")
    assert standins == 5


def test_the_web_version_shows_the_article(site, page):
    page.click("#issue-2023-08 >> text=Read online")
    page.wait_for_load_state()
    assert page.url == site.url + "2023-08/index.html"  # the web edition's issue page
    page.click("text=Korea’s Push for Greater Security Ties >> nth=-1")
    page.wait_for_load_state()
    assert page.url == site.url + "2023-08/korea-security-ties/"
    text = re.sub(r"\s+", " ", page.inner_text("body"))
    for sentence in seed_sentences():
        assert sentence in text, sentence
    html = page.content()
    for token in placeholders.ALL:
        assert token not in html
    images = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
    assert images and all(width > 0 for width in images)
    page.go_back()
    page.go_back()


def test_the_feed_lists_every_issue_with_enclosures(site):
    feed = etree.parse(str(site.root / "feed.xml")).getroot()
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title").split(":")[0] for e in entries] == [
        f"KOREA — {Month.parse(m).label}" for m in MONTHS]
    enclosures = [(link.get("href"), link.get("type"), link.get("length"))
                  for link in entries[0].findall(f"{ATOM}link[@rel='enclosure']")]
    dist = site.paths.dist / "2023-08"
    assert enclosures == [
        ("https://webzine.example.org/korea/2023-08/korea-2023-08.pdf", "application/pdf",
         str((dist / "korea-2023-08.pdf").stat().st_size)),
        ("https://webzine.example.org/korea/2023-08/korea-2023-08.epub",
         "application/epub+zip", str((dist / "korea-2023-08.epub").stat().st_size))]
    for entry in entries[1:]:
        assert len(entry.findall(f"{ATOM}link[@rel='enclosure']")) == 2


def test_the_server_serves_nothing_outside_the_site(site):
    port = int(site.url.rsplit(":", 1)[1].strip("/"))
    for path, status in (("/../../../etc/passwd", 404), ("/%2e%2e/%2e%2e/etc/passwd", 404),
                         ("/nope.html", 404), ("/.%00./", 400), ("/index.html%00.txt", 400),
                         ("/%2e%2e%2f%2e%2e%2fetc%2fpasswd", 404), ("/..%2f..%2f", 404),
                         ("/%ff%fe", 400), ("/" + "a" * 5000, 404), ("/" + "%2e/" * 900, 404),
                         ("/2023-08/korea-2023-08.pdf/", 404)):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", path)
        response = connection.getresponse()
        assert response.status == status, path
        assert response.getheader("X-Content-Type-Options") == "nosniff", path
        assert "frame-ancestors 'none'" in response.getheader("Content-Security-Policy"), path
        assert b"root:" not in response.read()
        connection.close()


def test_the_site_is_rebuilt_identically(site, tmp_path):
    again = Paths(site.paths.issues, site.paths.layouts, tmp_path / "dist")
    shutil.copytree(site.paths.dist / "2023-08", again.dist / "2023-08")
    build_site(again)
    for name in ("index.html", "feed.xml", "2023-08/index.html", "2023-08/cover.jpg",
                 "2023-08/korea-security-ties/index.html", "sitemap.xml", "robots.txt",
                 "search/index.html", "pagefind/pagefind-entry.json"):
        assert (again.dist / "site" / name).read_bytes() == (site.root / name).read_bytes()


@pytest.mark.parametrize("damage", ["garbage", '{"pages": 5}', '{"pages": [{"url": 1}]}', None])
def test_a_damaged_manifest_is_a_warning_not_a_silent_sitemap(built_2023_08, tmp_path, damage):
    """The web edition's manifest.json missing or damaged: the site was written without a
    word, its sitemap quietly short of every article of the month."""
    from publisher.diagnostics import Diagnostics

    again = Paths(built_2023_08.issues, built_2023_08.layouts, tmp_path / "dist")
    shutil.copytree(built_2023_08.dist / "2023-08", again.dist / "2023-08")
    manifest = again.dist / "2023-08" / "web" / "manifest.json"
    if damage is None:
        manifest.unlink()
    else:
        manifest.write_text(damage)
    diag = Diagnostics()
    build_site(again, diag)
    assert [w for w in map(str, diag.warnings) if "manifest.json" in w] == [
        f"{built_2023_08.issues / '2023-08' / 'issue.toml'}: 2023-08: {manifest} is missing "
        "or damaged: the sitemap lists none of its articles; rebuild it ('publisher build "
        "2023-08')"]


def test_the_search_finds_an_article_from_the_static_site(site, browser):
    """Pagefind's index, built by publisher site, queried in Chromium under the site's
    own Content-Security-Policy: the result links the article's page."""
    tab = browser.new_page()
    try:
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.on("response", lambda r: errors.append(f"{r.status} {r.url}")
               if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
        tab.goto(site.url + "search/")
        tab.fill(".pagefind-ui__search-input", "Stoltenberg")
        tab.wait_for_selector(".pagefind-ui__result-link", timeout=15000)
        links = tab.eval_on_selector_all(".pagefind-ui__result-link", "as => as.map(a => a.href)")
        assert site.url + "2023-08/korea-security-ties/" in links
        assert not errors, errors
    finally:
        tab.close()
