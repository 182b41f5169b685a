"""The print PDF and the reader's PDF, checked with poppler-utils, qpdf and pypdf.

Both PDFs of 2023-08 (those of conftest's built_2023_08) and of the fixture issue are built
once per session.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pypdf
import pytest

from conftest import FIXTURES, ISSUES, LAYOUTS, seed_sentences
from publisher.build.builder import Paths, build
from publisher.build.outputs import month_outputs
from publisher.diagnostics import Diagnostics
from publisher.errors import PublisherError, display_path
from publisher.model import Month
from publisher.render.base import BuildContext, PrintLayout
from publisher.render.pdf.fetcher import ConfinedFetcher, ForbiddenURL
from publisher.render.pdf.renderer import ARCHIVE_FEATURED, PdfRenderer, page_map, print_document
from publisher.source.config import load_publication
from publisher.source.reader import read_issue

MONTH = "2023-08"
MM = 72 / 25.4


@dataclass(frozen=True)
class Built:
    press: Path
    reader: Path
    paths: Paths


def _build(root: Path, issues: Path, month: str) -> Built:
    paths = Paths(issues=issues, layouts=LAYOUTS, dist=root / "dist")
    build(Month.parse(month), paths, ["pdf"])
    return _built(paths, month)


def _built(paths: Paths, month: str) -> Built:
    publication = load_publication(paths.issues, Diagnostics())
    assert publication is not None
    out = month_outputs(paths.dist, publication, Month.parse(month))
    return Built(out.path("pdf", "print"), out.path("pdf", "reader"), paths)


@pytest.fixture(scope="session")
def built(built_2023_08: Paths) -> Built:
    """The PDFs of the session's build of 2023-08 (conftest's ``built_2023_08``, which
    other files read too): read them, never change them."""
    return _built(built_2023_08, MONTH)


@pytest.fixture(scope="session")
def fixture_built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Built, list[str]]:
    """The fixture issue (ticker, footnote, small images), with the preflight warnings."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Collect(logging.WARNING)
    logger = logging.getLogger("publisher.render.pdf.preflight")
    logger.addHandler(handler)
    try:
        result = _build(tmp_path_factory.mktemp("fixture-pdf"), FIXTURES, "2024-01")
    finally:
        logger.removeHandler(handler)
    return result, records


def run(*args: str | Path) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{args[0]} failed: {done.stderr}{done.stdout}"
    return done.stdout


def page_texts(pdf: Path, layout: bool = False) -> list[str]:
    """The text of each page (pdftotext separates pages with form feeds).

    ``-raw`` keeps the order of the content stream, which WeasyPrint writes in
    reading order (column by column); ``-layout`` keeps lines together.
    """
    text = run("pdftotext", "-layout" if layout else "-raw", pdf, "-")
    return text.split("\f")[:-1]


def normalise(text: str) -> str:
    """Undo what extraction does to running text: soft hyphens, line-end hyphens, spacing."""
    text = text.replace("\u00ad", "")
    # WeasyPrint's automatic hyphenation inserts U+2010 at a line end: drop it and the
    # break; a hyphen of the text itself ("war-torn") at a line end keeps its hyphen.
    text = re.sub(r"(\w)\u2010\n(\w)", r"\1\2", text)
    text = re.sub(r"(\w)-\n(\w)", r"\1-\2", text)
    return re.sub(r"\s+", " ", text)


def boxes(pdf: Path) -> dict[int, dict[str, tuple[float, ...]]]:
    pages: dict[int, dict[str, tuple[float, ...]]] = {}
    for line in run("pdfinfo", "-box", "-f", "1", "-l", "9999", pdf).splitlines():
        m = re.match(r"Page\s+(\d+)\s+(\w+Box):\s+([-\d.\s]+)$", line)
        if m:
            pages.setdefault(int(m[1]), {})[m[2]] = tuple(float(v) for v in m[3].split())
    return pages


def info(pdf: Path) -> dict[str, str]:
    out = run("pdfinfo", pdf)
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


# --- both PDFs -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["press", "reader"])
def test_qpdf_check_passes(built: Built, kind: str) -> None:
    out = run("qpdf", "--check", getattr(built, kind))
    assert "No syntax or stream encoding errors found" in out


@pytest.mark.parametrize("kind", ["press", "reader"])
def test_every_font_embedded(built: Built, kind: str) -> None:
    rows = run("pdffonts", getattr(built, kind)).splitlines()[2:]
    assert rows, "no fonts at all"
    for row in rows:
        flags = re.search(r"\s(yes|no)\s+(yes|no)\s+(yes|no)\s+\d+\s+\d+\s*$", row)
        assert flags and flags[1] == "yes", f"not embedded: {row}"
        assert "Publisher-" in row, f"a font that is not the layout's: {row}"


