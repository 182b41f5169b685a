"""The EPUB 3: EPUBCheck, text, metadata, navigation, print pages, reproducibility.

Each EPUB is built once per session and EPUBCheck runs once on each (in the session's
one EPUBCheck JVM, tests/epub_support.py: a JVM's first check costs about 7 s of CPU and
300 MB): the 2023-08 issue as ``publisher build`` makes it, and the fixture issue with a
hand-made print page map, so the page-list markup is proven valid too.
"""

from __future__ import annotations

import io
import logging
import re
import shutil
import uuid
import zipfile
from pathlib import Path

import pytest
from lxml import etree
from PIL import Image

from conftest import FIXTURES, ISSUES, LAYOUTS, seed_sentences
from epub_support import NS, Epub, ace, epubcheck
from publisher import model as m
from publisher.build.builder import Paths, build
from publisher.render import formats
from publisher.render.base import BuildContext, PrintLayout
from publisher.render.epub.pages import Paginator, marker_id
from publisher.render.epub.renderer import NAMESPACE, EpubRenderer, identifier
from publisher.render.epub.text import HANGUL_RUN, mark_language_of_parts
from publisher.source.reader import read_issue

AUGUST = m.Month(2023, 8)
JANUARY = m.Month(2024, 1)

# A print layout's page map as publisher.render.pdf.renderer.page_map gives it, made by hand:
# features starts on page 3, culture on page 6, the page on which features ends.
FIXTURE_PAGES = {
    "article-features": "3", "article-features--b1": "3", "article-features--b2": "4",
    "article-features--h-a-table": "4", "article-features--b3": "4",
    "article-features--b4": "5", "article-features--b5": "5", "article-features--b6": "6",
    "article-features--fn1": "3",
    "article-culture": "6", "article-culture--b1": "6", "article-culture--b2": "7",
    "article-culture--h-hanok": "7", "article-culture--b3": "7",
}


def _august(dist: Path) -> bytes:
    paths = Paths(issues=ISSUES, layouts=LAYOUTS, dist=dist)
    [written] = build(AUGUST, paths, ["epub"])
    assert written.name == "korea-2023-08.epub"
    return written.read_bytes()


def _january(pages: dict[str, str]) -> bytes:
    issue = read_issue(FIXTURES, JANUARY)
    context = BuildContext(issue=issue, layouts=LAYOUTS, print_layout=PrintLayout(pages))
    [output] = EpubRenderer().render(context)
    assert output.name == "korea-2024-01.epub"
    return output.data


@pytest.fixture(scope="session")
def august_bytes(built_2023_08: Paths) -> bytes:
    """The EPUB of the session's build of 2023-08 (conftest's ``built_2023_08``, every
    format, which other files read too); test_two_builds_are_byte_identical builds it
    again, alone."""
    return (built_2023_08.dist / "2023-08" / "korea-2023-08.epub").read_bytes()


@pytest.fixture(scope="session")
def august(august_bytes: bytes) -> Epub:
    return Epub(august_bytes)


@pytest.fixture(scope="session")
def january_bytes() -> bytes:
    return _january(FIXTURE_PAGES)


@pytest.fixture(scope="session")
def january(january_bytes: bytes) -> Epub:
    return Epub(january_bytes)


# -- EPUBCheck -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["august_bytes", "january_bytes"])
def test_epubcheck_reports_no_error_and_no_warning(name: str, request: pytest.FixtureRequest,
                                                   tmp_path: Path) -> None:
    path = tmp_path / "book.epub"
    path.write_bytes(request.getfixturevalue(name))
    result = epubcheck(path)
    assert result.messages == ()
    assert (result.fatals, result.errors, result.warnings) == (0, 0, 0)


