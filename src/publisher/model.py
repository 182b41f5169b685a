"""The document model every renderer shares.

One issue source is read once into these frozen dataclasses (the way Pandoc
reads every input into ``Pandoc Meta [Block]``); each renderer walks the same
objects.  Nothing here touches the file system except :class:`Image`, which
records where its bytes live so renderers can load them.

Inline and block nodes form a small tree: an article body is a tuple of
:data:`Block`, a block holds :data:`Inline` children.  Text is already
typographically finished (curly quotes, dashes) and never contains markup:
raw HTML in a source becomes plain :class:`Text`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")

_NOT_WORD = re.compile(r"[^\w]+")
_NOT_ASCII_WORD = re.compile(r"[^a-z0-9]+")


def slug(text: str, *, default: str, ascii_only: bool = False, casefold: bool = False) -> str:
    """``text`` as a lower-case name: each run of what is not a letter or digit becomes
    one ``-``, none at either end; ``default`` when nothing is left.  The one slug of the
    project: article slugs and subhead ids, output file stems, the mailing list's name,
    the email's image files.

    By default letters and digits of every script stay (``United Response`` ->
    ``united-response``, ``Café`` -> ``cafe``, ``김치 Days`` -> ``김치-days``): the text
    is decomposed with its compatibility forms (``ﬁ`` -> ``fi``, ``①`` -> ``1``), accents
    (combining marks) go, and what is left is composed again, so a Hangul syllable stays
    one character (decomposed, it is two or three conjoining jamo, which no editor types
    in a link); ``_`` stays inside, not at either end.

    ``ascii_only`` keeps ``a-z`` and ``0-9`` only, and nothing is decomposed first
    (``Café`` -> ``caf``, ``김치 Days`` -> ``days``): the rule the names of files and of
    the mailing list have always followed, kept because changing it would rename the
    outputs and their public URLs, and invalidate every unsubscribe token sent.
    ``casefold`` lowers the case with :meth:`str.casefold` rather than :meth:`str.lower`
    (``Straße`` -> ``strasse`` rather than ``stra-e``): the mailing list's name.
    """
    if not ascii_only:
        text = unicodedata.normalize("NFKD", text)
        text = unicodedata.normalize(
            "NFC", "".join(ch for ch in text if not unicodedata.combining(ch)))
    lowered = text.casefold() if casefold else text.lower()
    if ascii_only:
        return _NOT_ASCII_WORD.sub("-", lowered).strip("-") or default
    return _NOT_WORD.sub("-", lowered).strip("-_") or default


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month naming one issue, e.g. ``2023-08``."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """Parse ``YYYY-MM``; raise ``ValueError`` with a readable reason."""
        m = MONTH_RE.match(text.strip())
        if not m:
            raise ValueError(f"month {text!r} is not in the form YYYY-MM (e.g. 2023-08)")
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise ValueError(f"month {text!r} has no month {month:02d}: use 01 to 12")
        if year < 1:  # the calendar starts in year 1: no date of year 0 can be written
            raise ValueError(f"month {text!r} has no year 0000: use 0001 to 9999")
        return cls(year, month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


    @property
    def label(self) -> str:
        """``August 2023``."""
        return f"{calendar.month_name[self.month]} {self.year}"

    @property
    def name(self) -> str:
        """``August``."""
        return calendar.month_name[self.month]

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, self.month, 1)


@dataclass(frozen=True)
class TrimSize:
    """Finished page size of the printed magazine, in millimetres."""

    width_mm: float = 210.0
    height_mm: float = 297.0
    bleed_mm: float = 3.0


@dataclass(frozen=True)
class Publication:
    """Publication-wide settings, from ``issues/publication.toml``."""

    title: str
    publisher: str
    language: str
    base_url: str
    sender_name: str
    sender_address: str
    postal_address: str
    description: str = ""
    copyright_holder: str = ""
    issn: str | None = None
    trim: TrimSize = field(default_factory=TrimSize)
    source: Path | None = None
    #: The sentence a reader agrees to when subscribing on the site, and its version
    #: (``[consent]`` in publication.toml; the default when absent).
    consent_text: str = ""
    consent_version: str = ""

    def download_url(self, month: Month, kind: str) -> str:
        """Public URL of a built output: ``kind`` is ``pdf`` or ``epub``."""
        stem = f"{self.file_stem}-{month}"
        return f"{self.base_url}/{month}/{stem}.{kind}"

    def issue_url(self, month: Month) -> str:
        """Public URL of the issue's web page (the email's "view in browser")."""
        return f"{self.base_url}/{month}/"

    @property
    def file_stem(self) -> str:
        """Lower-case stem of output file names: ``korea``."""
        return slug(self.title, default="issue", ascii_only=True)


# --- Inlines ---------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Emph:
    children: tuple[Inline, ...]


@dataclass(frozen=True)
class Strong:
    children: tuple[Inline, ...]


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Link:
    """A link.  ``url`` is absolute (http, https, mailto) or ``#id`` for a
    place inside the issue (a heading, an article, a footnote)."""

    url: str
    children: tuple[Inline, ...]
    title: str = ""

    @property
    def internal(self) -> bool:
        return self.url.startswith("#")


@dataclass(frozen=True)
class LineBreak:
    pass


@dataclass(frozen=True)
class SoftBreak:
    pass


@dataclass(frozen=True)
class FootnoteRef:
    """A reference to the article's footnote number ``number``."""

    number: int
    id: str


