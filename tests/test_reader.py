"""The reader turns issue sources into the document model."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from conftest import FIXTURES, ISSUES, seed_sentences
from publisher import model as m
from publisher.diagnostics import Diagnostics
from publisher.errors import PublisherError
from publisher.source.reader import read_issue


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
    assert refs == [m.FootnoteRef(1, "article-features--fn1")]
    links = [n.url for n in first.children if isinstance(n, m.Link)]
    assert links == ["#article-features--h-a-table", "#article-culture",
                     "#article-culture--h-hanok"]
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
    # one warning a line: <b>bold</b> is one problem
    assert [w.location.line for w in diag.warnings] == [13, 15]
    assert all("raw HTML" in w.message and w.location.path == path for w in diag.warnings)


def _warnings_of(fixture_copy, body: str) -> tuple[Path, list[str]]:
    path = fixture_copy.issues / "2024-01" / "articles" / "02-culture.md"
    path.write_text(path.read_text(encoding="utf-8") + body, encoding="utf-8")
    diag = Diagnostics()
    read_issue(fixture_copy.issues, m.Month(2024, 1), diag)
    assert diag.errors == []
    assert all(w.location.path == path for w in diag.warnings)
    return path, [f"{w.location.line}: {w.message}" for w in diag.warnings]


def test_footnote_reference_without_definition_warns_at_its_line(fixture_copy):
    # 02-culture.md has 11 lines; the appended text starts on line 12.
    _, warnings = _warnings_of(fixture_copy, "\nA claim.[^1]\nAnd another[^missing] one.\n\n"
                                             "[^1]: Defined.\n")
    assert warnings == ["14: footnote [^missing] has no definition (it would be printed as "
                        "written): add a line '[^missing]: the note' below the text, or remove "
                        "the reference"]


def test_footnote_definition_never_referenced_warns_at_its_line(fixture_copy):
    _, warnings = _warnings_of(fixture_copy, "\nA claim.[^1]\n\n[^1]: Defined.\n"
                                             "[^orphan]: Never used.\n")
    assert warnings == ["16: footnote [^orphan] is never referenced (it would be left out): put "
                        "[^orphan] in the text where the note belongs, or remove it"]


def test_footnote_label_in_code_is_not_a_reference(fixture_copy):
    _, warnings = _warnings_of(fixture_copy, "\nWrite `[^1]` for a note.\n")
    assert warnings == []


@pytest.mark.parametrize("marker", ["[!NOTE]", "[!pullquote]", "[!warning]-", "[!TIP]+"])
def test_callout_warns_naming_the_pullquote_syntax(marker, fixture_copy):
    _, warnings = _warnings_of(fixture_copy, f"\nText.\n\n> {marker} Yoon Suk Yeol\n> Quoted.\n")
    (warning,) = warnings
    assert warning.startswith(f"15: '> {marker}' is a GitHub/Obsidian callout")
    assert "'::: pullquote Name'" in warning and "':::'" in warning


def test_plain_block_quote_is_no_callout(fixture_copy):
    _, warnings = _warnings_of(fixture_copy, "\n> [A link](https://example.org) quoted.\n")
    assert warnings == []


def _issue_toml(fixture_copy) -> Path:
    return fixture_copy.issues / "2024-01" / "issue.toml"


def test_articles_need_a_sections_list(fixture_copy):
    path = _issue_toml(fixture_copy)
    path.write_text(path.read_text(encoding="utf-8").replace(
        'sections = ["Features", "Culture"]\n', ""), encoding="utf-8")
    diag = Diagnostics()
    with pytest.raises(PublisherError):
        read_issue(fixture_copy.issues, m.Month(2024, 1), diag)
    (error,) = diag.errors
    assert (error.location.path, error.location.line) == (path, 1)
    assert error.message == ("no 'sections' list: list the articles' sections in the order the "
                             'issue sets them, e.g. sections = ["Features", "Culture"]')


def test_a_section_listed_twice_is_an_error(fixture_copy):
    path = _issue_toml(fixture_copy)
    path.write_text(path.read_text(encoding="utf-8").replace(
        'sections = ["Features", "Culture"]', 'sections = ["Features", "Culture", "Features"]'),
        encoding="utf-8")
    diag = Diagnostics()
    with pytest.raises(PublisherError):
        read_issue(fixture_copy.issues, m.Month(2024, 1), diag)
    (error,) = diag.errors
    assert (error.location.line, error.message) == (
        4, "section 'Features' is listed twice in 'sections': list it once")


def test_an_issue_of_only_an_editors_note_needs_no_sections(fixture_copy):
    path = _issue_toml(fixture_copy)
    path.write_text(path.read_text(encoding="utf-8").replace(
        'sections = ["Features", "Culture"]\n', ""), encoding="utf-8")
    for article in (fixture_copy.issues / "2024-01" / "articles").glob("*.md"):
        article.unlink()
    diag = Diagnostics()
    issue = read_issue(fixture_copy.issues, m.Month(2024, 1), diag)
    assert issue.articles == () and issue.sections == () and issue.editors_note
    assert diag.errors == [] and diag.warnings == []


def test_an_issue_with_nothing_in_it_warns(fixture_copy):
    path = _issue_toml(fixture_copy)
    text = path.read_text(encoding="utf-8")
    path.write_text(text[:text.index("editors_note")] + text[text.index("[cover_image]"):],
                    encoding="utf-8")
    for article in (fixture_copy.issues / "2024-01" / "articles").glob("*.md"):
        article.unlink()
    diag = Diagnostics()
    read_issue(fixture_copy.issues, m.Month(2024, 1), diag)
    (warning,) = diag.warnings
    assert warning.location.path == path and "no articles" in warning.message


@pytest.mark.parametrize("name", ["03-draft.markdown", "03-draft.txt", "03-draft.MD"])
def test_a_file_not_ending_in_md_is_named(name, fixture_copy):
    path = fixture_copy.issues / "2024-01" / "articles" / name
    path.write_text("---\ntitle: Draft\n---\n", encoding="utf-8")
    diag = Diagnostics()
    issue = read_issue(fixture_copy.issues, m.Month(2024, 1), diag)
    assert len(issue.articles) == 2
    (warning,) = diag.warnings
    assert warning.location.path == path and "only files ending in '.md'" in warning.message


def test_a_path_with_a_space_is_named_and_the_angle_bracket_form_works(fixture_copy):
    import shutil

    images = fixture_copy.issues / "2024-01" / "images"
    shutil.copy(images / "figure.png", images / "서울 사진.png")
    _, warnings = _warnings_of(fixture_copy, "\n![Seoul](images/서울 사진.png)\n\n"
                                             "![Seoul](<images/서울 사진.png>)\n")
    assert warnings == ["13: '![Seoul](images/서울 사진.png)' is not read as an image: Markdown "
                        "allows no space in a path (write it in <...>, as "
                        "'(<images/my photo.jpg>)', or rename the file)"]
    issue = read_issue(fixture_copy.issues, m.Month(2024, 1))
    figure = issue.articles[1].body[-1]
    assert isinstance(figure, m.Figure) and figure.image.path.name == "서울 사진.png"


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
    assert [h.id for h in culture.headings][-1] == "article-culture--h-김치-days"
    links = [n.url for b in culture.body if isinstance(b, m.Paragraph)
             for n in b.children if isinstance(n, m.Link)]
    assert links[-2:] == ["#article-culture--h-김치-days", "#article-한옥--h-마당"]
    assert any(a.slug == "한옥" for a in issue.articles)