@pytest.mark.parametrize("name", ["august_bytes", "january_bytes"])
def test_ace_finds_no_accessibility_violation(name: str, request: pytest.FixtureRequest,
                                              tmp_path: Path) -> None:
    """DAISY Ace: axe-core on every content document, and the package's metadata."""
    path = tmp_path / "book.epub"
    path.write_bytes(request.getfixturevalue(name))
    result = ace(path, tmp_path / "ace")
    assert result.violations == ()
    assert result.outcome == "pass"
    assert {"schema:accessMode", "schema:accessibilityFeature", "schema:accessibilityHazard",
            "schema:accessibilitySummary", "schema:accessModeSufficient",
            "dcterms:conformsTo"} <= set(result.metadata_present)


# -- Text ----------------------------------------------------------------------


def test_every_seed_sentence_is_in_the_text_with_curly_quotes(august: Epub) -> None:
    text = august.text()
    sentences = seed_sentences()
    assert len(sentences) > 20
    missing = [s for s in sentences if " ".join(s.split()) not in text]
    assert missing == []
    assert "North Korea’s nuclear" in text
    assert "“united response”" in text


@pytest.mark.parametrize("name", ["august", "january"])
def test_no_mojibake_and_no_straight_quotes_in_prose(name: str,
                                                     request: pytest.FixtureRequest) -> None:
    book: Epub = request.getfixturevalue(name)
    text = book.text()
    for bad in ("¡¯", "¡°", "¡±", "¨Ï", "â€", "Ã", "\ufffd"):
        assert bad not in text
    assert '"' not in text
    assert "'" not in text


def test_hangul_survives_marked_as_korean(january: Epub) -> None:
    assert "A hanok (한옥) is a traditional Korean house." in january.text()
    [span] = january.doc("article-culture.xhtml").xpath("//x:span[@lang='ko']", namespaces=NS)
    assert span.text == "한옥"
    assert span.get("{http://www.w3.org/XML/1998/namespace}lang") == "ko"


def test_language_of_parts_in_text_and_tails() -> None:
    root = etree.fromstring(
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>서울</title></head><body>'
        "<p>Seoul (서울 특별시) is <em>big</em> 정말 and 한강.</p><ul><li>부산</li></ul>"
        "</body></html>")
    assert mark_language_of_parts(root, HANGUL_RUN, "ko") == 4
    spans = root.xpath("//x:span[@lang='ko']/text()", namespaces=NS)
    assert spans == ["서울 특별시", "정말", "한강", "부산"]
    [p] = root.xpath("//x:p", namespaces=NS)
    assert "".join(p.itertext()) == "Seoul (서울 특별시) is big 정말 and 한강."
    assert root.xpath("//x:title/text()", namespaces=NS) == ["서울"]  # head untouched


# -- Package document ------------------------------------------------------------


def test_metadata(august: Epub) -> None:
    assert august.dc("title") == ["KOREA — August 2023"]
    assert august.dc("language") == ["en"]
    assert august.dc("publisher") == ["Korean Culture and Information Service"]
    assert august.dc("creator") == ["Sohn Ji-ae"]
    assert august.dc("date") == ["2023-08-01"]
    assert august.meta("dcterms:modified") == ["2023-08-01T00:00:00Z"]
    [description] = august.dc("description")
    assert description.startswith("Korea’s Push for Greater Security Ties.")
    assert {"Korea", "Current Korea"} <= set(august.dc("subject"))
    [unique] = august.opf.xpath("/opf:package/@unique-identifier", namespaces=NS)
    [ident] = august.opf.xpath(f"//dc:identifier[@id='{unique}']/text()", namespaces=NS)
    assert ident == f"urn:uuid:{uuid.uuid5(NAMESPACE, 'KOREA/2023-08')}"
    assert uuid.UUID(ident.removeprefix("urn:uuid:")).version == 5


def test_identifier_is_stable_and_differs_per_month(august: Epub, january: Epub,
                                                     tmp_path: Path) -> None:
    shutil.copytree(ISSUES, tmp_path / "elsewhere")  # the same issue read from another folder
    assert august.dc("identifier") == [identifier(read_issue(tmp_path / "elsewhere", AUGUST))]
    assert january.dc("identifier") != august.dc("identifier")


