"""The reader turns issue sources into the document model."""

from __future__ import annotations

import datetime as dt

from conftest import FIXTURES, ISSUES, seed_sentences
from publisher import model as m
from publisher.diagnostics import Diagnostics
from publisher.reader import read_issue


def _text_of(blocks: tuple[m.Block, ...]) -> str:
    parts = []
    for block in m.walk_blocks(blocks):
        if isinstance(block, m.Paragraph | m.Heading | m.PullQuote):
            parts.append(m.plain_text(block.children))
    return "\n".join(parts)


def test_2023_08_reads_with_every_sentence_of_the_seed():
    diag = Diagnostics()
    issue = read_issue(ISSUES, m.Month(2023, 8), diag)
    assert diag.warnings == []
    assert issue.title == "KOREA — August 2023"
    assert issue.date == dt.date(2023, 8, 1)
    (article,) = issue.articles
    assert article.section == "Current Korea"
    assert article.byline == "Sohn Ji-ae"
    assert article.title == "Korea’s Push for Greater Security Ties"
    assert [m.plain_text(h.children) for h in article.headings] == [
        "United Response",
        "Korea, Poland Redouble Efforts",
        "Ukraine Peace and Solidarity Initiative",
    ]
    text = _text_of(article.body)
    sentences = seed_sentences()
    assert len(sentences) > 20
    for sentence in sentences:
        assert sentence in text, sentence
    assert "¡" not in text and "¨" not in text
    lead = article.lead_image
    assert lead is not None
    assert m.plain_text(lead.caption) == (
        "President Yoon Suk Yeol had a meeting with NATO Secretary General Jens Stoltenberg.")
    assert lead.credit == "ⓒ Office of the President"
    assert "Placeholder" in lead.alt
    assert issue.ticker == ()


def test_archive_of_2023_08_is_every_earlier_issue_newest_first():
    issue = read_issue(ISSUES, m.Month(2023, 8))
    assert [(str(e.month), e.cover_story) for e in issue.archive] == [
        ("2023-07", "Chuncheon"), ("2023-06", "Gwangju"), ("2023-05", "Gongju"),
        ("2023-04", "Wanju"), ("2023-03", "Marado Island")]
    first = issue.archive.entries[0]
    assert first.pdf_url == "https://webzine.example.org/korea/2023-07/korea-2023-07.pdf"
    assert first.epub_url.endswith("/2023-07/korea-2023-07.epub")


def test_fixture_issue_has_every_construct():
    diag = Diagnostics()
    issue = read_issue(FIXTURES, m.Month(2024, 1), diag)
    assert diag.warnings == []
    assert issue.cover_story == "A “New” Year"
    assert issue.number == "Vol. 2 No. 1"
    assert issue.issn == "1234-5679"
    assert [t.headline for t in issue.ticker] == [
        "Ticker item one", "Ticker item two, without a link"]
    assert issue.ticker[1].link is None
    assert issue.cover_image is not None and issue.cover_image.width == 1200
    assert "“fixture” issue – every" in _text_of(issue.editors_note)
    features, culture = issue.articles
    assert features.title == "Features “Quoted”"
    assert features.dek == "A dek – with a dash."
    assert features.slug == "features" and culture.slug == "culture"
    kinds = [type(b).__name__ for b in features.body]
    assert kinds == ["Paragraph", "Heading", "Table", "PullQuote", "Figure", "ListBlock"]
    first = features.body[0]
    assert isinstance(first, m.Paragraph)
    assert "says “hello” and it’s fine." in m.plain_text(first.children)
    refs = [n for n in first.children if isinstance(n, m.FootnoteRef)]
    assert refs == [m.FootnoteRef(1, "features-fn1")]
    links = [n.url for n in first.children if isinstance(n, m.Link)]
    assert links == ["#features-a-table", "#culture", "#culture-hanok"]
    (note,) = features.footnotes
    assert note.number == 1 and "footnote’s text" in _text_of(note.children)
    table = features.body[2]
    assert isinstance(table, m.Table)
    assert [c.align for c in table.head[0]] == ["left", "right"]
    assert m.plain_text(table.body[1][0].children) == "Busan"
    quote = features.body[3]
    assert isinstance(quote, m.PullQuote) and quote.attribution == "Kim Min-ji"
    assert m.plain_text(quote.children) == "“A line worth setting large.”"
    figure = features.body[4]
    assert isinstance(figure, m.Figure)
    assert figure.image.alt == "A red test card"
    assert m.plain_text(figure.image.caption) == "The figure caption."
    assert figure.image.credit == "ⓒ Figure Credit"
    assert (figure.image.width, figure.image.height) == (800, 600)
    assert "한옥" in _text_of(culture.body)


def test_fixture_archive_mixes_archive_only_and_explicit_urls():
    issue = read_issue(FIXTURES, m.Month(2024, 1))
    (entry,) = issue.archive
    assert entry.cover_story == "Winter in Seoul"
    assert entry.pdf_url == "https://archive.example.org/2023-12.pdf"
    assert entry.epub_url == "https://example.org/korea/2023-12/korea-2023-12.epub"


def test_raw_html_is_text_and_warned(fixture_copy):
    path = fixture_copy.issues / "2024-01" / "articles" / "02-culture.md"
    path.write_text(path.read_text() + "\n<script>alert(1)</script>\n\nA <b>bold</b> move.\n")
    diag = Diagnostics()
    issue = read_issue(fixture_copy.issues, m.Month(2024, 1), diag)
    text = _text_of(issue.articles[1].body)
    assert "<script>alert(1)</script>" in text and "<b>bold</b>" in text
    assert len(diag.warnings) == 3
    assert all("raw HTML" in w.message and w.location.path == path for w in diag.warnings)


def test_hangul_subheads_and_file_names_keep_their_syllables_and_take_links(fixture_copy):
    """Found by the generated issues: a subhead in Hangul got an id of conjoining jamo
    (``slugify`` decomposed the syllables), and markdown-it percent-encodes a link's
    non-ASCII, so ``[…](#김치-days)`` and ``[…](한옥.md)`` were broken links."""
    articles = fixture_copy.issues / "2024-01" / "articles"
    path = articles / "02-culture.md"
    path.write_text(path.read_text(encoding="utf-8") + "\n## 김치 Days\n\n"
                    "See [the days](#김치-days) and [the house](한옥.md#마당).\n",
                    encoding="utf-8")
    (articles / "한옥.md").write_text("---\ntitle: Hanok\nsection: Culture\nbyline: Kim\n---\n\n"
                                      "## 마당\n\nThe yard.\n", encoding="utf-8")
    diag = Diagnostics()
    issue = read_issue(fixture_copy.issues, m.Month(2024, 1), diag)
    assert diag.errors == []
    culture = next(a for a in issue.articles if a.slug == "culture")
    assert [h.id for h in culture.headings][-1] == "culture-김치-days"
    links = [n.url for b in culture.body if isinstance(b, m.Paragraph)
             for n in b.children if isinstance(n, m.Link)]
    assert links[-2:] == ["#culture-김치-days", "#한옥-마당"]
    assert any(a.slug == "한옥" for a in issue.articles)
