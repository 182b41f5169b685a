"""The HTML email: built once per session, checked as a message and in a real browser.

The browser is Debian's Chromium driven by Playwright, and every request to
the network is refused.  By default ``email.html`` links its images under the
public base URL; the page the browser loads has that URL prefix pointed at
the ``email-images/`` folder the build wrote, so each image must exist there.
With embedded images (a setting) the HTML refers to ``cid:``, which a browser
cannot resolve: each cid: is replaced by the bytes of that part of
``email.eml`` as a data: URL, so every image comes from the message, as in a
mail client, and a cid without a part fails to load.
"""

from __future__ import annotations

import io
import logging
import re
import shutil
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from email.utils import parseaddr, parsedate_to_datetime
from html import escape as html_escape
from pathlib import Path
from typing import Any

import pytest
from lxml import html as lxml_html
from PIL import Image

from conftest import FIXTURES, ISSUES, LAYOUTS, seed_sentences
from email_support import (
    css_problems,
    declaration_problems,
    html_problems,
    layout_problems,
    parse_eml,
    related_images,
    with_data_urls,
)
from publisher.build.builder import Paths, build
from publisher.build.outputs import month_folder
from publisher.errors import PublisherError
from publisher.model import Month
from publisher.render.base import BuildContext
from publisher.render.email import placeholders
from publisher.render.email.inline import fold_lines, inline_css
from publisher.render.email.renderer import EmailRenderer, EmailSettings
from publisher.source.reader import read_issue

AUG = Month(2023, 8)
JAN = Month(2024, 1)
BUDGET = 100 * 1024


@dataclass(frozen=True)
class Built:
    dist: Path  # dist/<MONTH>/
    paths: Paths
    month: Month

    def read(self, name: str) -> bytes:
        return (self.dist / name).read_bytes()

    @property
    def html(self) -> str:
        return self.read("email.html").decode()

    @property
    def text(self) -> str:
        return self.read("email.txt").decode()

    @property
    def words(self) -> str:
        """The text of the HTML, whitespace normalized (the HTML is folded at spaces)."""
        return _normal(lxml_html.document_fromstring(self.html).text_content())


def _build(root: Path, issues: Path, month: Month, layouts: Path = LAYOUTS) -> Built:
    paths = Paths(issues=issues, layouts=layouts, dist=root / "dist")
    build(month, paths, ["email"], parallel=False)
    return Built(month_folder(paths.dist, month), paths, month)


def _embed_layouts(root: Path) -> Path:
    """A copy of the email layout (its folder and the partials it imports) set to embed
    its images instead of linking them."""
    layouts = root / "layouts"
    shutil.copytree(LAYOUTS / "email", layouts / "email")
    shutil.copytree(LAYOUTS / "_partials", layouts / "_partials")
    settings = layouts / "email" / "settings.toml"
    text = settings.read_text(encoding="utf-8").replace('images = "link"', 'images = "embed"')
    assert 'images = "embed"' in text
    settings.write_text(text, encoding="utf-8")
    return layouts