def test_accessibility_metadata(august: Epub) -> None:
    assert set(august.meta("schema:accessMode")) == {"textual", "visual"}
    assert august.meta("schema:accessModeSufficient") == ["textual"]
    features = set(august.meta("schema:accessibilityFeature"))
    assert {"structuralNavigation", "alternativeText", "tableOfContents",
            "readingOrder"} <= features
    assert august.meta("schema:accessibilityHazard") == ["none"]
    [summary] = august.meta("schema:accessibilitySummary")
    assert "text alternative" in summary
    assert august.meta("dcterms:conformsTo") == ["EPUB Accessibility 1.1 - WCAG 2.1 Level AA"]
    assert august.opf.xpath("//dc:conformsTo", namespaces=NS) == []


def test_print_page_source_is_declared_only_with_print_pages(august: Epub,
                                                            january: Epub) -> None:
    [source] = january.opf.xpath("//dc:source", namespaces=NS)
    assert source.text == "https://example.org/korea/2024-01/korea-2024-01.pdf"
    refines = january.opf.xpath("//opf:meta[@property='source-of']", namespaces=NS)
    assert [(r.get("refines"), r.text) for r in refines] == [
        (f"#{source.get('id')}", "pagination")]
    assert "printPageNumbers" in january.meta("schema:accessibilityFeature")
    # 2023-08 as `publisher build` makes it: its pages are those of the print PDF.
    [source] = august.opf.xpath("//dc:source", namespaces=NS)
    assert source.text.endswith("/2023-08/korea-2023-08.pdf")
    assert "printPageNumbers" in august.meta("schema:accessibilityFeature")
    nav = august.doc(august.nav_href)
    assert nav.xpath("//x:nav[@epub:type='page-list']//x:a", namespaces=NS)


def test_cover_image_is_declared_and_reachable(august: Epub) -> None:
    [cover] = august.opf.xpath("//opf:item[@properties='cover-image']", namespaces=NS)
    with Image.open(io.BytesIO(august.read(august.href(cover.get("href"))))) as img:
        assert img.format == "JPEG"
        assert max(img.size) <= 1600
    nav = august.doc(august.nav_href)
    [cover_href] = nav.xpath("//x:nav[@epub:type='landmarks']//x:a[@epub:type='cover']/@href",
                             namespaces=NS)
    page = august.doc(cover_href)
    [img] = page.xpath("//x:img", namespaces=NS)
    assert img.get("src") == cover.get("href")
    assert img.get("alt").startswith("Cover of KOREA — August 2023")
    assert august.spine[0] == cover_href  # linear and first: no OPF-096


# -- Navigation ----------------------------------------------------------------


def test_nav_landmarks_and_ncx(august: Epub) -> None:
    nav = august.doc(august.nav_href)
    landmarks = {a.get(f"{{{NS['epub']}}}type"): a.get("href") for a in
                 nav.xpath("//x:nav[@epub:type='landmarks']//x:a", namespaces=NS)}
    assert set(landmarks) == {"cover", "toc", "bodymatter", "backmatter"}
    assert landmarks["bodymatter"] == "article-korea-security-ties.xhtml"
    assert landmarks["backmatter"] == "archive.xhtml"
    for href in landmarks.values():
        assert august.href(href.split("#")[0]) in august.names
    toc = nav.xpath("//x:nav[@epub:type='toc']//x:a/text()", namespaces=NS)
    assert toc[:2] == ["Korea’s Push for Greater Security Ties", "United Response"]
    assert "Earlier Issues" in toc and "Colophon" in toc
    ncx = etree.fromstring(august.read(august.href("toc.ncx")))
    labels = ncx.xpath("//ncx:navLabel/ncx:text/text()", namespaces=NS)
    assert labels[0] == "Korea’s Push for Greater Security Ties"
    assert ncx.xpath("//ncx:meta[@name='dtb:uid']/@content", namespaces=NS) == august.dc(
        "identifier")


def test_ticker_only_when_it_has_items(august: Epub, january: Epub) -> None:
    assert not any("ticker" in name for name in august.names)
    items = january.doc("ticker.xhtml").xpath("//x:li", namespaces=NS)
    assert ["".join(li.itertext()) for li in items] == [
        "Ticker item one", "Ticker item two, without a link"]