@pytest.mark.parametrize("kind", ["press", "reader"])
def test_text_has_every_sentence_of_the_seed(built: Built, kind: str) -> None:
    text = normalise("\n".join(page_texts(getattr(built, kind))))
    sentences = seed_sentences()
    assert len(sentences) > 20
    missing = [s for s in sentences if normalise(s) not in text]
    assert not missing, f"{len(missing)} sentence(s) missing, first: {missing[0]!r}"
    for mojibake in ("¡¯", "¡°", "¡±", "¨Ï", "\ufffd"):
        assert mojibake not in text
    assert "“united response”" in text and "Korea’s" in text


# --- the print PDF -----------------------------------------------------------------


def test_print_boxes_on_every_page_and_pages_a_multiple_of_four(built: Built) -> None:
    pages = boxes(built.press)
    assert len(pages) % 4 == 0 and len(pages) >= 8
    bleed = 3 * MM
    width, height = 210 * MM, 297 * MM
    for number, page in pages.items():
        trim = page["TrimBox"]
        assert trim[2] - trim[0] == pytest.approx(width, abs=0.02), number
        assert trim[3] - trim[1] == pytest.approx(height, abs=0.02), number
        expected = (trim[0] - bleed, trim[1] - bleed, trim[2] + bleed, trim[3] + bleed)
        assert page["BleedBox"] == pytest.approx(expected, abs=0.02), number
        media = page["MediaBox"]  # room for the crop marks outside the bleed
        assert media[0] < expected[0] and media[2] > expected[2], number


def test_print_is_pdf_x4_with_the_cmyk_output_intent(built: Built) -> None:
    pdf = pypdf.PdfReader(built.press)
    root = pdf.trailer["/Root"]
    (intent,) = root["/OutputIntents"]
    intent = intent.get_object()
    assert intent["/S"] == "/GTS_PDFX"
    assert "FOGRA39L" in intent["/OutputConditionIdentifier"]
    profile = intent["/DestOutputProfile"].get_object()
    assert profile["/N"] == 4  # CMYK
    xmp = root["/Metadata"].get_object().get_data()
    assert b"PDF/X-4" in xmp
    assert re.search(rb"xmp\.did:[0-9a-f-]{36}", xmp)
    for page in pdf.pages:  # RGB is tied to sRGB, as PDF/X-4 wants device-independent RGB
        kind, icc = page["/Resources"]["/ColorSpace"]["/DefaultRGB"]
        assert kind == "/ICCBased" and icc.get_object()["/N"] == 3


def test_contents_gives_the_page_where_each_article_starts(built: Built) -> None:
    issue = read_issue(ISSUES, Month.parse(MONTH), Diagnostics())
    pages = page_texts(built.press, layout=True)
    contents = next(i for i, text in enumerate(pages) if "Contents" in text)
    listed = {}
    for line in pages[contents].splitlines():
        m = re.match(r"\s*(\d+)\s{2,}(\S.*)$", line)
        if m:
            listed[m[2].strip()] = int(m[1])
    for article in issue.articles:
        start = next(i for i, text in enumerate(pages)
                     if i > contents and article.title in normalise(text)) + 1
        assert listed[article.title] == start, (article.title, listed)
        context = BuildContext(issue=issue, layouts=LAYOUTS)
        assert page_map(context)[article.anchor] == str(start)


def test_archive_lists_earlier_issues_newest_first(built: Built) -> None:
    text = normalise("\n".join(page_texts(built.press)))
    archive = text[text.index("From the Archive", text.index("From the Archive") + 1):]
    months = ["2023-07", "2023-06", "2023-05", "2023-04", "2023-03"]
    at = [archive.find(f"https://webzine.example.org/korea/{m}/korea-{m}.pdf") for m in months]
    assert -1 not in at, at
    assert at == sorted(at)
    stories = [archive.find(story) for story in ("Chuncheon", "Gwangju", "Marado Island")]
    assert -1 not in stories and stories == sorted(stories)


def test_no_ticker_without_items(built: Built) -> None:
    assert "News Ticker" not in normalise("\n".join(page_texts(built.press)))


