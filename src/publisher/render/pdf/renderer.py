"""The print-ready PDF magazine and the reader's PDF, from one WeasyPrint layout.

``layouts/print/`` is rendered ONCE into a :class:`weasyprint.Document` (kept in
``context.shared`` for the rest of the build, see :func:`print_document`); both PDFs
are written from that one layout, and the formats that follow the print pages get
its :class:`~publisher.render.base.PrintLayout` (:meth:`PdfRenderer.print_layout`,
:func:`page_map`):

* ``korea-<MONTH>-print.pdf``: trim + bleed + crop marks, PDF/X-4 with the CMYK
  output intent of ``layouts/print/icc/FOGRA39L.icc``, padded with blank pages
  before the back cover to a multiple of four pages;
* ``korea-<MONTH>.pdf``: the same pages without the padding, cut to the trim,
  tagged (PDF/UA-1), images downsampled for the screen.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import segno
import weasyprint
from markupsafe import Markup
from weasyprint.text.fonts import FontConfiguration

from publisher import model as m
from publisher.errors import PublisherError
from publisher.render import confine
from publisher.render.base import BuildContext, Output, PrintLayout
from publisher.render.forked import Forked
from publisher.render.glyphs import text_sources
from publisher.render.html import HtmlOptions, HtmlWriter, block_id
from publisher.render.pdf import PDF, fit, house, quality
from publisher.render.pdf.columns import kept_columns
from publisher.render.pdf.fetcher import ConfinedFetcher, ForbiddenURL, forbidden_error
from publisher.render.pdf.finish import print_finisher, reader_finisher
from publisher.render.pdf.footnotes import cached_footnote_areas
from publisher.render.pdf.glyphs import check_glyphs
from publisher.render.pdf.justify import limited_justification
from publisher.render.pdf.preflight import preflight
from publisher.render.templates import environment, render_traced
from publisher.source import raster as imaging

log = logging.getLogger(__name__)

FORMAT = "print"
PRINT_OPTIONS = HtmlOptions(footnotes="print", block_ids=True, break_urls=True)
PRESS_PROFILE = "--press"  # the @color-profile of print.css
PAD_ID = "print-pad"  # the one blank page of the layout, repeated to pad
TRACE_KEY = "print-html-trace"  # where print_html's values came from (in context.shared)
HOUSE_KEY = "print-house-items"  # the house items the layout chose (in context.shared)
FIT_KEY = "print-fit"  # what the layout changed to fit the columns (in context.shared)
#: Layouts at most to fit blocks kept whole into the columns (render/pdf/fit.py).
FIT_PASSES = 3
READER_DPI = 150
READER_JPEG_QUALITY = 82
# Room outside the bleed for the crop marks: WeasyPrint draws them in the outer
# half of the CSS bleed, so a CSS bleed of 2 x 6 mm puts them 6 mm off the trim.
MARKS_MM = 12.0
#: The language fontconfig takes as the default. A font with family names in several
#: languages (NanumMyeongjo is also 나눔명조) is named after the one of the default
#: language, and WeasyPrint embeds it under that name: under ko the Hangul font would be
#: ``NanumMyeongjo``, not the layout's ``Publisher-Hangul``, and the PDF bytes would
#: change with the reader's locale.
FONT_LANGUAGE = "en"


def pin_font_language() -> None:
    """Make fontconfig's default language :data:`FONT_LANGUAGE`, whatever the locale.

    fontconfig reads it from the environment, not from the C locale: ``FC_LANG``,
    else ``LC_ALL``, ``LC_CTYPE``, ``LANG``, once per process, when it first matches a
    font (not when WeasyPrint is imported). So ``FC_LANG`` is set before any font is
    matched: here, on import (the one module that imports WeasyPrint), and again before
    each layout. A forked process (the build's worker, the reader's PDF) inherits it.
    """
    os.environ["FC_LANG"] = FONT_LANGUAGE


pin_font_language()


@dataclass(frozen=True)
class ArchiveView:
    """One archive entry as the layout sets it."""

    entry: m.ArchiveEntry
    qr: str  # data: URL of a PNG QR code to the PDF
    thumbnail: str | None  # data: URL of the cover image, or None: a typographic stand-in


def layout_policy(context: BuildContext) -> confine.Policy:
    """The print layout may refer to files in its folders of ``layouts/`` (``print/``,
    ``fonts/``, ``_partials/``) and the issue folder (the HTML's base URL), and to
    ``data:`` URLs; WeasyPrint fetches them confined."""
    source = context.issue.source_dir
    roots = (*confine.keyed_folders(context.layouts, PDF), source)
    return confine.Policy(
        FORMAT, context.layouts, roots, template_base=source,
        data_urls=True, fix="refer to a file inside layouts/ or the issue folder by a "
                            "relative path")


class PdfRenderer:
    name = "pdf"

    def layout_policy(self, context: BuildContext) -> confine.Policy:
        return layout_policy(context)

    def print_layout(self, context: BuildContext) -> PrintLayout:
        """Lay out the print pages (once a build); what the formats following them need."""
        return PrintLayout(pages=page_map(context))

    def render(self, context: BuildContext) -> list[Output]:
        issue = context.issue
        document = print_document(context)
        preflight(document)
        # WeasyPrint opens the photos itself: no raw Pillow warning about a large one
        # (the reader has refused any over the limit and warned about the others).
        with _fixed_clock(issue.date), imaging.quiet_large_images():
            # The two PDFs are written from the one layout at the same time: the reader's
            # in a forked child (which inherits the laid-out pages), the press file here.
            reader_job = Forked(lambda _inbox, doc: _write_reader(doc), document,
                                what="the process writing the reader's PDF")
            press = document.write_pdf(
                pdf_variant="pdf/x-4", finisher=print_finisher(
                    issue.publication.trim.bleed_mm,
                    f"{issue.publication.base_url}/{issue.month}/print"))
            reader = reader_job.result()
        pub, month = issue.publication, issue.month
        return [Output(PDF.file_name("print", pub, month), press),
                Output(PDF.file_name("reader", pub, month), reader)]


def _write_reader(document: weasyprint.Document) -> bytes:
    """The reader's PDF: the pages without the padding, tagged, photos downsampled."""
    reader_doc = document.copy([p for p in document.pages if PAD_ID not in p.anchors])
    # No press profile in the reader's PDF: not written, not compressed.
    reader_doc.color_profiles, reader_doc.output_intent = {}, None
    with _downsampled(reader_doc, READER_DPI):
        return reader_doc.write_pdf(
            pdf_variant="pdf/ua-1", pdf_identifier=True, finisher=reader_finisher(),
            jpeg_quality=READER_JPEG_QUALITY)


# --- the print layout ------------------------------------------------------------


def print_document(context: BuildContext) -> weasyprint.Document:
    """The print layout, rendered once per build (cached in ``context.shared``)."""
    cached = context.shared.get("print-document")
    if cached is not None:
        return cached
    issue = context.issue
    layout = context.layouts / FORMAT
    logging.getLogger("publisher.progress").info("laying out the print pages")
    confine.checked(context.shared, layout_policy(context))
    check_glyphs(css_content_text(layout / "print.css"), context.layouts / "fonts",
                 [layout / "print.css"], layout / "print.css")
    document = _layout(context, print_html(context))
    # A block kept whole that leaves a column's foot empty loses its margins at the
    # break, is cropped, or lets the text that follows go before it; a subhead heading
    # a column loses its top margin; the contents' picture shrinks to fit its page. The
    # issue is laid out again with the changes (a few passes at most; fit.py), kept
    # only if the page-quality report finds no more faults in it than before.
    faults: int | None = None  # measured when there is something to change
    for _ in range(FIT_PASSES):
        done = context.shared.get(FIT_KEY, fit.Fit())
        found = fit.adjustments(document, done)
        if not found:
            break
        if faults is None:
            faults = _faults(context, document)
        context.shared[FIT_KEY] = done.merged(found)
        context.shared.pop("print-html")
        trial = _layout(context, print_html(context))
        if (trial_faults := _faults(context, trial)) > faults:
            context.shared[FIT_KEY] = done
            context.shared.pop("print-html")
            print_html(context)
            break
        document, faults = trial, trial_faults
    # A large blank at an article's end gets a house item: laid out again with them,
    # kept only where no article grew a page.
    items = house.choose(issue, house.bands(document))
    if items:
        plain_html = context.shared.pop("print-html")
        context.shared[HOUSE_KEY] = items
        filled = _layout(context, print_html(context))
        if _article_pages(filled) == _article_pages(document):
            document = filled
        else:
            context.shared[HOUSE_KEY] = {}
            context.shared["print-html"] = plain_html
    document = _pad(document)
    context.shared["print-document"] = document
    return document


def _faults(context: BuildContext, document: weasyprint.Document) -> int:
    """How many of the page-quality report's goals the layout misses (quality.py)."""
    return len(quality.failures(quality.measure(document, context.layouts)))


def _article_pages(document: weasyprint.Document) -> list[list[str]]:
    return [sorted(a for a in page.anchors if a.startswith("article-") and "--" not in a)
            for page in document.pages]


def _layout(context: BuildContext, html: str) -> weasyprint.Document:
    """``html`` laid out by WeasyPrint with the print layout's stylesheets, confined."""
    issue = context.issue
    layout = context.layouts / FORMAT
    check_glyphs(_visible_text(html), context.layouts / "fonts", _text_sources(context),
                 layout / "base.html")
    fetcher = ConfinedFetcher([issue.source_dir, context.layouts])
    pin_font_language()
    fonts = FontConfiguration()
    profiles: dict[str, Any] = {}
    try:
        stylesheets = [
            weasyprint.CSS(string=(layout / "print.css").read_text(encoding="utf-8"),
                           base_url=fetcher.base_url(layout), url_fetcher=fetcher,
                           font_config=fonts, color_profiles=profiles),
            weasyprint.CSS(string=page_css(issue.publication.trim),
                           base_url=fetcher.base_url(layout), url_fetcher=fetcher,
                           font_config=fonts, color_profiles=profiles),
        ]
        source = weasyprint.HTML(string=html, base_url=fetcher.base_url(issue.source_dir),
                                 url_fetcher=fetcher)
        with (imaging.quiet_large_images(), limited_justification(context.layouts),
              kept_columns(), cached_footnote_areas()):
            document = source.render(font_config=fonts, color_profiles=profiles,
                                     stylesheets=stylesheets, output_intent=PRESS_PROFILE)
    except ForbiddenURL as exc:
        raise forbidden_error(exc, [*_text_sources(context), *sorted(layout.rglob("*"))],
                              layout / "base.html",
                              [t for t in (context.shared.get(TRACE_KEY),) if t]) from None
    if PRESS_PROFILE not in profiles:
        raise PublisherError(f"print.css declares no @color-profile {PRESS_PROFILE}: the print "
                             "PDF needs its CMYK output intent", layout / "print.css")
    return document


def page_map(context: BuildContext) -> dict[str, str]:
    """Element id -> printed folio of the page it starts on.

    The ids are those another format can refer to: article slugs, heading ids and
    the per-block ids ``<slug>-b<n>``.
    """
    wanted = set(_referable_ids(context.issue))
    found: dict[str, str] = {}
    for number, page in enumerate(print_document(context).pages, 1):
        for anchor in page.anchors:
            if anchor in wanted and anchor not in found:
                found[anchor] = str(number)
    return found


# --- the layout's HTML ------------------------------------------------------------


def print_html(context: BuildContext) -> str:
    """The print layout's HTML (cached in ``context.shared``)."""
    cached = context.shared.get("print-html")
    if cached is not None:
        return cached
    issue = context.issue
    env = environment(context.layouts, FORMAT, PRINT_OPTIONS)
    env.filters["lede_and_rest"] = _lede_and_rest
    env.filters["lead_figure"] = lead_figure
    env.filters["focused_img"] = focused_img
    traced = render_traced(
        env.get_template("base.html"),
        issue=issue,
        publication=issue.publication,
        cover_photo=cover_photo(issue),
        house_items=context.shared.get(HOUSE_KEY, {}),
        archive=[_archive_view(e) for e in issue.archive.entries[:ARCHIVE_FEATURED]],
        archive_years=_by_year(issue.publication, issue.archive.entries[ARCHIVE_FEATURED:]),
        issue_qr=qr_data_url(issue.publication.issue_url(issue.month)),
        date_iso=issue.date.isoformat(),
        year=issue.date.year,
        authors=", ".join(issue.creators),
        credits=_credits(issue),
    )
    html = fit.apply(traced.text, context.shared.get(FIT_KEY, fit.Fit()))
    context.shared["print-html"], context.shared[TRACE_KEY] = html, traced
    return html


#: The newest earlier issues the print archive sets in full (cover, QR code: one page); older
#: ones follow as a compact list, a paragraph a year, as a magazine's back-issue page
#: does: a long archive should cost lines of small type, not pages of codes.
ARCHIVE_FEATURED = 5


def _by_year(publication: m.Publication, entries: Sequence[m.ArchiveEntry],
             ) -> list[tuple[int, list[tuple[m.ArchiveEntry, str | None]]]]:
    """``entries`` (newest first) by year, each with its PDF URL when not the usual one."""
    years: dict[int, list[tuple[m.ArchiveEntry, str | None]]] = {}
    for entry in entries:
        years.setdefault(entry.month.year, []).append((entry, _own_url(publication, entry)))
    return list(years.items())


def page_css(trim: m.TrimSize) -> str:
    """The page size from the publication's trim, and the full-bleed boxes sized to it.

    The CSS bleed is larger than the trim's bleed, to leave room for the crop marks
    outside it; the print finisher sets the PDF BleedBox to the trim's bleed.
    """
    bleed = max(trim.bleed_mm, MARKS_MM)
    b, w, h = trim.bleed_mm, trim.width_mm, trim.height_mm
    return (f"@page {{ size: {w}mm {h}mm; bleed: {bleed}mm; marks: crop; }}\n"
            f".cover, .back-cover {{ height: {h}mm; }}\n"
            f".bleed-sides {{ position: absolute; left: -{b}mm; width: {w + 2 * b}mm; }}\n"
            f".full-bleed {{ position: absolute; top: -{b}mm; left: -{b}mm; "
            f"width: {w + 2 * b}mm; height: {h + 2 * b}mm; }}\n"
            # the masthead fills the cover's width whatever the trim (128 pt on A4)
            f".masthead-title {{ font-size: {w * 128 / 210:.1f}pt; }}\n")


def qr_data_url(url: str) -> str:
    """A QR code (made locally with segno) as a PNG ``data:`` URL."""
    # A fixed mask: segno's choice of the best of eight costs more than the whole page.
    # PNG, not SVG: WeasyPrint would draw the SVG's path anew for each PDF; 16 px a
    # module gives 300 dpi and more at the sizes the layout prints them.
    return segno.make(url, error="m", mask=2).png_data_uri(scale=16, border=0, dark="#1b1b1b")


def _archive_view(entry: m.ArchiveEntry) -> ArchiveView:
    thumbnail = None
    if entry.cover_image is not None and entry.cover_image.is_file():
        kind = "png" if entry.cover_image.suffix.lower() == ".png" else "jpeg"
        data = base64.b64encode(entry.cover_image.read_bytes()).decode("ascii")
        thumbnail = f"data:image/{kind};base64,{data}"
    return ArchiveView(entry, qr_data_url(entry.pdf_url), thumbnail)


def _own_url(publication: m.Publication, entry: m.ArchiveEntry) -> str | None:
    """The entry's PDF URL when it is not the usual one under the base URL."""
    usual = publication.download_url(entry.month, "pdf")
    return None if entry.pdf_url == usual else entry.pdf_url


def _credits(issue: m.Issue) -> list[tuple[str, str]]:
    """(role, names) lines of the colophon, from the articles and images."""
    words = ", ".join(issue.creators)
    photos: dict[str, None] = {}
    for article in issue.articles:
        if article.photo_credit:
            photos.setdefault(article.photo_credit, None)
    for image in issue.images:
        if image.credit:
            photos.setdefault(image.credit.removeprefix("ⓒ").strip(), None)
    lines = [("Words", words)] if words else []
    if photos:
        lines.append(("Photographs", ", ".join(photos)))
    return lines


#: The lead photo keeps its proportions (width / height) between these bounds: a portrait,
#: a square or a panorama is cropped to the nearer one, around the editor's focus.
LEAD_RATIO = (3 / 2, 12 / 5)


def cover_photo(issue: m.Issue) -> m.Image | None:
    """The cover's photo: the issue's cover image, else the lead image of the cover
    story (the article titled so, else the first article), else none (the layout sets a
    typographic cover)."""
    if issue.cover_image is not None:
        return issue.cover_image
    story = next((a for a in issue.articles if a.title == issue.cover_story),
                 issue.articles[0] if issue.articles else None)
    return story.lead_image if story is not None else None


def focused_img(image: m.Image, css_class: str = "") -> Markup:
    """The ``<img>`` with its focus (or its centre) as the ``object-position`` a crop
    keeps in view."""
    x, y = image.focus or (0.5, 0.5)
    tag = HtmlWriter(PRINT_OPTIONS).image(image, css_class)
    return Markup(tag.replace("<img ", f'<img style="object-position: {x * 100:.1f}% '
                                       f'{y * 100:.1f}%" ', 1))


def lead_figure(image: m.Image) -> Markup:
    """The lead figure: the photo across the type area at its own proportions within
    :data:`LEAD_RATIO` (a frame whose padding gives the height, the photo filling it)."""
    ratio = min(max(image.width / image.height, LEAD_RATIO[0]), LEAD_RATIO[1])
    caption = HtmlWriter(PRINT_OPTIONS).caption(image)
    return Markup(f'<figure class="lead">\n<div class="lead-frame" style="padding-top: '
                  f'{100 / ratio:.2f}%">{focused_img(image, "lead-img")}</div>\n'
                  f"{caption}</figure>")


def _lede_and_rest(article: m.Article) -> tuple[str, str]:
    """The article body as (first paragraph, the rest), with the shared block ids.

    The first paragraph carries the drop cap and is set across the page, outside
    the columns (a floated ``::first-letter`` inside columns crashes WeasyPrint 70).
    """
    html = HtmlWriter(PRINT_OPTIONS, article.footnotes).body(article)
    if not article.body or not isinstance(article.body[0], m.Paragraph):
        return Markup(""), Markup(html)
    if len(article.body) == 1:
        return Markup(html), Markup("")
    at = html.index(f'id="{block_id(article, 2)}"')
    start = html.rindex("<", 0, at)
    return Markup(html[:start]), Markup(html[start:])


# --- checks and helpers ---------------------------------------------------------------


def _visible_text(html: str) -> str:
    """The text the layout sets (no markup, no attribute values)."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


_CSS_STRING = re.compile(r"""content:\s*((?:"[^"]*"|'[^']*'|[^;}"']+)+)""")
_CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})\s?")