def test_archive_is_back_matter_with_download_links(august: Epub) -> None:
    archive = august.doc("archive.xhtml")
    assert archive.xpath("//x:body/@epub:type", namespaces=NS) == ["backmatter"]
    links = archive.xpath("//x:a/@href", namespaces=NS)
    for month in ("2023-07", "2023-03"):
        assert f"https://webzine.example.org/korea/{month}/korea-{month}.pdf" in links
        assert f"https://webzine.example.org/korea/{month}/korea-{month}.epub" in links
    assert august.spine[-2:] == ["archive.xhtml", "colophon.xhtml"]
    colophon = august.doc("colophon.xhtml")
    assert colophon.xpath("//x:section/@epub:type", namespaces=NS) == ["colophon"]


# -- Content documents -----------------------------------------------------------


def test_each_article_is_its_own_semantic_document(january: Epub) -> None:
    for slug in ("features", "culture"):
        doc = january.doc(f"article-{slug}.xhtml")
        [section] = doc.xpath(f"//x:section[@id='article-{slug}']", namespaces=NS)
        assert section.get(f"{{{NS['epub']}}}type") == "chapter"
        assert doc.xpath("//x:h1/text()", namespaces=NS)
    doc = january.doc("article-features.xhtml")
    figures = doc.xpath("//x:figure[x:img and x:figcaption]", namespaces=NS)
    assert len(figures) == 2
    assert [i.get("alt") for i in doc.xpath("//x:img", namespaces=NS)] == [
        "A green test card", "A red test card"]
    [ref] = doc.xpath("//x:a[@epub:type='noteref']", namespaces=NS)
    [note] = doc.xpath("//x:aside[@epub:type='footnote']", namespaces=NS)
    assert ref.get("href") == f"article-features.xhtml#{note.get('id')}"
    assert doc.xpath("//x:table/x:thead", namespaces=NS)
    assert doc.xpath("//x:aside[@epub:type='pullquote']", namespaces=NS)


@pytest.mark.parametrize("name", ["august", "january"])
def test_internal_links_resolve(name: str, request: pytest.FixtureRequest) -> None:
    book: Epub = request.getfixturevalue(name)
    checked = 0
    for href in book.spine:
        for link in book.doc(href).xpath("//x:a/@href", namespaces=NS):
            if re.match(r"[a-z]+:", link):
                continue
            target, _, fragment = link.partition("#")
            doc = book.doc(target or href)
            if fragment:
                assert doc.xpath(f"//*[@id='{fragment}']"), link
            checked += 1
    assert checked > 0


def test_images_fit_reading_devices_and_the_book_is_small(august: Epub,
                                                         august_bytes: bytes) -> None:
    images = [n for n in august.names if n.startswith("EPUB/images/")]
    assert len(images) == 2
    for name in images:
        with Image.open(io.BytesIO(august.read(name))) as img:
            assert max(img.size) <= 1600, name
    [img] = august.doc("article-korea-security-ties.xhtml").xpath("//x:img", namespaces=NS)
    with Image.open(io.BytesIO(august.read(august.href(img.get("src"))))) as file:
        assert (int(img.get("width")), int(img.get("height"))) == file.size == (1600, 1067)
    assert len(august_bytes) < 2 * 1024 * 1024