Inline = Text | Emph | Strong | Code | Link | LineBreak | SoftBreak | FootnoteRef


# --- Blocks ----------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    """An image file of the issue, with what a reader needs to know of it."""

    path: Path  # absolute, inside the issue folder
    src: str  # as written in the source, relative to the issue folder
    alt: str
    width: int  # pixels
    height: int
    caption: tuple[Inline, ...] = ()
    credit: str = ""
    #: The editor's focal point (``focus: x, y``): where the subject is, as fractions of
    #: the width and height from the top left; a layout that must crop keeps it in view.
    focus: tuple[float, float] | None = None

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Paragraph:
    children: tuple[Inline, ...]


@dataclass(frozen=True)
class Heading:
    """A subhead; ``level`` 2 is a subhead, 3 a minor one (1 is the title)."""

    level: int
    id: str
    children: tuple[Inline, ...]


@dataclass(frozen=True)
class BlockQuote:
    children: tuple[Block, ...]


@dataclass(frozen=True)
class PullQuote:
    """A short quotation set large, repeated from the text."""

    children: tuple[Inline, ...]
    attribution: str = ""


@dataclass(frozen=True)
class ListBlock:
    ordered: bool
    items: tuple[tuple[Block, ...], ...]
    start: int = 1


@dataclass(frozen=True)
class Figure:
    image: Image


@dataclass(frozen=True)
class TableCell:
    children: tuple[Inline, ...]
    align: str = ""  # "", "left", "center", "right"


@dataclass(frozen=True)
class Table:
    head: tuple[tuple[TableCell, ...], ...]
    body: tuple[tuple[TableCell, ...], ...]


@dataclass(frozen=True)
class CodeBlock:
    text: str
    language: str = ""


@dataclass(frozen=True)
class Rule:
    pass


Block = (Paragraph | Heading | BlockQuote | PullQuote | ListBlock | Figure | Table | CodeBlock
         | Rule)


@dataclass(frozen=True)
class Footnote:
    number: int
    id: str
    children: tuple[Block, ...]


# --- Anchors ---------------------------------------------------------------
#
# Every id an article's content gets lives in the article's own namespace, so that no
# article (whatever its slug: ``cover``, ``nav``, ``footer``, ``print-pad``) can take an
# id, or an EPUB file name, that a layout uses for its own, and no two articles can meet:
#
#   article-<slug>                 the article           (an EPUB's article-<slug>.xhtml)
#   article-<slug>--title          its title
#   article-<slug>--h-<subhead>    a subhead (``## Subhead``), -2, -3 ... when repeated
#   article-<slug>--b<n>           its n-th top-level block
#   article-<slug>--fn<n>          a footnote; ``--fn<n>-ref``: where it is referenced
#
# The editor's note uses ``editors-note`` in place of ``article-<slug>``.  A slug (and a
# subhead's slug) never contains ``--``, so the part before the first ``--`` names the
# owner and the part after it the kind: no two of these ids can be equal.  Layouts must
# not give their own elements ids that start with ``article-``; a test checks them.