def test_two_builds_are_byte_identical(built: Built, tmp_path: Path) -> None:
    # The second build in another process (another hash seed, another clock time).
    subprocess.run([sys.executable, "-m", "publisher", "build", MONTH, "-q", "--issues",
                    str(ISSUES), "--layouts", str(LAYOUTS), "--dist", str(tmp_path),
                    "--format", "pdf"], check=True, env={**os.environ, "PYTHONHASHSEED": "7"})
    again = tmp_path / MONTH
    assert (again / built.press.name).read_bytes() == built.press.read_bytes()
    assert (again / built.reader.name).read_bytes() == built.reader.read_bytes()


# --- the reader's PDF --------------------------------------------------------------


def test_reader_is_cut_to_the_trim_tagged_with_bookmarks_and_metadata(built: Built) -> None:
    pages = boxes(built.reader)
    assert len(pages) == len(boxes(built.press)) - 1  # without the blank padding page
    for number, page in pages.items():
        media = page["MediaBox"]
        assert media[2] - media[0] == pytest.approx(210 * MM, abs=0.02), number
        assert media[3] - media[1] == pytest.approx(297 * MM, abs=0.02), number
    meta = info(built.reader)
    assert meta["Tagged"] == "yes"
    assert meta["Title"] == "KOREA — August 2023"
    assert meta["Author"] == "Sohn Ji-ae"
    assert meta["Subject"].startswith("Korea’s Push for Greater Security Ties")
    assert meta["CreationDate"].endswith("Aug  1 00:00:00 2023 UTC")
    pdf = pypdf.PdfReader(built.reader)
    assert "/OutputIntents" not in pdf.trailer["/Root"]
    assert pdf.trailer["/Root"]["/Lang"] == "en"
    assert b"pdfuaid:part" in pdf.trailer["/Root"]["/Metadata"].get_object().get_data()
    titles = [item.title for item in pdf.outline if not isinstance(item, list)]
    assert "Korea’s Push for Greater Security Ties" in titles
    assert built.reader.stat().st_size < 3 * 1024 * 1024


def test_reader_images_are_downsampled(built: Built) -> None:
    def widths(path: Path) -> set[int]:
        found = set()
        for page in pypdf.PdfReader(path).pages:
            for image in page.images:
                found.add(image.image.width)
        return found

    source = read_issue(ISSUES, Month.parse(MONTH)).articles[0].lead_image
    assert source is not None
    assert max(widths(built.press)) == source.width  # print keeps every pixel
    assert max(widths(built.reader)) < source.width


# --- the fixture issue: ticker, footnotes, preflight ------------------------------------


def test_fixture_has_ticker_footnote_and_hangul(fixture_built: tuple[Built, list[str]]) -> None:
    result, _ = fixture_built
    text = normalise("\n".join(page_texts(result.press)))
    assert "News Ticker" in text and "Ticker item two, without a link" in text
    assert "The footnote’s text, with a link." in text
    assert "한옥" in text
    assert len(boxes(result.press)) % 4 == 0


def test_preflight_names_images_under_300_dpi(fixture_built: tuple[Built, list[str]]) -> None:
    _, warnings = fixture_built
    named = " ".join(warnings)
    for image in ("images/lead.png", "images/figure.png", "images/cover.png"):
        assert f"'{image}'" in named
    assert all("dpi" in w for w in warnings)


# --- safety -------------------------------------------------------------------------


def test_fetcher_serves_only_the_issue_and_layouts(tmp_path: Path) -> None:
    issue_dir = ISSUES / MONTH
    fetcher = ConfinedFetcher([issue_dir, LAYOUTS])
    image = (issue_dir / "images" / "yoon-stoltenberg-placeholder.jpg").resolve()
    assert fetcher.fetch(image.as_uri()).read()[:2] == b"\xff\xd8"
    assert fetcher.fetch("data:text/plain,hello").read() == b"hello"
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    for url in ("file:///etc/passwd", "http://example.org/x.png", "https://example.org/",
                f"{issue_dir.resolve().as_uri()}/../../../etc/passwd", outside.as_uri(),
                "ftp://example.org/x"):
        with pytest.raises(ForbiddenURL):
            fetcher.fetch(url)


def test_layout_referencing_etc_passwd_fails_naming_the_file(tmp_path: Path) -> None:
    layouts = tmp_path / "layouts"
    shutil.copytree(LAYOUTS, layouts)
    css = layouts / "print" / "print.css"
    css.write_text(css.read_text() + '\n.cover { background: url("file:///etc/passwd"); }\n')
    with pytest.raises(PublisherError) as failure:
        build(Month.parse(MONTH), Paths(ISSUES, layouts, tmp_path / "dist"), ["pdf"])
    message = str(failure.value)
    assert "print.css:" in message and "file:///etc/passwd" in message
    assert not (tmp_path / "dist").exists()


