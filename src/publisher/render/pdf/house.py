"""House items: what the layout sets in a large blank at the end of an article.

An article whose last page ends with a band of at least :data:`MIN_BAND_MM` left empty
below its columns gets one house item there, as a magazine fills a short page with its
own notices: an earlier issue from the archive, a ticker item, or the call to read and
subscribe online, taken in turn from those the issue has (the n-th article so filled
takes the n-th kind, and the n-th entry of its kind), so one issue shows several. The
band is measured on the laid-out pages (:mod:`.quality`), the issue is laid out again with
the items, and an item that would have pushed its article onto another page is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from publisher import model as m
from publisher.render.pdf.quality import _Page

#: The empty band, below the longest column of an article's last page, worth a house item.
MIN_BAND_MM = 55.0
_PX_PER_MM = 96 / 25.4


@dataclass(frozen=True)
class HouseItem:
    kind: str  # archive, ticker, subscribe
    kicker: str
    title: str
    text: str
    url: str | None


def bands(document: Any) -> dict[str, float]:
    """Article id -> the empty band (mm) below the columns of its last page."""
    found: dict[str, float] = {}
    pages = [_Page(n, page._page_box) for n, page in enumerate(document.pages, 1)]
    for i, page in enumerate(pages):
        following = pages[i + 1].parts if i + 1 < len(pages) else []
        if page.kind != "article" or page.part in following:
            continue
        lowest = page.top
        for box in page.inked():
            lowest = max(lowest, box.position_y + box.margin_height())
        found[page.part] = max(0.0, page.flow_bottom() - lowest) / _PX_PER_MM
    return found


def choose(issue: m.Issue, bands_mm: dict[str, float]) -> dict[str, HouseItem]:
    """Article id -> its house item, for the articles whose band is large enough."""
    makers = []
    if issue.archive.entries:
        makers.append(lambda n: _archive(issue.archive.entries[n % len(issue.archive.entries)]))
    if issue.ticker:
        makers.append(lambda n: _ticker(issue.ticker[n % len(issue.ticker)]))
    makers.append(lambda n: _subscribe(issue))
    chosen: dict[str, HouseItem] = {}
    for article in issue.articles:
        if bands_mm.get(article.anchor, 0.0) >= MIN_BAND_MM:
            n = len(chosen)
            chosen[article.anchor] = makers[n % len(makers)](n // len(makers))
    return chosen


def _archive(entry: m.ArchiveEntry) -> HouseItem:
    return HouseItem("archive", "From the archive", entry.cover_story,
                     f"{entry.label}: the whole issue is free to download.", entry.pdf_url)


def _ticker(item: m.TickerItem) -> HouseItem:
    return HouseItem("ticker", "News ticker", item.headline,
                     "More news at the back of this issue.", item.link)


def _subscribe(issue: m.Issue) -> HouseItem:
    pub = issue.publication
    return HouseItem("subscribe", "Read it first", f"{pub.title} by email, every month",
                     "Every issue online, and the next one in your inbox.",
                     pub.issue_url(issue.month))