ARTICLE_ID_PREFIX = "article-"
EDITORS_NOTE_ID = "editors-note"


def article_id(slug: str) -> str:
    """``features`` -> ``article-features``."""
    return f"{ARTICLE_ID_PREFIX}{slug}"


def heading_id(owner: str, subhead: str) -> str:
    """The id of a subhead (slugified) of ``owner`` (an article's id, or the note's)."""
    return f"{owner}--h-{subhead}"


def footnote_id(owner: str, number: int) -> str:
    return f"{owner}--fn{number}"


def block_id_of(owner: str, number: int) -> str:
    return f"{owner}--b{number}"


# --- Issue -----------------------------------------------------------------


@dataclass(frozen=True)
class Article:
    slug: str
    title: str
    section: str
    byline: str
    body: tuple[Block, ...]
    source: Path
    dek: str = ""
    photo_credit: str = ""
    lead_image: Image | None = None
    footnotes: tuple[Footnote, ...] = ()

    @property
    def anchor(self) -> str:
        """The article's id in every format (``article-<slug>``, see *Anchors* above)."""
        return article_id(self.slug)

    @property
    def title_id(self) -> str:
        return f"{self.anchor}--title"

    @property
    def headings(self) -> tuple[Heading, ...]:
        return tuple(b for b in self.body if isinstance(b, Heading))

    @property
    def images(self) -> tuple[Image, ...]:
        found = [self.lead_image] if self.lead_image else []
        found += [b.image for b in walk_blocks(self.body) if isinstance(b, Figure)]
        return tuple(found)


@dataclass(frozen=True)
class TickerItem:
    headline: str
    link: str | None = None


@dataclass(frozen=True)
class ArchiveEntry:
    """One earlier issue as the archive lists it."""

    month: Month
    cover_story: str
    pdf_url: str
    epub_url: str
    page_url: str
    cover_image: Path | None = None

    @property
    def label(self) -> str:
        return self.month.label


@dataclass(frozen=True)
class Archive:
    """Every issue before this one, newest first: the back matter of each format."""

    entries: tuple[ArchiveEntry, ...]

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


@dataclass(frozen=True)
class Issue:
    """One issue, read and validated, ready for any renderer."""

    publication: Publication
    month: Month
    date: dt.date
    cover_story: str
    articles: tuple[Article, ...]
    archive: Archive
    source_dir: Path
    cover_lines: tuple[str, ...] = ()
    cover_image: Image | None = None
    editors_note: tuple[Block, ...] = ()
    sections: tuple[str, ...] = ()
    ticker: tuple[TickerItem, ...] = ()
    issn: str | None = None
    number: str | None = None

    @property
    def title(self) -> str:
        """``KOREA — August 2023``."""
        return f"{self.publication.title} — {self.month.label}"

    @property
    def images(self) -> tuple[Image, ...]:
        found = [self.cover_image] if self.cover_image else []
        for article in self.articles:
            found.extend(article.images)
        return tuple(found)

    @property
    def creators(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for article in self.articles:
            seen.setdefault(article.byline, None)
        return tuple(seen)


def walk_blocks(blocks: tuple[Block, ...]):  # type: ignore[no-untyped-def]
    """Every block in ``blocks``, depth first, containers before contents."""
    for block in blocks:
        yield block
        if isinstance(block, BlockQuote):
            yield from walk_blocks(block.children)
        elif isinstance(block, ListBlock):
            for item in block.items:
                yield from walk_blocks(item)


def plain_text(inlines: tuple[Inline, ...]) -> str:
    """The text of inline nodes, without markup (footnote marks dropped)."""
    parts: list[str] = []
    for node in inlines:
        if isinstance(node, Text | Code):
            parts.append(node.text)
        elif isinstance(node, Emph | Strong | Link):
            parts.append(plain_text(node.children))
        elif isinstance(node, SoftBreak | LineBreak):
            parts.append(" ")
    return "".join(parts)
