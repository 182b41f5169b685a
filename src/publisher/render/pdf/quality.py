"""The page-quality report: what an art director looks for on every printed page.

Measured on the laid-out document (WeasyPrint's :class:`~weasyprint.Document`, the
same one both PDFs are written from: its page boxes, line boxes, positions and text),
not on the PDF: the layout knows which box is a heading, a footnote call or its
note, which lines belong to one paragraph and how much space justification added to
each word space, where text extraction from the PDF would have to guess.

For every page:

``blank``
    the share of the type area (the page's content box, less the footnote area
    when the page has notes) left empty below the last thing set in each column
    (the page is read as two columns, its halves; a full-width block fills both);
``stretched``
    justified lines whose word spaces are more than twice the font's own space
    (the space's advance plus ``word-spacing``, read from the font file);
``notes_off``
    footnotes whose note is not on the page of its call (or nowhere);
``stranded``
    headings (``h1``–``h6``) with nothing after them in their column on the page;
``widows``, ``orphans``
    a paragraph's last line alone at the top of a column or page, its first line
    alone at the foot of one;
``low_dpi``
    images under 300 dpi at their placed size (:mod:`.preflight`);
``unbalanced``
    on an article's last page, how many lines the columns of its text end apart
    (``column-fill: balance``; 0 where a figure, pull quote or table kept whole is in
    them, which balancing cannot split).

Each page also says what it belongs to (``part``: the id of the top-level section or
article, ``kind``) and whether it is that part's last page; the goals
(:func:`failures`) leave the blank of a part's last page and of the covers alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from weasyprint.formatting_structure import boxes

from publisher.render.fontfaces import FontFace
from publisher.render.pdf.justify import MAX_SPACE_RATIO, faces_of, normal_space
from publisher.render.pdf.preflight import MIN_DPI, descendants, placements

#: The goals of the report: at most this share of a page's type area blank (except a
#: part's last page), and none of the rest.
MAX_BLANK = 0.10
#: Pages whose blank is not a fault: the covers and the padding before the back cover.
FREE_KINDS = frozenset({"cover", "back-cover", "pad"})
#: An article's last columns end at most this many lines apart (widows and orphans of
#: two lines can keep balancing from coming closer).
MAX_UNBALANCED = 2
_KEPT_WHOLE_TAGS = ("figure", "aside", "table")
EPS = 0.5  # CSS px


@dataclass
class PageReport:
    page: int  # 1-based, as printed
    part: str  # id of the top-level section or article the page belongs to
    kind: str  # its class: article, contents, ticker, archive, colophon, cover...
    last_of_part: bool
    blank: float  # 0..1
    stretched: list[str] = field(default_factory=list)  # the lines' text
    notes_off: list[str] = field(default_factory=list)  # the notes' ids
    stranded: list[str] = field(default_factory=list)  # the headings' text
    widows: list[str] = field(default_factory=list)  # the lines' text
    orphans: list[str] = field(default_factory=list)
    low_dpi: list[str] = field(default_factory=list)  # the images' sources
    unbalanced: int = 0  # lines between the ends of an article's last columns


@dataclass
class Report:
    pages: list[PageReport]

    def to_json(self) -> str:
        return json.dumps({"pages": [asdict(p) for p in self.pages],
                           "summary": self.summary(), "failures": failures(self)},
                          indent=1, ensure_ascii=False)

    def summary(self) -> dict[str, Any]:
        counted = [p for p in self.pages if p.kind not in FREE_KINDS]
        return {
            "pages": len(self.pages),
            "blank_pages": sum(1 for p in counted if not p.last_of_part and p.blank > MAX_BLANK),
            "max_blank": round(max((p.blank for p in counted if not p.last_of_part),
                                   default=0.0), 3),
            "stretched": sum(len(p.stretched) for p in self.pages),
            "notes_off": sum(len(p.notes_off) for p in self.pages),
            "stranded": sum(len(p.stranded) for p in self.pages),
            "widows": sum(len(p.widows) for p in self.pages),
            "orphans": sum(len(p.orphans) for p in self.pages),
            "low_dpi": sum(len(p.low_dpi) for p in self.pages),
            "max_unbalanced": max((p.unbalanced for p in self.pages), default=0),
        }

    def table(self) -> str:
        head = f"{'page':>4}  {'part':<28} {'blank':>6}  str  note  head  wid  orph  dpi"
        lines = [head, "-" * len(head)]
        for p in self.pages:
            flag = "" if p.kind in FREE_KINDS or p.last_of_part or p.blank <= MAX_BLANK else " *"
            mark = "." if p.last_of_part else " "
            lines.append(f"{p.page:>4}  {(p.part + mark)[:28]:<28} {p.blank:>6.1%}  "
                         f"{len(p.stretched):>3}  {len(p.notes_off):>4}  {len(p.stranded):>4}  "
                         f"{len(p.widows):>3}  {len(p.orphans):>4}  {len(p.low_dpi):>3}{flag}")
        s = self.summary()
        lines.append("-" * len(head))
        lines.append(f"{s['pages']} pages; over {MAX_BLANK:.0%} blank (not a part's last, "
                     f"marked *): {s['blank_pages']} (worst {s['max_blank']:.1%}); stretched "
                     f"lines {s['stretched']}; notes off their page {s['notes_off']}; "
                     f"stranded headings {s['stranded']}; widows {s['widows']}; orphans "
                     f"{s['orphans']}; images under {MIN_DPI} dpi {s['low_dpi']}; an "
                     f"article's last columns apart by {s['max_unbalanced']} lines at most")
        return "\n".join(lines)


def failures(report: Report) -> list[str]:
    """What misses the goals, one line each (empty: every goal holds). Low-resolution
    images are reported but are not a layout goal (the preflight warns about them)."""
    found = []
    for p in report.pages:
        where = f"page {p.page} ({p.part})"
        if p.kind not in FREE_KINDS and not p.last_of_part and p.blank > MAX_BLANK:
            found.append(f"{where}: {p.blank:.0%} of the type area blank")
        found += [f"{where}: stretched line: {t!r}" for t in p.stretched]
        found += [f"{where}: note {n} not on its call's page" for n in p.notes_off]
        found += [f"{where}: heading last in its column: {t!r}" for t in p.stranded]
        found += [f"{where}: widow: {t!r}" for t in p.widows]
        found += [f"{where}: orphan: {t!r}" for t in p.orphans]
        if p.unbalanced > MAX_UNBALANCED:
            found.append(f"{where}: last columns unbalanced by {p.unbalanced} lines")
    return found


# --- measuring ------------------------------------------------------------------------


def measure(document: Any, layouts: Path) -> Report:
    """The report of a laid-out print document (:func:`.renderer.print_document`)."""
    faces = faces_of(layouts)
    pages = [LaidPage(n, page._page_box) for n, page in enumerate(document.pages, 1)]
    reports = [PageReport(p.number, p.part, p.kind, False, p.blank()) for p in pages]
    for i, (page, report) in enumerate(zip(pages, reports, strict=True)):
        following = pages[i + 1].parts if i + 1 < len(pages) else []
        report.last_of_part = page.part not in following
        report.stretched = [t for line in page.lines() if (t := _stretched(line, faces))]
        report.stranded = page.stranded_headings()
        if page.kind == "article" and report.last_of_part:
            report.unbalanced = page.unbalanced()
    _notes(pages, reports)
    _widows_and_orphans(pages, reports)
    for placed in placements(document):
        if placed.dpi < MIN_DPI - 0.5:
            reports[placed.page - 1].low_dpi.append(placed.src)
    return Report(reports)


def write(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.to_json() + "\n", encoding="utf-8")


def _walk(box: Any) -> Iterator[Any]:
    return descendants(box)


def _text(box: Any) -> str:
    return " ".join("".join(b.text for b in _walk(box) if isinstance(b, boxes.TextBox)).split())


def _inked(box: Any) -> bool:
    """Whether ``box`` puts something on the page by itself."""
    if isinstance(box, boxes.LineBox):
        return bool(_text(box))
    if isinstance(box, boxes.ReplacedBox):
        return box.width > 0 and box.height > 0
    if isinstance(box, boxes.TableRowBox):
        return False  # its cells' lines count
    style = box.style
    if style["background_color"].alpha > 0 and box.height > EPS:
        return True
    return any(style[f"border_{side}_width"] > 0 and style[f"border_{side}_style"] != "none"
               for side in ("top", "bottom"))


class LaidPage:
    """A laid-out page's type area, as the report, the fitting and the house items read it."""

    def __init__(self, number: int, page_box: Any) -> None:
        self.number = number
        self.box = page_box
        self.left = page_box.content_box_x()
        self.top = page_box.content_box_y()
        self.width = page_box.width
        self.bottom = self.top + page_box.height
        self.root = page_box.children[0]
        self.notes = [c for c in page_box.children if isinstance(c, boxes.FootnoteAreaBox)
                      and c.children]
        body = next((c for c in self.root.children if c.element_tag == "body"), self.root)
        self.parts: list[str] = []
        self.kinds: dict[str, str] = {}
        for child in body.children:
            element = child.element
            if element is None or not isinstance(child, boxes.BlockLevelBox):
                continue
            part = element.get("id") or element.get("class") or element.tag
            self.parts.append(part)
            self.kinds[part] = (element.get("class") or element.tag).split()[0]
        self.part = self.parts[-1] if self.parts else "(empty)"
        self.kind = self.kinds.get(self.part, "")

    def flow_bottom(self) -> float:
        """Where the flow may end: above the footnote area, when there is one."""
        if self.notes:
            return min(self.bottom, min(area.position_y for area in self.notes))
        return self.bottom

    def column(self, box: Any) -> int | None:
        """0 or 1 for a box in one half of the type area, None for one across both."""
        middle = self.left + self.width / 2
        x0, x1 = box.position_x, box.position_x + box.margin_width()
        if x1 <= middle + EPS:
            return 0
        if x0 >= middle - EPS:
            return 1
        return None

    def inked(self) -> Iterator[Any]:
        for box in _walk(self.root):
            if _inked(box) and box.style["position"] not in ("absolute", "fixed"):
                yield box

    def blank(self) -> float:
        if self.kind in FREE_KINDS:
            return 0.0
        ends = [self.top, self.top]
        for box in self.inked():
            bottom = box.position_y + box.margin_height()
            column = self.column(box)
            for c in (0, 1) if column is None else (column,):
                ends[c] = max(ends[c], bottom)
        floor = self.flow_bottom()
        area = 2 * (self.bottom - self.top)
        if area <= 0:
            return 0.0
        empty = sum(max(0.0, floor - min(end, floor)) for end in ends)
        return round(empty / area, 4)

    def unbalanced(self) -> int:
        """Lines between the ends of the last multi-column box's columns on the page
        (0 with a block kept whole in them, or fewer than two columns)."""
        columns: list[Any] = []
        for box in _walk(self.root):
            found = [c for c in getattr(box, "children", ()) if getattr(c, "is_column", False)]
            if found:
                columns = found
        if len(columns) < 2:
            return 0
        ends, line = [], 0.0
        for column in columns:
            flow = [c for c in column.children if c.is_in_normal_flow()
                    and c.margin_height() > EPS]
            if any(c.element_tag in _KEPT_WHOLE_TAGS for c in flow):
                return 0
            ends.append(flow[-1].position_y + flow[-1].margin_height() - flow[-1].margin_bottom
                        if flow else column.position_y)
            line = line or next((b.height for c in flow for b in _walk(c)
                                 if isinstance(b, boxes.LineBox)), 0.0)
        if line <= 0:
            return 0
        return round((max(ends) - min(ends)) / line)

    def lines(self) -> Iterator[Any]:
        for box in _walk(self.root):
            if isinstance(box, boxes.LineBox):
                yield box

    def stranded_headings(self) -> list[str]:
        """Headings with nothing inked below them in their column, on a page that
        continues (a heading closing a part's last page is no stranded heading)."""
        if self.kind in FREE_KINDS:  # the covers place their headings absolutely
            return []
        inked = [(b, self.column(b), b.position_y) for b in self.inked()]
        found = []
        for box in _walk(self.root):
            if box.element_tag not in ("h1", "h2", "h3", "h4", "h5", "h6"):
                continue
            if not isinstance(box, boxes.BlockBox) or not _text(box):
                continue
            bottom = box.position_y + box.height  # its own lines, not its margin
            column = self.column(box)
            below = any(y >= bottom - EPS and (c is None or column is None or c == column)
                        and not _inside(b, box) for b, c, y in inked)
            if not below:
                found.append(_text(box))
        return found


