"""Fitting what is kept whole into the columns, as a compositor does.

A figure, a pull quote or a table is kept whole (``break-inside: avoid``). When one
does not fit in the room left at the foot of a column, WeasyPrint moves it to the top
of the next column and leaves the room empty: a band at a column's foot, a quarter of
a page on an article's opening page. A compositor fills it. Measured on the laid-out
pages, for every column followed by one that begins with such a block, when the room
left below the column's text is more than :data:`ROOM_SHARE` of the column's height:

* a block that fits there but for its margins at the column break (the bottom one;
  the top one too when it would head a column) stays there without them (margins
  adjoining an unforced break are truncated, CSS Fragmentation; WeasyPrint keeps them
  but at a page's top);
* a figure whose photo, cropped to fit there, is no wider than :data:`MAX_RATIO` is
  cropped (its width kept, ``object-fit: cover``, centred);
* any other such block lets the text block (paragraph, list, quote) that follows it
  (past other blocks kept whole) go before it, so the text fills the column and the
  block heads the next one, as a figure floats to the next column in print; a later
  pass may do so again, and does for a block that its bottom margin or a crop did not
  make fit. A pull quote never comes to follow the article's last text block (after
  the end mark it is no pull quote); a figure or a table may.

A subhead that heads a column after the first of a page is set without its top margin
(WeasyPrint truncates it at a page's top only), as a compositor tightens the space above
a subhead that starts a column.

The contents page does the same with its one picture (the cover story's, kept whole):
it shrinks to the room left on the first contents page, down to
:data:`MIN_CONTENTS_PICTURE_MM`, or is left out, rather than taking a page of its own.

The renderer lays the issue out, asks :func:`adjustments` what to change, lays it out
again with :func:`apply` (a few passes at most), and keeps the result.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from weasyprint.formatting_structure import boxes

from publisher.render.pdf.preflight import descendants
from publisher.render.pdf.quality import EPS, MAX_BLANK, LaidPage

#: A column's foot left empty is filled when it is more than this share of the column.
ROOM_SHARE = MAX_BLANK
#: A figure's photo may be cropped to fit a column down to this width / height, the
#: widest a lead photo is set (renderer.LEAD_RATIO).
MAX_RATIO = 12 / 5
#: The contents page's picture is shrunk to the room left down to this height, else
#: left out.
MIN_CONTENTS_PICTURE_MM = 45.0
CONTENTS_PICTURE_ID = "print-on-the-cover"
_PX_PER_MM = 96 / 25.4
_SAFETY = 4.0  # CSS px of room to spare: what is measured is not laid out to the hair
_KEPT_WHOLE = frozenset({"avoid", "avoid-column", "avoid-page"})
_TEXT_TAGS = ("p", "ul", "ol", "blockquote", "pre")
_KEPT_TAGS = ("figure", "aside", "table")
_MAY_TRAIL = ("<figure", "<table")  # may follow an article's last text (a pull quote not)
_LATER_TEXT = re.compile(r'<(?:p|ul|ol|blockquote|pre) id="[^"]*--b\d+"')
_MAX_PASSED = 3  # blocks kept whole a text block may be moved before
_BLOCK_ID = re.compile(r".--b\d+$")
_SUBHEADS = ("h2", "h3", "h4")


@dataclass
class Fit:
    """What the layout changes: the blocks set without their bottom margin (``feet``)
    and, of those, without their top one too (``heads``), the subheads set without
    their top margin (``tops``), photo sizes (px) by block id,
    the blocks the text block that follows them goes before (in order, a block again
    in a later pass), and the contents picture's height (mm; 0: left out; None: as
    designed)."""

    feet: list[str] = field(default_factory=list)
    heads: list[str] = field(default_factory=list)
    tops: list[str] = field(default_factory=list)
    crops: dict[str, tuple[float, float]] = field(default_factory=dict)  # (width, height)
    moves: list[str] = field(default_factory=list)
    contents_picture_mm: float | None = None

    def merged(self, other: Fit) -> Fit:
        return Fit([*self.feet, *other.feet], [*self.heads, *other.heads],
                   [*self.tops, *other.tops],
                   {**self.crops, **other.crops},
                   [*self.moves, *other.moves],
                   other.contents_picture_mm if other.contents_picture_mm is not None
                   else self.contents_picture_mm)

    def __bool__(self) -> bool:
        return bool(self.feet or self.tops or self.crops or self.moves
                    or self.contents_picture_mm is not None)


def adjustments(document: Any, earlier: Fit | None = None) -> Fit:
    """What to change so that no column's foot is left empty by a block kept whole
    (``earlier``: the changes the document was laid out with)."""
    pages = [LaidPage(n, page._page_box) for n, page in enumerate(document.pages, 1)]
    tried = {*earlier.feet, *earlier.crops} if earlier is not None else set()
    fit = Fit()
    for flow in _column_flows(pages).values():
        first_page, first = flow[0]
        before_page = pages[first_page.number - 2] if first_page.number >= 2 else None
        if before_page is not None and before_page.part == first_page.part:
            # the columns begin a page after their article's: the room below its text
            lowest = max((b.position_y + b.margin_height() for b in before_page.inked()),
                         default=before_page.top)
            _fill(fit, tried, before_page, first, lowest,
                  before_page.flow_bottom() - before_page.top, heads=False)
        for (page, before), (after_page, after) in itertools.pairwise(flow):
            if page is not flow[-1][0]:  # the last page's columns are balanced by design
                top, height, heads = _room_top(page, before)
                _fill(fit, tried, page, after, top, height, heads)
            if after_page is page:
                _subhead_on_top(fit, after)
    fit.contents_picture_mm = _contents_picture(pages)
    return fit


def apply(html: str, fit: Fit) -> str:
    """``html`` (the print layout's) with the changes of ``fit``."""
    for block_id in dict.fromkeys(fit.feet):
        html = _unmargined(html, block_id, top=block_id in fit.heads, bottom=True)
    for block_id in dict.fromkeys(fit.tops):
        html = _unmargined(html, block_id, top=True, bottom=False)
    for block_id, height in fit.crops.items():
        html = _crop(html, block_id, height)
    for block_id in fit.moves:
        html = _text_before(html, block_id)
    if fit.contents_picture_mm is not None:
        html = _contents_picture_height(html, fit.contents_picture_mm)
    return html


# --- measuring ------------------------------------------------------------------------


def _column_flows(pages: list[LaidPage]) -> dict[int, list[tuple[LaidPage, Any]]]:
    """Per multi-column element: its column boxes in order, with their pages."""
    flows: dict[int, list[tuple[LaidPage, Any]]] = {}
    for page in pages:
        if page.kind != "article":
            continue
        for box in descendants(page.root):
            columns = [c for c in getattr(box, "children", ()) if getattr(c, "is_column", False)]
            if columns and box.element is not None:
                flows.setdefault(id(box.element), []).extend((page, c) for c in columns)
    return flows


def _in_flow(column: Any) -> list[Any]:
    return [c for c in column.children if c.is_in_normal_flow() and c.margin_height() > EPS]


def _room_top(page: LaidPage, before: Any) -> tuple[float, float, bool]:
    """Where the room below the column ``before`` begins, the column's height, and
    whether the room is an empty column (what fills it heads a column)."""
    parent, columns_here = _columns_of(page, before)
    count = parent.style["column_count"] if parent is not None else "auto"
    height = page.flow_bottom() - before.position_y
    if before is columns_here[-1] and isinstance(count, int) and len(columns_here) < count:
        return before.position_y, height, True  # an empty column after it on this page
    return max((c.position_y + c.margin_height() for c in _in_flow(before)),
               default=before.position_y), height, False


def _fill(fit: Fit, tried: set[str], page: LaidPage, after: Any, top: float,
          column_height: float, heads: bool) -> None:
    """Fill the room from ``top`` to the foot of ``page`` if the column ``after``
    begins with a block kept whole that left it empty (``tried``: the blocks an earlier
    pass set without their margins or cropped; ``heads``: the room is a column of its
    own, where the block's top margin adjoins the column break too)."""
    head = _in_flow(after)[:1]
    if not head or not isinstance(head[0], boxes.BlockBox) or head[0].element is None:
        return
    block = head[0]
    block_id = block.element.get("id") or ""
    if block.style["break_inside"] not in _KEPT_WHOLE or not _BLOCK_ID.search(block_id):
        return
    room = page.flow_bottom() - top
    if column_height <= 0 or room <= ROOM_SHARE * column_height:
        return
    photo = next((b for b in descendants(block) if isinstance(b, boxes.ReplacedBox)), None)
    # At a page's top WeasyPrint drops a block's top margin; in the room, after a column
    # on the same page, it keeps it.
    need = _margin_top(block) + block.border_height() + block.margin_bottom
    excess = need - room + _SAFETY
    if block_id in tried or excess <= 0:
        # its margins or a crop did not make it fit, or room is not what it lacks (the
        # notes its text would bring to the page take it): the text goes before it
        if block_id not in fit.moves:
            fit.moves.append(block_id)
    elif 0 < excess <= block.margin_bottom + (_margin_top(block) if heads else 0.0):
        fit.feet.append(block_id)
        if heads:
            fit.heads.append(block_id)
    elif (block.element_tag == "figure" and photo is not None and photo.height > excess
          and photo.width / (photo.height - excess) <= MAX_RATIO):
        fit.crops[block_id] = (round(photo.width, 2), round(photo.height - excess, 2))
    elif block_id not in fit.moves:
        fit.moves.append(block_id)


def _margin_top(block: Any) -> float:
    value = block.style["margin_top"]
    return float(value.value) if getattr(value, "unit", None) == "px" else 0.0


def _subhead_on_top(fit: Fit, column: Any) -> None:
    """A subhead heading a column (after the first of a page, where WeasyPrint keeps
    its top margin) is set without its top margin."""
    head = _in_flow(column)[:1]
    if (head and head[0].element_tag in _SUBHEADS and head[0].margin_top > EPS
            and head[0].element is not None and head[0].element.get("id")):
        fit.tops.append(head[0].element.get("id"))


def _columns_of(page: LaidPage, column: Any) -> tuple[Any, list[Any]]:
    """The multi-column box ``column`` belongs to on ``page``, and its columns there."""
    for box in descendants(page.root):
        children = getattr(box, "children", ())
        if any(c is column for c in children):
            return box, [c for c in children if getattr(c, "is_column", False)]
    return None, [column]


def _contents_picture(pages: list[LaidPage]) -> float | None:
    """The contents picture's height (mm) when it does not fit the first contents page:
    the room left there, or 0 (left out) under the minimum."""
    contents = [p for p in pages if p.kind == "contents"]
    if len(contents) < 2:
        return None
    first = contents[0]
    picture = next((b for p in contents[1:] for b in descendants(p.root)
                    if b.element is not None and b.element.get("id") == CONTENTS_PICTURE_ID
                    and b.element_tag == "figure"), None)
    if picture is None:
        return None
    lowest = max((b.position_y + b.margin_height() for b in first.inked()), default=first.top)
    photo = next((b for b in descendants(picture) if isinstance(b, boxes.ReplacedBox)), None)
    if photo is None:
        return None
    height = photo.height - (picture.margin_height() - (first.flow_bottom() - lowest)) - 2
    height_mm = height / _PX_PER_MM
    return round(height_mm, 1) if height_mm >= MIN_CONTENTS_PICTURE_MM else 0.0


# --- changing the HTML ------------------------------------------------------------------


def _element(html: str, block_id: str) -> tuple[int, int] | None:
    """(start, end) of the element with ``id="block_id"`` in ``html``."""
    at = html.find(f'id="{block_id}"')
    if at < 0:
        return None
    start = html.rindex("<", 0, at)
    return start, _end_of(html, start)


def _end_of(html: str, start: int) -> int:
    tag = re.match(r"<([a-zA-Z0-9]+)", html[start:])
    assert tag is not None
    name = tag[1]
    opening, closing = re.compile(rf"<{name}[\s>]"), f"</{name}>"
    depth, at = 0, start
    while True:
        next_open = opening.search(html, at)
        next_close = html.index(closing, at)
        if next_open is not None and next_open.start() < next_close:
            depth += 1
            at = next_open.end()
        else:
            depth -= 1
            at = next_close + len(closing)
            if depth == 0:
                return at


def _unmargined(html: str, block_id: str, top: bool, bottom: bool) -> str:
    span = _element(html, block_id)
    if span is None:
        return html
    start, _ = span
    tag = html.index(">", start)
    style = "; ".join(f"margin-{side}: 0" for side, yes in (("top", top), ("bottom", bottom))
                      if yes)
    return html[:tag] + f' style="{style}"' + html[tag:]


def _crop(html: str, block_id: str, size: tuple[float, float]) -> str:
    span = _element(html, block_id)
    if span is None:
        return html
    start, end = span
    width, height = size
    figure = html[start:end].replace(
        "<img ", f'<img style="width: {width}px; height: {height}px; object-fit: cover" ', 1)
    return html[:start] + figure + html[end:]


def _text_before(html: str, block_id: str) -> str:
    """The first text block after the block ``block_id`` (past other blocks kept
    whole, which keep their order) moved before it."""
    span = _element(html, block_id)
    if span is None:
        return html
    start, at = span
    for _ in range(_MAX_PASSED + 1):
        following = re.match(r"\s*<([a-zA-Z0-9]+)[\s>]", html[at:])
        if following is None:
            return html
        next_start = at + following.start(1) - 1
        next_end = _end_of(html, next_start)
        if following[1] in _TEXT_TAGS:
            last = not _LATER_TEXT.search(html, next_end, html.find("</article>", next_end))
            if last and not html.startswith(_MAY_TRAIL, start):
                return html  # the article's last text: a pull quote would trail it
            return (html[:start] + html[next_start:next_end] + "\n" + html[start:at]
                    + html[next_end:])
        if following[1] not in _KEPT_TAGS:
            return html
        at = next_end
    return html


def _contents_picture_height(html: str, height_mm: float) -> str:
    span = _element(html, CONTENTS_PICTURE_ID)
    if span is None:
        return html
    start, end = span
    if height_mm <= 0:
        return html[:start] + html[end:]
    figure = html[start:end].replace("<img ", f'<img style="height: {height_mm}mm" ', 1)
    return html[:start] + figure + html[end:]
