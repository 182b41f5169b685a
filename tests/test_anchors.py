"""Article ids and EPUB documents never meet the layouts' own, nor each other.

An issue whose articles are named like the EPUB's own documents and the layouts'
own ids (``cover.md``, ``slug: nav``, ``colophon``, ``footer``, ``print-pad``...),
whose subheads are named like generated ids (``Title``, ``b1``, ``fn1``), and whose
images are named like the composed cover or like each other once made safe: the EPUB
passes EPUBCheck, and every id of the print layout's HTML and of the email is unique.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from lxml import html as lxml_html

from conftest import FIXTURES, LAYOUTS
from epub_support import NS, Epub, epubcheck
from publisher import model as m
from publisher.diagnostics import Diagnostics
from publisher.render.base import BuildContext, PrintLayout
from publisher.render.email.renderer import EmailRenderer
from publisher.render.epub.renderer import EpubRenderer
from publisher.render.pdf.renderer import print_html
from publisher.source.reader import read_issue

JANUARY = m.Month(2024, 1)

#: Every name the EPUB package, the print layout and the email use for their own
#: documents, folders and ids (render/epub*.py, layouts/*/), and the generated kinds.
RESERVED = ["cover", "nav", "toc", "colophon", "ticker", "archive", "editors-note", "style",
            "images", "css", "landmarks", "page-list", "page-3", "footer", "print-pad",
            "print-cover", "print-contents", "cover-image", "ncx", "pub-id", "article",
            "article-features", "features-b1", "features-fn1", "culture-hanok"]


def _article(slug_line: str, body: str = "Text.") -> str:
    return (f"---\ntitle: An Article\nsection: Culture\nbyline: A. Writer\n{slug_line}---\n\n"
            f"{body}\n")


@pytest.fixture(scope="module")
def collisions(tmp_path_factory: pytest.TempPathFactory) -> m.Issue:
    root = tmp_path_factory.mktemp("collisions") / "issues"
    shutil.copytree(FIXTURES, root)
    articles = root / "2024-01" / "articles"
    images = root / "2024-01" / "images"
    (articles / "cover.md").write_text(_article(""), encoding="utf-8")
    for n, slug in enumerate(RESERVED[1:], 10):
        (articles / f"{n}-x.md").write_text(_article(f"slug: {slug}\n"), encoding="utf-8")
    for name in ("cover-image.jpg", "x y.png", "x-y.png", "x.png"):
        shutil.copy(images / "figure.png", images / name)
    (articles / "90-subheads.md").write_text(_article("slug: subheads\n", (
        "A note.[^1] See [the title](#title) and [b1](#b1).\n\n## Title\n\nx\n\n## b1\n\nx\n\n"
        "## fn1\n\nx\n\n## fn1 ref\n\nx\n\n## Title\n\nx\n\n"
        "![An image named like the cover](images/cover-image.jpg)\n\n"
        "![One](<images/x y.png>)\n\n![Two](images/x-y.png)\n\n![Three](images/x.png)\n\n"
        "[^1]: The note.")), encoding="utf-8")
    diag = Diagnostics()
    issue = read_issue(root, JANUARY, diag)
    assert diag.warnings == []
    assert {a.slug for a in issue.articles} >= set(RESERVED)
    return issue


def test_the_epub_passes_epubcheck(collisions: m.Issue, tmp_path: Path) -> None:
    # A print layout naming every article: the page-break markers go in too.
    pages = PrintLayout({a.anchor: str(n) for n, a in enumerate(collisions.articles, 3)})
    context = BuildContext(issue=collisions, layouts=LAYOUTS, print_layout=pages)
    [output] = EpubRenderer().render(context)
    path = tmp_path / "book.epub"
    path.write_bytes(output.data)
    result = epubcheck(path)
    assert result.messages == ()
    assert (result.fatals, result.errors, result.warnings) == (0, 0, 0)
    book = Epub(output.data)
    # the package's own documents are the layout's, not an article's
    cover = book.doc("cover.xhtml")
    assert cover.xpath("//x:section[@id='cover']", namespaces=NS)
    for name in ("nav.xhtml", "colophon.xhtml", "ticker.xhtml", "archive.xhtml",
                 "editors-note.xhtml"):
        assert not book.doc(name).xpath("//x:section[@class='article']", namespaces=NS), name
    for article in collisions.articles:
        doc = book.doc(f"article-{article.slug}.xhtml")
        assert doc.xpath(f"//x:section[@id='{article.anchor}']", namespaces=NS)
    # four images with one safe name, or the cover's, got four names
    hrefs = [i.get("href") for i in book.opf.xpath("//opf:item[@media-type='image/png']",
                                                    namespaces=NS)]
    assert len(hrefs) == len(set(hrefs)) >= 6


def _duplicates(ids: list[str]) -> list[str]:
    return [ident for ident, count in Counter(ids).items() if count > 1]


def test_every_id_of_the_print_html_is_unique(collisions: m.Issue) -> None:
    html = print_html(BuildContext(issue=collisions, layouts=LAYOUTS))
    ids = lxml_html.document_fromstring(html).xpath("//@id")
    assert len(ids) > 80 and _duplicates(ids) == []
    [subheads] = [a for a in collisions.articles if a.slug == "subheads"]
    assert [h.id for h in subheads.headings] == [
        "article-subheads--h-title", "article-subheads--h-b1", "article-subheads--h-fn1",
        "article-subheads--h-fn1-ref", "article-subheads--h-title-2"]
    links = [n.url for n in subheads.body[0].children if isinstance(n, m.Link)]
    assert links == ["#article-subheads--h-title", "#article-subheads--h-b1"]


def test_every_id_of_the_email_is_unique(collisions: m.Issue) -> None:
    outputs = EmailRenderer().render(BuildContext(issue=collisions, layouts=LAYOUTS))
    [email] = [o for o in outputs if o.name == "email.html"]
    ids = lxml_html.document_fromstring(email.data).xpath("//@id")
    assert "footer" in ids and "article-footer" in ids
    assert _duplicates(ids) == []


@pytest.mark.parametrize("layout", sorted(p.relative_to(LAYOUTS) for p in LAYOUTS.rglob("*")
                                          if p.suffix in (".html", ".xhtml")))
def test_no_layout_gives_its_own_elements_an_article_id(layout: Path) -> None:
    text = (LAYOUTS / layout).read_text(encoding="utf-8")
    literal = re.findall(r'\bid="([^"{]*)"', text)
    assert not [i for i in literal if i.startswith(m.ARTICLE_ID_PREFIX)]


def test_no_own_epub_document_is_named_like_an_article() -> None:
    own = [p.name for p in (LAYOUTS / "epub").glob("*.xhtml") if p.name != "article.xhtml"]
    assert own and not [n for n in own if n.startswith(m.ARTICLE_ID_PREFIX)]