def _inside(box: Any, container: Any) -> bool:
    return any(b is box for b in _walk(container))


# --- stretched lines -----------------------------------------------------------------


def _stretched(line: Any, faces: list[FontFace]) -> str | None:
    for box in _walk(line):
        if not isinstance(box, boxes.TextBox) or not box.justification_spacing:
            continue
        if " " not in box.text and "\u00a0" not in box.text:
            continue  # no space of its own widened (a footnote call, a word in italics)
        normal = normal_space(box, faces)
        if normal > 0 and normal + box.justification_spacing > MAX_SPACE_RATIO * normal:
            return _text(line)
    return None


# --- notes, widows and orphans ---------------------------------------------------------


def _notes(pages: list[LaidPage], reports: list[PageReport]) -> None:
    calls: dict[int, tuple[int, str]] = {}  # id(element) -> (page index, name)
    bodies: dict[int, int] = {}
    for i, page in enumerate(pages):
        for box in _walk(page.root):
            if box.element_tag.endswith("::footnote-call") and box.element is not None:
                name = box.element.get("id") or _text(box)
                calls.setdefault(id(box.element), (i, name))
        for area in page.notes:
            for box in _walk(area):
                if box.element is not None and not box.element_tag.startswith(
                        ("::", "span::")) and "footnote" in (box.element.get("class") or ""):
                    bodies.setdefault(id(box.element), i)
    for key, (i, name) in calls.items():
        if bodies.get(key) != i:
            reports[i].notes_off.append(name)


