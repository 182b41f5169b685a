"""Preflight: the effective resolution of every image at the size it is placed.

The printer needs about 300 dpi at the printed size.  WeasyPrint knows where each
``<img>`` landed; the effective resolution is the image's pixels over its printed
inches along the worse axis (with ``object-fit: cover`` the image is scaled to
fill the box, so part of it is cut off and the scale is the larger one).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from weasyprint.formatting_structure import boxes
from weasyprint.images import RasterImage
from weasyprint.layout.absolute import AbsolutePlaceholder

log = logging.getLogger(__name__)

CSS_PX_PER_INCH = 96
MIN_DPI = 300


@dataclass(frozen=True)
class Placement:
    src: str
    page: int  # 1-based
    width_px: int
    height_px: int
    width_in: float
    height_in: float
    dpi: float


def descendants(box: Any) -> Iterator[Any]:
    """``box`` and every box inside it, those positioned absolutely too (WeasyPrint
    leaves an ``AbsolutePlaceholder`` in their place, which is no box)."""
    if isinstance(box, AbsolutePlaceholder):
        box = box._box
    yield box
    for child in getattr(box, "children", ()):
        yield from descendants(child)


def placements(document: Any) -> list[Placement]:
    """Every raster image of the document, with its placed size and effective dpi."""
    found = []
    for number, page in enumerate(document.pages, 1):
        for box in descendants(page._page_box):
            if not isinstance(box, boxes.ReplacedBox):
                continue
            image = box.replacement
            if not isinstance(image, RasterImage) or box.width <= 0 or box.height <= 0:
                continue
            sx = box.width / image.width
            sy = box.height / image.height
            fit = box.style["object_fit"]
            scale = min(sx, sy) if fit in ("contain", "scale-down") else max(sx, sy)
            element = box.element
            src = "" if element is None else element.get("data-source") or element.get("src", "")
            found.append(Placement(
                src=src if not src.startswith("data:") else "(embedded image)", page=number,
                width_px=image.width, height_px=image.height,
                width_in=box.width / CSS_PX_PER_INCH, height_in=box.height / CSS_PX_PER_INCH,
                dpi=CSS_PX_PER_INCH / scale))
    return found


def preflight(document: Any, minimum: int = MIN_DPI) -> list[Placement]:
    """Warn about (and return) every image under ``minimum`` dpi at its placed size."""
    low = [p for p in placements(document) if p.dpi < minimum - 0.5]
    for p in low:
        log.warning("preflight: image '%s' on page %d is %d dpi at its placed size "
                    "(%dx%d px over %.1fx%.1f in); print needs %d dpi", p.src, p.page,
                    round(p.dpi), p.width_px, p.height_px, p.width_in, p.height_in, minimum)
    return low