def css_content_text(stylesheet: Path) -> str:
    """The characters the stylesheet's ``content`` strings set (end marks, separators)."""
    text = stylesheet.read_text(encoding="utf-8")
    found = []
    for value in _CSS_STRING.findall(text):
        for string in re.findall(r""""([^"]*)"|'([^']*)'""", value):
            raw = string[0] or string[1]
            found.append(_CSS_ESCAPE.sub(lambda m: chr(int(m[1], 16)), raw))
    return "".join(found)


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("head", "style", "script"):
            self.skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("head", "style", "script"):
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def _text_sources(context: BuildContext) -> list[Path]:
    """The source files whose text the layout sets, in the order to blame them."""
    return [*text_sources(context.issue), *sorted((context.layouts / FORMAT).glob("*.html"))]


def _referable_ids(issue: m.Issue) -> Iterator[str]:
    for article in issue.articles:
        yield article.anchor
        for n, block in enumerate(article.body, 1):
            yield block_id(article, n)
            if isinstance(block, m.Heading):
                yield block.id


def _pad(document: weasyprint.Document) -> weasyprint.Document:
    """Repeat the layout's one blank page (before the back cover) to a multiple of 4."""
    pages = list(document.pages)
    blank = [i for i, page in enumerate(pages) if PAD_ID in page.anchors]
    if len(blank) != 1:
        raise PublisherError(f"the print layout must have exactly one page with id "
                             f"'{PAD_ID}' (found {len(blank)})")
    (at,) = blank
    without = len(pages) - 1
    needed = -without % 4
    padded = pages[:at] + [pages[at]] * needed + pages[at + 1:]
    log.info("print: %d pages, %d blank page(s) added before the back cover", without, needed)
    return document.copy(padded)