_PARAGRAPHS = ("p", "li", "dd", "blockquote", "figcaption", "td", "th")


def _widows_and_orphans(pages: list[LaidPage], reports: list[PageReport]) -> None:
    """Per paragraph, its lines in order with (page, column): a fragment of one line
    at a paragraph's start is an orphan, at its end a widow."""
    fragments: dict[int, list[list[Any]]] = {}  # id(element) -> [[page, col, n, text]]
    order: list[int] = []
    for i, page in enumerate(pages):
        if page.kind not in ("article", "contents", "ticker", "archive", "colophon"):
            continue
        for box in _walk(page.root):
            if not isinstance(box, boxes.BlockContainerBox) or box.element is None:
                continue
            if box.element_tag not in _PARAGRAPHS or box.style["position"] == "absolute":
                continue
            lines = [c for c in box.children if isinstance(c, boxes.LineBox) and _text(c)]
            if not lines:
                continue
            key = id(box.element)
            if key not in fragments:
                fragments[key] = []
                order.append(key)
            column = page.column(box)
            frags = fragments[key]
            if frags and frags[-1][0] == i and frags[-1][1] == column:
                frags[-1][2] += len(lines)
                frags[-1][4] = _text(lines[-1])
            else:
                frags.append([i, column, len(lines), _text(lines[0]), _text(lines[-1])])
    for key in order:
        frags = fragments[key]
        if len(frags) < 2:
            continue
        first, last = frags[0], frags[-1]
        if first[2] == 1:
            reports[first[0]].orphans.append(first[3])
        if last[2] == 1:
            reports[last[0]].widows.append(last[4])

