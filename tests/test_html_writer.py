"""The shared HTML writer: escaping, footnote styles, XHTML."""

from __future__ import annotations

import re

from conftest import FIXTURES
from publisher import model as m
from publisher.render.html import HtmlOptions, HtmlWriter
from publisher.source.reader import read_issue


def _features() -> m.Article:
    return read_issue(FIXTURES, m.Month(2024, 1)).articles[0]


def test_text_is_escaped_never_markup():
    writer = HtmlWriter()
    html = writer.blocks((m.Paragraph((m.Text("<script>alert('x') & co</script>"),)),))
    assert html == "<p>&lt;script&gt;alert('x') &amp; co&lt;/script&gt;</p>"


def test_link_attributes_are_escaped():
    link = m.Link('https://example.org/?a=1&b="2"', (m.Text("x"),))
    assert HtmlWriter().inline(link) == (
        '<a href="https://example.org/?a=1&amp;b=&quot;2&quot;">x</a>')


def test_print_footnotes_sit_at_the_call_site():
    article = _features()
    html = HtmlWriter(HtmlOptions(footnotes="print"), article.footnotes).blocks(article.body)
    assert '<span class="footnote" id="article-features--fn1">The footnote’s text, with a ' in html
    assert HtmlWriter(HtmlOptions(footnotes="print")).footnotes(article.footnotes) == ""


def test_epub_footnotes_are_noterefs_and_asides_in_xhtml():
    article = _features()
    options = HtmlOptions(footnotes="epub", xhtml=True,
                          link_href=lambda url: f"article-features.xhtml{url}")
    writer = HtmlWriter(options, article.footnotes)
    body = writer.blocks(article.body)
    assert ('epub:type="noteref" role="doc-noteref" id="article-features--fn1-ref" '
            'href="article-features.xhtml#article-features--fn1"') in body
    images = re.findall(r"<img [^>]*>", body)
    assert "<br>" not in body and images and all(img.endswith("/>") for img in images)
    notes = writer.footnotes(article.footnotes)
    assert ('<aside class="footnote" epub:type="footnote" role="doc-footnote" '
            'id="article-features--fn1">') in notes


def test_endnotes_link_both_ways():
    article = _features()
    writer = HtmlWriter(HtmlOptions(), article.footnotes)
    assert 'href="#article-features--fn1"' in writer.blocks(article.body)
    assert 'href="#article-features--fn1-ref"' in writer.footnotes(article.footnotes)


def test_figure_table_and_pullquote():
    html = HtmlWriter().blocks(_features().body)
    assert '<img src="images/figure.png" alt="A red test card" width="800" height="600">' in html
    assert '<span class="credit">ⓒ Figure Credit</span>' in html
    assert '<th class="align-right">Visitors</th>' in html
    assert '<p class="attribution">Kim Min-ji</p>' in html


def test_html4_blocks_keep_the_semantics_without_html5_elements():
    """The email's figures and pull quotes: no figure, figcaption or aside (mail clients
    strip them), the same roles through ARIA."""
    html = HtmlWriter(HtmlOptions(html4_blocks=True)).blocks(_features().body)
    assert not re.search(r"<(figure|figcaption|aside|section)\b", html)
    assert '<div class="figure" role="figure">' in html
    assert '<div class="figcaption"><span class="caption">' in html
    assert '<div class="pullquote" role="doc-pullquote">' in html
    assert "<figure" in HtmlWriter().blocks(_features().body)  # the other formats' default


def test_a_link_whose_text_is_its_address_gets_the_url_class():
    options = HtmlOptions(url_class="url")
    url = "https://example.org/a/long/path"
    assert HtmlWriter(options).inline(m.Link(url, (m.Text(url),))) == (
        f'<a href="{url}" class="url">{url}</a>')
    mailto = m.Link("mailto:a@example.org", (m.Text("a@example.org"),))
    assert 'class="url"' in HtmlWriter(options).inline(mailto)
    assert "class" not in HtmlWriter(options).inline(m.Link(url, (m.Text("a page"),)))
    assert "class" not in HtmlWriter().inline(m.Link(url, (m.Text(url),)))


def test_block_ids_are_stable_across_formats():
    article = _features()
    plain = HtmlWriter(HtmlOptions(block_ids=True), article.footnotes).body(article)
    xhtml = HtmlWriter(HtmlOptions(block_ids=True, xhtml=True, footnotes="epub"),
                       article.footnotes).body(article)
    for n in range(1, len(article.body) + 1):
        assert f'id="article-features--b{n}"' in plain and f'id="article-features--b{n}"' in xhtml
    assert '<p id="article-features--b1">' in plain
    assert '<a id="article-features--b2"></a><h2 id="article-features--h-a-table">' in plain
    assert '<figure class="figure" id="article-features--b5">' in plain