@pytest.fixture(scope="session")
def aug(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return _build(tmp_path_factory.mktemp("aug"), ISSUES, AUG)


@pytest.fixture(scope="session")
def jan(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return _build(tmp_path_factory.mktemp("jan"), FIXTURES, JAN)


@pytest.fixture(scope="session")
def jan_embedded(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The fixture issue with embedded images, and a cover thumbnail in its archive."""
    root = tmp_path_factory.mktemp("jan-embedded")
    shutil.copytree(FIXTURES, root / "issues")
    december = root / "issues" / "2023-12"
    (december / "images").mkdir()
    Image.new("RGB", (600, 800), (200, 120, 40)).save(december / "images" / "cover.jpg")
    toml = december / "issue.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + 'cover_image = "images/cover.jpg"\n',
                    encoding="utf-8")
    return _build(root, root / "issues", JAN, _embed_layouts(root))


def _long_paragraph(n: int) -> str:
    return " ".join(f"Sentence {n}.{k} of a long synthetic article about the peninsula, "
                    "its cities, its rivers and its people." for k in range(6))


@pytest.fixture(scope="session")
def oversized(tmp_path_factory: pytest.TempPathFactory) -> tuple[Built, list[logging.LogRecord]]:
    """The fixture issue with six very long articles added: far over the budget."""
    root = tmp_path_factory.mktemp("oversized")
    shutil.copytree(FIXTURES, root / "issues")
    articles = root / "issues" / "2024-01" / "articles"
    for i in range(1, 7):
        paragraphs = [_long_paragraph(i * 100 + n) for n in range(60)]
        paragraphs.insert(30, f"## Long Heading {i}")
        (articles / f"1{i}-long-{i}.md").write_text(
            f"---\ntitle: Long Article {i}\nsection: Culture\nbyline: Writer {i}\n---\n\n"
            + "\n\n".join(paragraphs) + "\n", encoding="utf-8")
    (articles / "10-short.md").write_text(
        "---\ntitle: A Short One\nsection: Culture\nbyline: Short Writer\n---\n\n"
        "It points to [a subhead of a long one](13-long-3.md#long-heading-3).\n",
        encoding="utf-8")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("publisher.render.email.renderer")
    logger.addHandler(handler)
    try:
        built = _build(root, root / "issues", JAN)
    finally:
        logger.removeHandler(handler)
    return built, records


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# -- the files ---------------------------------------------------------------------


def test_outputs_and_byte_identical_rebuilds(aug, jan, tmp_path):
    for built, issues in ((aug, ISSUES), (jan, FIXTURES)):
        names = sorted(str(p.relative_to(built.dist)) for p in built.dist.rglob("*")
                       if p.is_file())
        images = [name for name in names if name.startswith("email-images/")]
        assert images and sorted(set(names) - set(images)) == [
            "email.eml", "email.html", "email.txt"]
        again = _build(tmp_path / str(built.month), issues, built.month)
        for name in names:
            assert again.read(name) == built.read(name), name


def test_2023_08_is_well_under_the_budget(aug):
    size = len(aug.read("email.html"))
    assert size < BUDGET / 2, size
    assert "Continue reading" not in aug.html
    assert len(aug.read("email.eml")) < 1024 * 1024


def test_the_parts_of_the_page(aug, jan):
    pub = read_issue(FIXTURES, JAN).publication
    doc = lxml_html.document_fromstring(jan.html)
    assert doc.get("lang") == "en" and doc.get("dir") == "ltr"
    assert doc.xpath('//meta[@name="color-scheme"]/@content') == ["light dark"]
    assert "<!--[if mso]>" in jan.html
    # The preheader: the first article's dek, hidden.
    (pre,) = doc.find_class("preheader")
    assert _normal(pre.text_content()).startswith("A dek – with a dash.")
    assert "display:none" in pre.get("style")
    hrefs = doc.xpath("//a/@href")
    assert pub.download_url(JAN, "pdf") in hrefs and pub.download_url(JAN, "epub") in hrefs
    assert "https://archive.example.org/2023-12.pdf" in hrefs  # the archive, with its links
    assert "https://example.org/korea/2023-12/" in hrefs
    assert "Ticker item one" in jan.words and "News Ticker" in jan.words
    assert "News Ticker" not in aug.words  # 2023-08 has no ticker items
    (footer,) = doc.xpath('//td[@id="footer"]')
    assert "1 Test Street, Testville" in footer.text_content()
    footer_links = footer.xpath(".//a/@href")
    assert pub.issue_url(JAN) in footer_links and placeholders.UNSUBSCRIBE_URL in footer_links
    assert f"Dear {placeholders.RECIPIENT_NAME}," in jan.words
    # Endnotes link both ways inside the email.
    assert 'href="#article-features--fn1"' in jan.html and 'id="article-features--fn1"' in jan.html


def _image_files(built: Built) -> dict[str, bytes]:
    """Each ``src`` of the email's images and the bytes it stands for."""
    doc = lxml_html.document_fromstring(built.html)
    base = f"https://example.org/korea/{built.month}/email-images/"
    if built.month == AUG:
        base = "https://webzine.example.org/korea/2023-08/email-images/"
    parts = related_images(parse_eml(built.dist / "email.eml"))
    files = {}
    for src in doc.xpath("//img/@src"):
        if src.startswith("cid:"):
            files[src] = parts[src[4:]].get_content()
        else:
            assert src.startswith(base), src
            files[src] = (built.dist / "email-images" / src[len(base):]).read_bytes()
    return files


def test_every_image_has_alt_text_and_a_small_file(aug, jan, jan_embedded):
    for built in (aug, jan, jan_embedded):
        doc = lxml_html.document_fromstring(built.html)
        images = doc.xpath("//img")
        assert images
        files = _image_files(built)
        for img in images:
            assert img.get("alt", "").strip(), lxml_html.tostring(img)
            assert int(img.get("width")) <= 560
            with Image.open(io.BytesIO(files[img.get("src")])) as picture:
                assert picture.width <= 1200
                # twice the display width, for 2x screens, up to the 1200 px cap, and
                # never wider than the source photo
                name = img.get("src").rsplit("/", 1)[-1].removeprefix("cid:")
                stem = name.split(".")[0].rsplit("-", 1)[0]  # "lead-1120.jpg" -> "lead"
                sources = sorted(built.paths.issues.glob(f"*/images/{stem}.*"))
                widths = set()
                for source in sources:
                    with Image.open(source) as original:
                        widths.add(original.width)
                wanted = {min(2 * int(img.get("width")), 1200, width) for width in widths}
                assert picture.width in wanted, (name, picture.width, wanted)
                assert not picture.info.get("exif")
    # 2023-08: the 2400 px photo is shown as the lead image (once: it is also the cover).
    assert len(lxml_html.document_fromstring(aug.html).xpath("//img")) == 1


def test_linked_or_embedded_images(jan, jan_embedded):
    sources = lxml_html.document_fromstring(jan.html).xpath("//img/@src")
    assert all(src.startswith("https://example.org/korea/2024-01/email-images/")
               for src in sources)
    assert not related_images(parse_eml(jan.dist / "email.eml"))
    assert not (jan_embedded.dist / "email-images").exists()
    message = parse_eml(jan_embedded.dist / "email.eml")
    html_part = message.get_body(("html",))
    related = next(p for p in message.walk() if p.get_content_type() == "multipart/related")
    assert html_part in list(related.iter_parts())
    sources = lxml_html.document_fromstring(jan_embedded.html).xpath("//img/@src")
    assert sources and all(src.startswith("cid:") for src in sources)
    assert {src[4:] for src in sources} == set(related_images(message))
    assert len(jan_embedded.read("email.eml")) < 1024 * 1024
    (thumb,) = lxml_html.document_fromstring(jan_embedded.html).xpath(
        '//td[@class="archive-thumb"]//img')
    assert thumb.get("alt") == "Cover of December 2023: Winter in Seoul"
    assert thumb.get("width") == "80"


# -- the message -------------------------------------------------------------------


def test_eml_parses_with_both_parts_and_every_header(aug):
    message = parse_eml(aug.dist / "email.eml")
    issue = read_issue(ISSUES, AUG)
    assert message.get_content_type() == "multipart/alternative"
    text_part, html_part = message.iter_parts()
    assert text_part.get_content_type() == "text/plain"
    assert html_part.get_content_type() == "text/html"
    html = message.get_body(("html",))
    assert html is not None and html.get_content_type() == "text/html"
    assert html.get_content() == aug.html
    assert text_part.get_content() == aug.text
    assert message["Subject"] == "KOREA August 2023: Korea’s Push for Greater Security Ties"
    assert parseaddr(str(message["From"])) == ("Webzine KOREA", "newsletter@webzine.example.org")
    assert str(message["To"]) == placeholders.RECIPIENT_EMAIL
    assert parsedate_to_datetime(str(message["Date"])).date() == issue.date
    assert re.fullmatch(r"<korea-2023-08\.[0-9a-f]{20}@webzine\.example\.org>",
                        str(message["Message-ID"]))
    # Folded after the colon (too long for one 78-column line): the value reads back
    # with the folding space in front.
    assert str(message["List-Unsubscribe"]).strip() == (
        f"<{placeholders.UNSUBSCRIBE_URL}>, <{placeholders.UNSUBSCRIBE_MAILTO}>")
    assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert message.defects == [] and html.defects == [] and text_part.defects == []


def test_placeholders_stay_whole_and_the_sender_can_fill_them(aug):
    raw = aug.read("email.eml")
    assert all(len(line) <= 998 for line in raw.split(b"\n"))
    for token in placeholders.ALL:
        assert token.encode() in raw, token
    for part in (aug.html, aug.text):
        assert placeholders.RECIPIENT_NAME in part and placeholders.UNSUBSCRIBE_URL in part

    # The sender's way (see publisher.render.email.placeholders): parse, replace in the decoded
    # headers and text parts, set them again.
    values = {
        placeholders.RECIPIENT_NAME: "Kim Min-ji",
        placeholders.RECIPIENT_EMAIL: "minji@example.com",
        placeholders.UNSUBSCRIBE_URL: "https://webzine.example.org/u/abc?id=1&t=x",
        placeholders.UNSUBSCRIBE_MAILTO: "mailto:unsubscribe@webzine.example.org?subject=abc",
    }

    def fill(text: str, escape: bool = False) -> str:
        for token, value in values.items():
            text = text.replace(token, html_escape(value) if escape else value)
        return text

    message = BytesParser(policy=policy.default).parsebytes(raw)
    for name in ("To", "List-Unsubscribe"):
        message.replace_header(name, fill(str(message[name]).strip()))
    for part in message.walk():
        if part.get_content_maintype() == "text":
            subtype = part.get_content_subtype()
            part.set_content(fill(part.get_content(), subtype == "html"), subtype=subtype)
    sent = BytesParser(policy=policy.default).parsebytes(message.as_bytes())
    assert str(sent["To"]) == "minji@example.com"
    assert "<https://webzine.example.org/u/abc?id=1&t=x>" in str(sent["List-Unsubscribe"])
    html = sent.get_body(("html",)).get_content()
    assert "Dear Kim Min-ji," in _normal(html)
    assert 'href="https://webzine.example.org/u/abc?id=1&amp;t=x"' in html
    assert "%%PUBLISHER_" not in html + sent.get_body(("plain",)).get_content()


#: An editor's map link of 2 KB: longer than a line of an 8bit part (998 octets) may be.
LONG_URL = "https://maps.example.org/place?q=" + "37.5665%2C126.9780," * 105


def test_a_2_kb_url_builds_and_every_line_of_the_message_fits(tmp_path: Path) -> None:
    assert len(LONG_URL) > 2000
    shutil.copytree(FIXTURES, tmp_path / "issues")
    article = tmp_path / "issues" / "2024-01" / "articles" / "02-culture.md"
    article.write_text(article.read_text(encoding="utf-8")
                       + f"\nThe way there is [on the map]({LONG_URL}).\n", encoding="utf-8")
    built = _build(tmp_path, tmp_path / "issues", JAN)
    raw = built.read("email.eml")
    assert max(len(line) for line in raw.split(b"\n")) <= 998
    message = parse_eml(built.dist / "email.eml")
    assert message.defects == []
    html_part, text_part = message.get_body(("html",)), message.get_body(("plain",))
    # A part with a line too long for 8bit goes quoted-printable, at 76 characters a line.
    for part in (html_part, text_part):
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        assert part.defects == []
    body = raw.split(b"\n\n", 1)[1]
    assert max(len(line) for line in body.split(b"\n")) <= 76
    html, text = html_part.get_content(), text_part.get_content()
    assert html == built.html and text == built.text
    assert LONG_URL in lxml_html.document_fromstring(html).xpath("//a/@href")
    assert f"<{LONG_URL}>" in text

    # The sender fills the placeholders into the quoted-printable parts.
    from publisher.deliver.personalise import Recipient, Template

    recipient = Recipient("minji@example.com", "Kim Min-ji", "https://x.example/u?a=1&t=z",
                          "mailto:u@x.example", "<1@x.example>")
    sent = Template(raw).render(recipient)
    assert max(len(line) for line in sent.split(b"\r\n")) <= 998
    received = BytesParser(policy=policy.default).parsebytes(sent)
    html = received.get_body(("html",)).get_content()
    text = received.get_body(("plain",)).get_content()
    assert "%%PUBLISHER_" not in html + text
    assert "Dear Kim Min-ji," in _normal(html) and "Kim Min-ji" in text
    assert 'href="https://x.example/u?a=1&amp;t=z"' in html
    assert LONG_URL in lxml_html.document_fromstring(html).xpath("//a/@href")
    assert f"<{LONG_URL}>" in text


def test_an_email_that_fits_stays_8bit_with_its_placeholders_literal(aug):
    message = parse_eml(aug.dist / "email.eml")
    for part in (message.get_body(("html",)), message.get_body(("plain",))):
        assert part["Content-Transfer-Encoding"] == "8bit"


def test_text_part_holds_every_sentence_and_lists_links_as_urls(aug, jan):
    text = _normal(aug.text)
    for sentence in seed_sentences():
        assert sentence in text, sentence
    pub = read_issue(ISSUES, AUG).publication
    assert f"Download the PDF <{pub.download_url(AUG, 'pdf')}>" in text
    assert f"Download the EPUB <{pub.download_url(AUG, 'epub')}>" in text
    assert "Chuncheon <https://webzine.example.org/korea/2023-07/>" in text
    assert f"Unsubscribe <{placeholders.UNSUBSCRIBE_URL}>" in text
    assert "408 Galmae-ro" in text
    assert not re.search(r"</?(p|a|td|tr|table|div|span|img|sup)\b", aug.text)
    assert "display:" not in aug.text and "%%PUBLISHER_RECIPIENT_NAME%%," in aug.text
    assert all(len(line) <= 76 or " " not in line.strip() for line in aug.text.splitlines())
    jan_text = _normal(jan.text)
    assert "fine.[1] See the table" in jan_text  # a note call; no #anchors in text
    assert "with a link <https://example.org>." in jan_text
    assert "(#" not in jan_text


# -- the size budget ---------------------------------------------------------------


def test_an_oversized_issue_is_cut_to_fit_and_keeps_its_footer(oversized):
    built, records = oversized
    html = built.html
    assert len(built.read("email.html")) <= BUDGET
    doc = lxml_html.document_fromstring(html)
    (footer,) = doc.xpath('//td[@id="footer"]')
    assert "1 Test Street, Testville" in footer.text_content()
    assert placeholders.UNSUBSCRIBE_URL in footer.xpath(".//a/@href")
    assert html.rstrip().endswith("</html>")
    page = "https://example.org/korea/2024-01/"
    continued = doc.xpath('//p[@class="continue"]/a/@href')
    assert continued and all(href.startswith(page + "#article-long-") for href in continued)
    # Every article is still there, by its title; the short ones are whole.
    for i in range(1, 7):
        assert f"Long Article {i}" in built.words
    assert "A hanok (한옥) is a traditional Korean house." in built.words
    # A link to a subhead the email no longer holds goes to the web page.
    assert f"{page}#article-long-3" in continued
    assert f'href="{page}#article-long-3--h-long-heading-3"' in html
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    cuts = [w for w in warnings if "over the 100.0 KB budget" in w]
    assert len(cuts) == 1 and "are cut to their leads with a link to the full text" in cuts[0]
    message = parse_eml(built.dist / "email.eml")
    assert "Continue reading" in message.get_body(("plain",)).get_content()
    # "Continue reading" leads to the web version, which holds the whole of every article.
    web = lxml_html.document_fromstring(built.read("email-web.html").decode())
    web_text = _normal(web.text_content())
    for i in range(1, 7):
        assert _normal(_long_paragraph(i * 100 + 59)) in web_text
        assert web.get_element_by_id(f"article-long-{i}") is not None
    assert "Continue reading" not in web_text


# -- premailer and the CSS -----------------------------------------------------------


def test_inlining_keeps_important_and_never_fetches():
    html = ('<html><head><link rel="stylesheet" href="http://127.0.0.1:9/remote.css">'
            "<style>p { color: red } @media (prefers-color-scheme: dark) "
            "{ p { color: white !important } }</style></head><body><p>x</p></body></html>")
    out = inline_css(html)  # a fetch of port 9 would fail the test
    assert '<p style="color:red">x</p>' in out
    assert "color: white !important" in out
    with pytest.raises(PublisherError, match="@import"):
        inline_css('<html><head><style>@import url("http://127.0.0.1:9/x.css");</style>'
                   "</head><body></body></html>")


def test_folding_breaks_lines_only_where_html_ignores_the_break():
    long_words = " ".join(f"word{n}" for n in range(40))
    html = ("<!DOCTYPE html>\n<html><body><!--[if mso]><table role=\"presentation\" "
            f'width="600"><tr><td><![endif]--><p class="a b" title="{long_words}" '
            f'style=\'font-family: "Times New Roman", serif; color: red\'>{long_words} '
            f'<a href="https://example.org/?a=1&amp;b=2">{long_words}</a></p>'
            f"<pre>{long_words}\n  indented</pre></body></html>")
    folded = fold_lines(html)
    assert max(len(line) for line in folded.splitlines() if "<pre>" not in line
               and "title=" not in line and "[if mso]" not in line) <= 78
    assert "<!--[if mso]><table role=\"presentation\" width=\"600\"><tr><td><![endif]-->" in folded
    before, after = lxml_html.fromstring(html), lxml_html.fromstring(folded)
    assert [(e.tag, dict(e.attrib)) for e in before.iter()] == [
        (e.tag, dict(e.attrib)) for e in after.iter()]
    assert _normal(before.text_content()) == _normal(after.text_content())
    assert before.find(".//pre").text == after.find(".//pre").text


def test_cssutils_is_silenced_only_about_the_email_properties():
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    cssutils_log = logging.getLogger("CSSUTILS")
    cssutils_log.addHandler(handler)
    css = (LAYOUTS / "email" / "email.css").read_text(encoding="utf-8")
    try:
        out = inline_css(f'<html><head><style>{css}</style></head><body class="body">'
                         '<div class="preheader">x</div><table class="container"><tr>'
                         '<td class="article"><p style="color: red">y</p></td></tr></table>'
                         "</body></html>")
        assert "mso-hide:all" in out and "-webkit-text-size-adjust:100%" in out
        assert records == []
        inline_css("<html><head><style>q { color: ; }</style></head><body><q>z</q></body>"
                   "</html>")
    finally:
        cssutils_log.removeHandler(handler)
    assert any(r.levelno >= logging.ERROR for r in records)  # real errors still show


def test_the_email_layout_uses_only_email_safe_css(aug, jan):
    assert layout_problems(LAYOUTS / "email") == []
    for built in (aug, jan):
        assert html_problems(built.html, "email.html") == []
    # The lint itself catches each kind of unsafe CSS.
    assert css_problems(".a { display: flex }", "t")
    assert css_problems(".a { display: inline-grid }", "t")
    assert css_problems(".a { grid-template-columns: 1fr 1fr }", "t")
    assert css_problems(".a { position: absolute }", "t")
    assert css_problems(":root { --accent: red }", "t")
    assert css_problems(".a { color: var(--accent) }", "t")
    assert css_problems("@media (max-width: 400px) { .a { flex-direction: column } }", "t")
    assert css_problems('@font-face { font-family: X; src: url("x.woff2") }', "t")
    assert css_problems('@import url("https://fonts.googleapis.com/css?family=Inter");', "t")
    assert declaration_problems("display:block; position:relative", "t")
    assert html_problems('<link rel="stylesheet" href="https://fonts.googleapis.com/x">', "t")
    assert css_problems(".a { display: block; color: #123456 }", "t") == []


def test_bad_settings_are_one_line_errors(tmp_path):
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "settings.toml").write_text('images = "embed"\nbudget = 90\n')
    with pytest.raises(PublisherError) as caught:
        EmailSettings.load(tmp_path)
    assert str(caught.value).endswith("settings.toml:2: unknown email setting 'budget': "
                                      "expected one of archive_entries, budget_kb, "
                                      "content_width, images, jpeg_quality, max_image_width, "
                                      "max_message_kb, thumb_width")
    (tmp_path / "email" / "settings.toml").write_text('images = "attach"\n')
    with pytest.raises(PublisherError, match="'images' must be"):
        EmailSettings.load(tmp_path)


def test_a_smaller_budget_is_a_setting():
    issue = read_issue(FIXTURES, JAN)
    outputs = EmailRenderer(EmailSettings(budget_kb=14)).render(BuildContext(issue, LAYOUTS))
    html = next(o.data for o in outputs if o.name == "email.html")
    assert len(html) <= 14 * 1024
    assert b'class="continue"' in html


# -- in a browser --------------------------------------------------------------------


def _page(browser: Any, html_file: Path, width: int, strip_style: bool = False) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.route(re.compile(r"^https?://"), lambda route: route.abort())  # no network
    page.goto(html_file.as_uri(), wait_until="load")
    if strip_style:
        page.evaluate("document.querySelectorAll('style').forEach(s => s.remove())")
    return page


_BOXES = """() => {
  const pick = ['table.container', 'td.masthead', 'td.article', 'img', '.article-body p',
                'h1', 'td.button', 'td.archive-entry', 'td#footer', 'p.postal-address'];
  const out = {};
  for (const sel of pick) {
    out[sel] = Array.from(document.querySelectorAll(sel)).map(e => {
      const r = e.getBoundingClientRect();
      return [r.x, r.y, r.width, r.height];
    });
  }
  return out;
}"""

_IMAGES_LOADED = """() => Array.from(document.images).map(i => [i.currentSrc.slice(0, 30),
                                                         i.complete && i.naturalWidth > 0])"""


def _browser_file(built: Built, tmp_path: Path) -> Path:
    message = parse_eml(built.dist / "email.eml")
    html = with_data_urls(built.html, message)
    base = read_issue(built.paths.issues, built.month).publication.issue_url(built.month)
    html = html.replace(f"{base}email-images/", (built.dist / "email-images").as_uri() + "/")
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"{built.month}.html"
    path.write_text(html, encoding="utf-8")
    return path


@pytest.mark.parametrize("width", [375, 600])
def test_in_chromium_nothing_scrolls_sideways_and_everything_shows(
        browser, aug, jan, jan_embedded, tmp_path, width):
    for n, built in enumerate((aug, jan, jan_embedded)):
        page = _page(browser, _browser_file(built, tmp_path / str(n)), width)
        try:
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            loaded = page.evaluate(_IMAGES_LOADED)
            assert loaded and all(ok for _, ok in loaded), loaded
            visible = _normal(page.evaluate("document.body.innerText"))
            paragraphs = page.evaluate("""Array.from(document.querySelectorAll(
                '.article-body p')).map(p => [p.getBoundingClientRect().left,
                p.getBoundingClientRect().right, p.getBoundingClientRect().height])""")
        finally:
            page.close()
        assert paragraphs and all(left >= 0 and right <= width and height > 0
                                  for left, right, height in paragraphs), paragraphs
        if built is aug:
            for sentence in seed_sentences():
                assert sentence in visible, sentence
        assert "Unsubscribe" in visible and "View in your browser" in visible
        assert "Download the PDF" in visible and "Download the EPUB" in visible


def test_dark_mode_rules_beat_the_inlined_colours(browser, jan, tmp_path):
    page = browser.new_page(viewport={"width": 600, "height": 900}, color_scheme="dark")
    page.route(re.compile(r"^https?://"), lambda route: route.abort())
    try:
        page.goto(_browser_file(jan, tmp_path).as_uri(), wait_until="load")
        background = page.evaluate(
            "getComputedStyle(document.querySelector('table.container')).backgroundColor")
        title = page.evaluate(
            "getComputedStyle(document.querySelector('h1.article-title')).color")
    finally:
        page.close()
    assert background == "rgb(27, 27, 27)"  # #1b1b1b !important over the inlined #fff
    assert title == "rgb(232, 232, 232)"


@pytest.mark.parametrize("width", [375, 600])
def test_without_the_style_element_the_layout_holds(browser, jan, tmp_path, width):
    html_file = _browser_file(jan, tmp_path)
    with_style = _page(browser, html_file, width)
    without = _page(browser, html_file, width, strip_style=True)
    try:
        assert without.evaluate("document.querySelectorAll('style').length") == 0
        assert without.evaluate("document.documentElement.scrollWidth") <= width
        boxes, bare = with_style.evaluate(_BOXES), without.evaluate(_BOXES)
    finally:
        with_style.close()
        without.close()
    assert boxes["table.container"][0][2] == min(width, 600)
    for selector, expected in boxes.items():
        assert expected, selector
        got = bare[selector]
        assert len(got) == len(expected), selector
        for a, b in zip(expected, got, strict=True):
            # x and width always; y and height too where no media query applies (600 px:
            # only the phone rules of the <style> change the titles' size).
            compared = (0, 2) if width < 480 else (0, 1, 2, 3)
            for i in compared:
                assert abs(a[i] - b[i]) <= 1, (selector, a, b)


def test_a_long_archive_lists_the_newest_and_links_to_all_of_them(tmp_path: Path) -> None:
    """120 earlier issues: the email keeps its size (and its articles whole), listing a
    year of them and linking to the site's index for the rest."""
    shutil.copytree(ISSUES, tmp_path / "issues")
    issues = tmp_path / "issues"
    months = []
    year, month = 2023, 7
    for _ in range(120):
        name = f"{year:04d}-{month:02d}"
        months.append(name)
        folder = issues / name
        folder.mkdir(exist_ok=True)
        (folder / "issue.toml").write_text(
            f'month = "{name}"\ncover_story = "Story {name}"\n', encoding="utf-8")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    built = _build(tmp_path, issues, AUG)
    listed = [m for m in months if f"Story {m}" in built.words]
    assert listed == months[:12]
    doc = lxml_html.document_fromstring(built.html)
    (link,) = doc.xpath('//p[@class="archive-all"]/a')
    assert link.get("href") == "https://webzine.example.org/korea/"
    assert _normal(link.text_content()) == "All 120 earlier issues, to read online or download →"
    assert "All 120 earlier issues" in built.text
    assert len(built.read("email.html")) < 30 * 1024
    assert not built.paths.dist.joinpath("2023-08", "email-web.html").exists()  # nothing cut


def test_an_embedded_email_carries_only_the_images_it_shows(tmp_path: Path) -> None:
    """Embedded images: when the budget cuts an article, its figures stay out of the
    message (they would only weigh it down); the message holds what its HTML shows."""
    shutil.copytree(FIXTURES, tmp_path / "issues")
    articles = tmp_path / "issues" / "2024-01" / "articles"
    paragraphs = [_long_paragraph(900 + n) for n in range(200)]
    Image.new("RGB", (900, 600), (20, 90, 160)).save(
        tmp_path / "issues" / "2024-01" / "images" / "late.png")
    paragraphs.insert(150, "![A late figure](images/late.png)")
    (articles / "19-long.md").write_text(
        "---\ntitle: Very Long\nsection: Culture\nbyline: Writer\n---\n\n"
        + "\n\n".join(paragraphs) + "\n", encoding="utf-8")
    built = _build(tmp_path, tmp_path / "issues", JAN, _embed_layouts(tmp_path))
    assert "Continue reading “Very Long”" in built.words  # it was cut
    shown = {src[4:] for src in lxml_html.document_fromstring(built.html).xpath("//img/@src")}
    carried = set(related_images(parse_eml(built.dist / "email.eml")))
    assert shown and carried == shown
    assert not [cid for cid in carried if cid.startswith("late")]


def test_the_uncut_web_version_goes_once_nothing_is_cut(
        oversized: tuple[Built, list[logging.LogRecord]], tmp_path: Path) -> None:
    built, _ = oversized
    root = tmp_path / "project"
    shutil.copytree(built.paths.issues, root / "issues")
    shutil.copytree(built.paths.dist, root / "dist")
    assert (root / "dist" / "2024-01" / "email-web.html").is_file()
    for article in (root / "issues" / "2024-01" / "articles").glob("1?-*.md"):
        article.unlink()  # the long ones, and the short one that links to one
    again = _build(root, root / "issues", JAN)
    assert "Continue reading" not in again.words
    assert not (again.dist / "email-web.html").exists()
    assert (again.dist / "email.html").is_file()