@contextlib.contextmanager
def _fixed_clock(date: dt.date) -> Iterator[None]:
    """SOURCE_DATE_EPOCH for fontTools, should WeasyPrint fall back to it for subsetting."""
    epoch = str(int(dt.datetime.combine(date, dt.time(), dt.UTC).timestamp()))
    saved = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = epoch
    try:
        yield
    finally:
        if saved is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = saved


@contextlib.contextmanager
def _downsampled(document: weasyprint.Document, dpi: int) -> Iterator[None]:
    """Have WeasyPrint downsample the photos of ``document`` while writing it.

    WeasyPrint reads ``dpi`` when it loads an image (at layout time) and replaces
    the image's data with the thumbnail when it writes one: set it for this write
    only and put the full-resolution data back afterwards, so the cached print
    document still prints at full resolution.
    """
    from weasyprint.images import RasterImage

    from publisher.render.pdf.preflight import descendants

    images = {id(box.replacement): box.replacement
              for page in document.pages for box in descendants(page._page_box)
              if isinstance(getattr(box, "replacement", None), RasterImage)
              and box.style["image_rendering"] == "auto"}  # photos; QR codes stay sharp
    saved = {key: (img._dpi, img.image_data) for key, img in images.items()}
    for img in images.values():
        img._dpi = dpi
    try:
        yield
    finally:
        for key, img in images.items():
            img._dpi, img.image_data = saved[key]