def test_only_files_from_the_issue_and_layouts(august: Epub, january: Epub) -> None:
    assert sorted(august.names) == sorted([
        "mimetype", "META-INF/container.xml", "EPUB/content.opf", "EPUB/toc.ncx",
        "EPUB/nav.xhtml", "EPUB/css/style.css", "EPUB/cover.xhtml",
        "EPUB/article-korea-security-ties.xhtml", "EPUB/archive.xhtml", "EPUB/colophon.xhtml",
        "EPUB/images/cover-image.jpg", "EPUB/images/yoon-stoltenberg-placeholder.jpg"])
    assert august.read("EPUB/css/style.css") == (LAYOUTS / "epub" / "style.css").read_bytes()
    fixture_images = {p.name for p in (FIXTURES / "2024-01" / "images").iterdir()}
    in_book = {n.rsplit("/", 1)[1] for n in january.names if n.startswith("EPUB/images/")}
    assert in_book - {"cover-image.jpg"} <= fixture_images
    manifest = set(january.opf.xpath("//opf:item/@href", namespaces=NS))
    assert {january.href(h) for h in manifest} == set(january.names) - {
        "mimetype", "META-INF/container.xml", january.opf_path}


# -- Reproducible ----------------------------------------------------------------


def test_two_builds_are_byte_identical(august_bytes: bytes, tmp_path: Path) -> None:
    assert _august(tmp_path) == august_bytes


def test_zip_layout(january_bytes: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(january_bytes)) as book:
        infos = book.infolist()
    assert infos[0].filename == "mimetype"
    assert infos[0].compress_type == zipfile.ZIP_STORED
    assert january_bytes[30:38] == b"mimetype"
    assert {i.date_time for i in infos} == {(2024, 1, 1, 0, 0, 0)}
    assert _january(FIXTURE_PAGES) == january_bytes


def test_the_epub_format_is_registered() -> None:
    assert "epub" in formats()


# -- Print pages -----------------------------------------------------------------


def _markers(doc: etree._Element) -> list[tuple[str, str]]:
    return [(s.get("id"), s.get("aria-label")) for s in
            doc.xpath("//x:span[@epub:type='pagebreak']", namespaces=NS)]


def test_page_list_follows_the_print_pages(january: Epub) -> None:
    nav = january.doc(january.nav_href)
    [page_list] = nav.xpath("//x:nav[@epub:type='page-list']", namespaces=NS)
    entries = [(a.text, a.get("href")) for a in page_list.xpath(".//x:a", namespaces=NS)]
    features = "article-features.xhtml"
    assert entries == [("3", f"{features}#page-3"), ("4", f"{features}#page-4"),
                       ("5", f"{features}#page-5"), ("6", f"{features}#page-6"),
                       ("7", "article-culture.xhtml#page-7")]
    markers = []
    for slug in ("features", "culture"):
        doc = january.doc(f"article-{slug}.xhtml")
        markers += _markers(doc)
        for span in doc.xpath("//x:span[@epub:type='pagebreak']", namespaces=NS):
            assert span.get("role") == "doc-pagebreak"
    features = january.doc("article-features.xhtml")
    assert _markers(features)[0][1] == FIXTURE_PAGES["article-features"]
    # Each page break is marked once, where the page begins: culture starts on page 6,
    # which begins in features, so its first marker is page 7 (Ace flags unlisted repeats).
    assert markers == [("page-3", "3"), ("page-4", "4"), ("page-5", "5"), ("page-6", "6"),
                       ("page-7", "7")]
    # the table heading's page: the marker stands before the block that starts page 4
    [marker] = features.xpath("//x:span[@id='page-4']", namespaces=NS)
    assert marker.getnext().get("id") == "article-features--b2"


def test_article_starts_match_the_print_pdf(august: Epub) -> None:
    from publisher.render.pdf import renderer as pdf

    issue = read_issue(ISSUES, AUGUST)
    pages = pdf.page_map(BuildContext(issue=issue, layouts=LAYOUTS))
    for article in issue.articles:
        doc = august.doc(f"{article.anchor}.xhtml")
        assert _markers(doc)[0][1] == pages[article.anchor]


def test_a_page_map_naming_nothing_of_the_issue_declares_no_pages() -> None:
    book = Epub(_january({"some-other-issue": "1"}))
    assert "printPageNumbers" not in book.meta("schema:accessibilityFeature")
    assert book.opf.xpath("//dc:source", namespaces=NS) == []
    nav = book.doc(book.nav_href)
    assert nav.xpath("//x:nav[@epub:type='page-list']", namespaces=NS) == []