def test_source_referencing_etc_passwd_fails(project_copy: Paths, cli) -> None:
    toml = project_copy.issues / MONTH / "issue.toml"
    toml.write_text(toml.read_text().replace('file = "images/yoon-stoltenberg-placeholder.jpg"',
                                             'file = "file:///etc/passwd"'))
    result = cli("build", MONTH, "--format", "pdf", paths=project_copy)
    assert result.status == 1
    assert any("issue.toml:" in line and "file:///etc/passwd" in line
               for line in result.err_lines), result.err
    assert not project_copy.dist.exists()


def test_markdown_file_url_is_never_fetched(project_copy: Paths, cli,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from publisher.render.pdf.fetcher import ConfinedFetcher

    asked: list[str] = []
    fetch = ConfinedFetcher.fetch

    def spying(self, url, headers=None):  # type: ignore[no-untyped-def]
        asked.append(url)
        return fetch(self, url, headers)

    monkeypatch.setattr(ConfinedFetcher, "fetch", spying)
    article = project_copy.issues / MONTH / "articles" / "korea-security-ties.md"
    article.write_text(article.read_text() + "\n![The password file](file:///etc/passwd)\n")
    result = cli("build", MONTH, "--format", "pdf", "--force", paths=project_copy)
    # markdown-it refuses file: URLs, leaving the text as written; the reader names it, on
    # its line, and nothing is fetched or written.
    assert result.status == 1, result.err
    assert result.err_lines == [
        f"error: {article}:{len(article.read_text().splitlines())}: image 'file:///etc/passwd' "
        "uses the 'file:' scheme: an image is a file of the issue folder, as "
        "'images/photo.jpg'"]
    assert not [url for url in asked if "passwd" in url or url.startswith("file:")]
    assert not (project_copy.dist / MONTH).exists()


def test_character_without_glyph_fails_naming_it_and_the_file(project_copy: Paths) -> None:
    article = project_copy.issues / MONTH / "articles" / "korea-security-ties.md"
    text = article.read_text()
    article.write_text(text.replace("Korea has been seeking", "Korea (韓) has been seeking"))
    issue = read_issue(project_copy.issues, Month.parse(MONTH), Diagnostics())
    with pytest.raises(PublisherError) as failure:
        print_document(BuildContext(issue=issue, layouts=LAYOUTS))
    message = str(failure.value)
    assert "U+97D3" in message and "'韓'" in message
    assert message.startswith(f"{display_path(article)}:")


# --- the print layout: print_document and page_map ---------------------------------------


def test_page_map_gives_the_printed_page_of_every_block(built: Built) -> None:
    import weasyprint

    from publisher import model as m
    from publisher.render.html import block_id

    issue = read_issue(ISSUES, Month.parse(MONTH), Diagnostics())
    context = BuildContext(issue=issue, layouts=LAYOUTS)
    document = print_document(context)
    assert isinstance(document, weasyprint.Document)
    assert print_document(context) is document  # laid out once a build
    pages = page_map(context)
    assert PdfRenderer().print_layout(context) == PrintLayout(pages)
    texts = [normalise(t) for t in page_texts(built.press)]
    for article in issue.articles:
        numbers = [int(pages[article.anchor])]
        for n, block in enumerate(article.body, 1):
            ident = block_id(article, n)
            numbers.append(int(pages[ident]))
            if isinstance(block, m.Heading):
                assert pages[block.id] == pages[ident]
            if isinstance(block, m.Paragraph):
                words = " ".join(m.plain_text(block.children).split()[:4])
                assert words in texts[int(pages[ident]) - 1], (ident, pages[ident], words)
        assert numbers == sorted(numbers)  # the body runs forward through the pages
    assert set(pages) == {
        ident for article in issue.articles
        for ident in (article.anchor, *(block_id(article, n) for n in
                                      range(1, len(article.body) + 1)),
                      *(h.id for h in article.headings))}


def test_character_without_glyph_in_the_stylesheet_fails(tmp_path: Path) -> None:
    layouts = tmp_path / "layouts"
    shutil.copytree(LAYOUTS, layouts)
    css = layouts / "print" / "print.css"
    css.write_text(css.read_text() + '\n.kicker::before { content: "\\2603  "; }\n')
    issue = read_issue(ISSUES, Month.parse(MONTH), Diagnostics())
    with pytest.raises(PublisherError) as failure:
        print_document(BuildContext(issue=issue, layouts=layouts))
    assert "U+2603" in str(failure.value) and "print.css:" in str(failure.value)


# --- proofs ---------------------------------------------------------------------------


def test_proof_writes_every_page_and_a_contact_sheet(built: Built, tmp_path: Path) -> None:
    from PIL import Image

    from publisher.build.proof import proof

    written = proof(built.press, tmp_path / "proof", dpi=30, thumb_height=120)
    pages = sorted((tmp_path / "proof").glob("page-*.png"))
    assert len(pages) == len(boxes(built.press))
    assert written[-1] == tmp_path / "proof" / "contact-sheet.png"
    with Image.open(written[-1]) as sheet:
        assert sheet.width > sheet.height > 120
    with Image.open(pages[0]) as cover:  # 30 dpi: 1 px = 0.85 mm; the trim is 12 mm in
        red, _, blue = cover.getpixel((12, 12))[:3]  # 10 mm in: in the 3 mm bleed
        assert blue > red + 20  # the cover's navy reaches into the bleed
        assert cover.getpixel((2, 2))[:3] == (255, 255, 255)  # the slug stays white


def test_trim_and_bleed_come_from_the_publication(fixture_copy: Paths) -> None:
    config = fixture_copy.issues / "publication.toml"
    config.write_text(config.read_text() + "\n[trim]\nwidth_mm = 170\nheight_mm = 240\n"
                      "bleed_mm = 5\n")
    result = _build(fixture_copy.dist.parent / "trim", fixture_copy.issues, "2024-01")
    press, reader = boxes(result.press), boxes(result.reader)
    assert len(press) % 4 == 0
    for page in press.values():
        trim, bleed = page["TrimBox"], page["BleedBox"]
        assert (trim[2] - trim[0], trim[3] - trim[1]) == pytest.approx((170 * MM, 240 * MM),
                                                                       abs=0.02)
        assert trim[0] - bleed[0] == pytest.approx(5 * MM, abs=0.02)
        assert bleed[3] - trim[3] == pytest.approx(5 * MM, abs=0.02)
    for page in reader.values():
        media = page["MediaBox"]
        assert (media[2] - media[0], media[3] - media[1]) == pytest.approx(
            (170 * MM, 240 * MM), abs=0.02)


def test_a_long_archive_features_the_newest_and_lists_the_rest(project_copy: Paths) -> None:
    """100 earlier issues: the newest few with cover and QR code, the rest in small type."""
    for folder in project_copy.issues.glob("2023-0[3-7]"):
        shutil.rmtree(folder)
    months = []
    year, month = 2023, 7
    for _ in range(100):
        name = f"{year:04d}-{month:02d}"
        months.append(name)
        (project_copy.issues / name).mkdir()
        (project_copy.issues / name / "issue.toml").write_text(
            f'month = "{name}"\ncover_story = "Story {name}"\n', encoding="utf-8")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    own = project_copy.issues / months[50] / "issue.toml"  # published elsewhere
    own.write_text(own.read_text(encoding="utf-8")
                   + 'pdf_url = "https://archive.example.org/old.pdf"\n', encoding="utf-8")
    result = _build(project_copy.dist.parent / "long", project_copy.issues, MONTH)
    text = normalise("\n".join(page_texts(result.press)))
    archive = text[text.index("From the Archive", text.index("From the Archive") + 1):]
    featured = [archive.find(f"https://webzine.example.org/korea/{m}/korea-{m}.pdf")
                for m in months[:ARCHIVE_FEATURED]]
    assert -1 not in featured and featured == sorted(featured)
    heading = archive.index("EARLIER ISSUES")  # set in capitals by the CSS
    assert featured[-1] < heading
    assert "Each is at https://webzine.example.org/korea/YYYY-MM/korea-YYYY-MM.pdf" in archive
    # a paragraph a year, newest first: "2022 DECEMBER Story 2022-12 · NOVEMBER Story …"
    listed = [archive.find(f"{Month.parse(m).name.upper()} Story {m}")
              for m in months[ARCHIVE_FEATURED:]]
    assert -1 not in listed and listed == sorted(listed) and listed[0] > heading
    years = [archive.find(f"{year} DECEMBER Story {year}-12") for year in range(2022, 2015, -1)]
    assert -1 not in years and years == sorted(years)
    own_at = archive.find("https://archive.example.org/old.pdf")
    assert listed[50 - ARCHIVE_FEATURED] < own_at < listed[51 - ARCHIVE_FEATURED]
    # one QR code per featured issue, and one on the back cover
    images = run("pdfimages", "-list", result.press).splitlines()[2:]
    square = [line for line in images if line.split()[3] == line.split()[4]]
    assert len(square) == ARCHIVE_FEATURED + 1
    pages = int(info(result.press)["Pages"])
    assert pages % 4 == 0 and pages <= 8  # as many as with five earlier issues
