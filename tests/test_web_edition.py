"""The web edition (``publisher.render.web``): its pages, images, metadata and bytes, and
what ``publisher site`` makes of it (the pages under ``<MONTH>/``, the archive pages,
``sitemap.xml``, ``robots.txt``, the feed's links to the articles)."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from lxml import etree, html

from conftest import FIXTURES, LAYOUTS
from publisher.build.builder import Paths, build
from publisher.model import Month

JAN = Month(2024, 1)


@pytest.fixture(scope="module")
def fixture_web(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """The fixture issues with the web edition of 2024-01 built (and only it)."""
    root = tmp_path_factory.mktemp("web")
    shutil.copytree(FIXTURES, root / "issues")
    paths = Paths(root / "issues", LAYOUTS, root / "dist")
    build(JAN, paths, ["web"], parallel=False)
    return paths


def _page(paths: Paths, name: str) -> html.HtmlElement:
    return html.fromstring((paths.dist / "2024-01" / "web" / name).read_bytes())


def _jsonld(page: html.HtmlElement) -> dict:
    (script,) = page.xpath("//script[@type='application/ld+json']")
    return json.loads(script.text)


def test_an_issue_page_and_a_page_per_article(fixture_web):
    web = fixture_web.dist / "2024-01" / "web"
    assert (web / "index.html").is_file()
    assert sorted(p.parent.name for p in web.glob("*/index.html")) == ["culture", "features"]
    issue = _page(fixture_web, "index.html")
    assert issue.xpath("//nav[@class='contents']//a[@class='title']/@href") == [
        "features/", "culture/"]
    assert issue.xpath("//h3[@class='section']/text()") == ["Features", "Culture"]
    # the email's "continue reading" links lead to #article-<slug> on the issue page
    assert issue.xpath("//li[@id='article-features']")
    downloads = issue.xpath("//p[@class='downloads']/a/@href")
    assert downloads == ["korea-2024-01.pdf", "korea-2024-01.epub"]
    assert not issue.xpath("//script[not(@type='application/ld+json')]")


def test_an_article_page_has_everything_of_the_article(fixture_web):
    page = _page(fixture_web, "features/index.html")
    assert page.xpath("string(//p[@class='section'])") == "Features"
    assert page.xpath("string(//h1)") == "Features “Quoted”"
    assert page.xpath("string(//header//p[@class='dek'])") == "A dek – with a dash."
    assert "Kim Min-ji" in page.xpath("string(//p[@class='byline'])")
    lead = page.xpath("//figure[@class='lead']")[0]
    assert lead.xpath("string(.//span[@class='caption'])") == "The lead caption."
    assert lead.xpath("string(.//span[@class='credit'])") == "ⓒ Test Studio"
    assert page.xpath("//div[@class='table']/table//td")
    assert page.xpath("string(//aside[@class='pullquote']/p[@class='attribution'])") == (
        "Kim Min-ji")
    assert page.xpath("//ol[@class='footnotes']/li[@id='article-features--fn1']")
    links = page.xpath("//div[@class='body']//a/@href")
    assert "../culture/" in links and "../culture/#article-culture--h-hanok" in links
    assert "#article-features--h-a-table" in links


def test_images_come_in_sizes_made_once_with_their_size(fixture_web):
    page = _page(fixture_web, "features/index.html")
    web = fixture_web.dist / "2024-01" / "web"
    images = page.xpath("//main//img")
    assert len(images) == 2
    for n, img in enumerate(images):
        assert img.get("width") and img.get("height") and img.get("sizes")
        assert (img.get("loading") == "lazy") == (n > 0)  # the lead image is not lazy
        for candidate in img.get("srcset").split(", "):
            url, width = candidate.split(" ")
            assert (web / "features" / url).resolve().is_file(), url
            assert re.fullmatch(r"\d+w", width)
    made = sorted(p.name for p in (web / "_web" / "img").iterdir())
    assert [name for name in made if not name.startswith("cover-")] == [
        "figure-480.png", "figure-800.png", "lead-1200.png", "lead-1600.png",
        "lead-480.png", "lead-800.png"]


def test_canonical_open_graph_twitter_and_json_ld(fixture_web):
    base = "https://example.org/korea/2024-01/"
    issue = _page(fixture_web, "index.html")
    article = _page(fixture_web, "features/index.html")
    assert issue.xpath("//link[@rel='canonical']/@href") == [base]
    assert article.xpath("//link[@rel='canonical']/@href") == [base + "features/"]
    meta = {m.get("property") or m.get("name"): m.get("content")
            for m in article.xpath("//meta[@content]")}
    assert meta["og:type"] == "article" and meta["og:url"] == base + "features/"
    assert meta["og:image"] == base + "_web/img/lead-1600.png"
    assert meta["twitter:card"] == "summary_large_image"
    data = _jsonld(article)
    assert data["@type"] == "NewsArticle" and data["headline"] == "Features “Quoted”"
    assert data["author"] == [{"@type": "Person", "name": "Kim Min-ji"}]
    assert data["isPartOf"]["@type"] == "PublicationIssue"
    data = _jsonld(issue)
    assert data["@type"] == "PublicationIssue"
    assert [p["url"] for p in data["hasPart"]] == [base + "features/", base + "culture/"]


def test_the_same_issue_gives_the_same_bytes(fixture_web, tmp_path):
    again = Paths(fixture_web.issues, LAYOUTS, tmp_path / "dist")
    build(JAN, again, ["web"], parallel=False)
    first = fixture_web.dist / "2024-01" / "web"
    second = again.dist / "2024-01" / "web"
    names = sorted(str(p.relative_to(first)) for p in first.rglob("*") if p.is_file())
    assert names == sorted(str(p.relative_to(second)) for p in second.rglob("*") if p.is_file())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_the_site_publishes_the_web_edition(built_2023_08):
    site = built_2023_08.dist / "site"
    issue = html.fromstring((site / "2023-08" / "index.html").read_bytes())
    assert issue.xpath("//link[@rel='canonical']/@href") == [
        "https://webzine.example.org/korea/2023-08/"]
    article = site / "2023-08" / "korea-security-ties" / "index.html"
    assert article.is_file()
    assert (site / "2023-08" / "email.html").is_file()  # the email's web version, beside
    # every archive-only month has its page
    for month in ("2023-03", "2023-04", "2023-05", "2023-06", "2023-07"):
        page = html.fromstring((site / month / "index.html").read_bytes())
        assert page.xpath("//a[@class='pdf']/@href"), month
    assert b"manifest.json" not in b"".join(p.name.encode() for p in site.rglob("*"))


def test_sitemap_robots_and_the_feed_link_the_article_pages(built_2023_08):
    site = built_2023_08.dist / "site"
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    urls = etree.parse(str(site / "sitemap.xml")).xpath("//s:loc/text()", namespaces=ns)
    article = "https://webzine.example.org/korea/2023-08/korea-security-ties/"
    assert article in urls and "https://webzine.example.org/korea/2023-03/" in urls
    robots = (site / "robots.txt").read_text()
    assert "Sitemap: https://webzine.example.org/korea/sitemap.xml" in robots
    feed = etree.parse(str(site / "feed.xml"))
    related = feed.xpath("//a:link[@rel='related']/@href",
                         namespaces={"a": "http://www.w3.org/2005/Atom"})
    assert related == [article]


def test_every_link_between_the_pages_leads_to_a_file(built_2023_08):
    site = built_2023_08.dist / "site"
    for page in [site / "2023-08" / "index.html", *site.glob("2023-08/*/index.html")]:
        tree = html.fromstring(page.read_bytes())
        for url in tree.xpath("//a/@href | //link[@rel='stylesheet']/@href | //img/@src"):
            if url.startswith(("http", "mailto:", "#")) or "search/" in url:
                continue
            if re.match(r"(\.\./)+20\d\d-\d\d/korea-", url):  # an archive-only issue's
                continue  # download, published at its address before the site existed
            target = (page.parent / url.split("#")[0]).resolve()
            if target.is_dir():
                target = target / "index.html"
            assert target.is_file(), (page, url)