def test_a_foreign_page_map_warns_but_an_issue_without_articles_has_nothing_to_map(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="publisher.render.epub.renderer"):
        _january({"some-other-issue": "1"})
    assert [r.getMessage() for r in caplog.records] == [
        "the print page map names no element of 2024-01: no print page numbers"]
    caplog.clear()
    shutil.copytree(FIXTURES, tmp_path / "issues")
    for article in (tmp_path / "issues" / "2024-01" / "articles").glob("*.md"):
        article.unlink()
    context = BuildContext(issue=read_issue(tmp_path / "issues", JANUARY), layouts=LAYOUTS,
                           print_layout=PrintLayout({}))  # what it maps of no article
    assert context.issue.articles == ()
    with caplog.at_level(logging.WARNING):
        EpubRenderer().render(context)
    assert [r.getMessage() for r in caplog.records if "page map" in r.getMessage()] == []


def test_the_epub_follows_the_print_layout_it_is_handed_or_none() -> None:
    """The build hands the EPUB the print layout; without one, the renderer says so
    (an EPUB without the print pages is not made by mistake), and
    publisher.render.print_layout lays it out for any caller."""
    from publisher import render

    context = BuildContext(issue=read_issue(FIXTURES, JANUARY), layouts=LAYOUTS)
    with pytest.raises(ValueError, match="the EPUB follows the print layout"):
        EpubRenderer().render(context)
    context.print_layout = render.print_layout(context)
    assert {"article-features", "article-culture"} <= set(context.print_layout.pages)
    [output] = EpubRenderer().render(context)
    book = Epub(output.data)
    assert book.doc(book.nav_href).xpath("//x:nav[@epub:type='page-list']", namespaces=NS)


XHTML_DOC = """<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">
<body><section id="a"><p id="a-b1">x</p><ul id="a-b2"><li id="item">y</li></ul>
<p id="a-b3">z</p><p id="a-b4">w</p></section></body></html>"""


def _paginate(pages: dict[str, str], docs: int = 1,
              ) -> tuple[list[etree._Element], Paginator]:
    paginator = Paginator(pages)
    trees = []
    for n in range(docs):
        tree = etree.fromstring(XHTML_DOC.replace('id="a', f'id="d{n}'))
        paginator.paginate(tree, f"d{n}.xhtml")
        trees.append(tree)
    return trees, paginator


def test_paginator_marks_each_new_page_once() -> None:
    [doc], paginator = _paginate({"d0": "1", "d0-b1": "1", "d0-b2": "2", "item": "3",
                                  "d0-b3": "2", "d0-b4": "iv"})
    markers = _markers(doc)
    assert markers == [("page-1", "1"), ("page-2", "2"), ("page-iv", "iv")]
    assert [(t.label, t.href) for t in paginator.targets] == [
        ("1", "d0.xhtml#page-1"), ("2", "d0.xhtml#page-2"), ("iv", "d0.xhtml#page-iv")]
    # never inside a list: a span may not be a child of <ul>
    assert doc.xpath("//x:ul/x:span", namespaces=NS) == []
    etree.fromstring(etree.tostring(doc))  # still well-formed


def test_paginator_marks_a_page_begun_in_an_earlier_document_no_second_time() -> None:
    pages = {"d0": "1", "d0-b4": "2", "d1": "2", "d1-b1": "2", "d1-b3": "3"}
    [first, second], paginator = _paginate(pages, docs=2)
    assert _markers(first) == [("page-1", "1"), ("page-2", "2")]
    assert _markers(second) == [("page-3", "3")]
    assert [(t.label, t.href) for t in paginator.targets] == [
        ("1", "d0.xhtml#page-1"), ("2", "d0.xhtml#page-2"), ("3", "d1.xhtml#page-3")]
    [start] = second.xpath("//x:span[@id='page-3']", namespaces=NS)
    assert start.getnext().get("id") == "d1-b3"


def test_marker_ids_are_xml_names() -> None:
    assert marker_id("12") == "page-12"
    assert marker_id("C 2/3") == "page-C-2-3"
