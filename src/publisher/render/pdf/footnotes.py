"""The footnote area's height, laid out once for each set of notes on a page.

WeasyPrint 70 lays the whole footnote area out again each time a note is added to a
page, taken off it or carried to the next (``LayoutContext._update_footnote_area``),
and a multi-column article lays its columns out several times while it balances and
breaks them: with k notes on a page that is k areas of up to k notes, for every try.
Sixty notes in one article took 40 s to lay out, two hundred over ten minutes.

What that layout is for is the area's height and whether its last note overflows it;
the area itself is laid out again, for good, when the page is finished
(``layout/page.py``). Both depend only on the page's area and the notes in it, in
order, so :func:`cached_footnote_areas` keeps them for each such set, for the
document being laid out, and WeasyPrint's own bookkeeping of the page's bottom runs
as it did. The method is replaced by one doing the same steps, found by its exact
source: another WeasyPrint version fails loudly (:class:`RuntimeError`).
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
from collections.abc import Iterator
from math import inf
from typing import Any

from weasyprint.formatting_structure import build
from weasyprint.layout import LayoutContext, block


def _update_footnote_area(self: Any) -> bool:
    """WeasyPrint's ``LayoutContext._update_footnote_area``, with the area's layout
    (its height and overflow) kept per page area and notes."""
    area = self.current_footnote_area
    if area.height != "auto" and not self.in_column:
        self.page_bottom += area.margin_height()
    area.children = self.current_page_footnotes
    if not area.children:
        area.height = 0
        if not self.in_column:
            self.page_bottom -= area.margin_height()
        return False
    cache: dict[tuple[Any, ...], tuple[float, float, bool]] = self.__dict__.setdefault(
        "_publisher_footnote_areas", {})
    key = (area, *area.children)
    if key not in cache:
        laid = build.create_anonymous_boxes(area.deepcopy())
        laid = block.block_level_layout(self, laid, -inf, None, area.page)[0]
        last = laid.children[-1]
        last_bottom = last.position_y + last.margin_height() - last.margin_bottom
        area_bottom = laid.position_y + laid.margin_height() - laid.margin_bottom
        cache[key] = (laid.height, laid.margin_height(), last_bottom > area_bottom)
    area.height, margin_height, overflow = cache[key]
    if not self.in_column:
        self.page_bottom -= margin_height
    return overflow


#: sha256 of WeasyPrint 70's method without its white space: the steps the
#: replacement repeats.
_EXPECTED = "18cd3e92040a31df863eadcbc021736124c9a426f3538fe729a9e138df27d1b3"


def _check() -> None:
    found = "".join(inspect.getsource(LayoutContext._update_footnote_area).split())
    if hashlib.sha256(found.encode()).hexdigest() != _EXPECTED:
        import weasyprint

        raise RuntimeError(
            "publisher.render.pdf.footnotes: WeasyPrint's _update_footnote_area has "
            f"changed (WeasyPrint {weasyprint.__version__}); check that the replacement "
            "still does what it does, and update or remove it")


@contextlib.contextmanager
def cached_footnote_areas() -> Iterator[None]:
    """While laying out: each page's footnote area laid out once per set of notes."""
    _check()
    original = LayoutContext._update_footnote_area
    LayoutContext._update_footnote_area = _update_footnote_area  # type: ignore[method-assign]
    try:
        yield
    finally:
        LayoutContext._update_footnote_area = original  # type: ignore[method-assign]
