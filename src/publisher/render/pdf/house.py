"""House items: what the layout sets in a large blank at the end of an article.

An article whose last page ends with a band of at least :data:`MIN_BAND_MM` left empty
below its columns gets one house item there, as a magazine fills a short page with its
own notices: an earlier issue from the archive, a ticker item, a pull quote from another
article of the issue (with the page it is on), or the call to read and subscribe
online, taken in turn from those the issue has (the n-th article so filled takes the
n-th kind, and the n-th entry of its kind; a kind with nothing for that article, as a
pull quote from itself, passes to the next), so one issue shows several. The
band is measured on the laid-out pages (:mod:`.quality`), the issue is laid out again with
the items, and an item that would have pushed its article onto another page is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from publisher import model as m
from publisher.render.pdf.quality import LaidPage

#: The empty band, below the longest column of an article's last page, worth a house item.
MIN_BAND_MM = 55.0
_PX_PER_MM = 96 / 25.4


@dataclass(frozen=True)
class HouseItem:
    kind: str  # archive, ticker, quote, subscribe
    kicker: str
    title: str
    text: str
    url: str | None
    target: str | None = None  # the id of the page the item refers to (its page printed)


def bands(document: Any) -> dict[str, float]:
    """Article id -> the empty band (mm) below the columns of its last page."""
    found: dict[str, float] = {}
    pages = [LaidPage(n, page._page_box) for n, page in enumerate(document.pages, 1)]
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
    makers: list[Callable[[int, m.Article], HouseItem | None]] = []
    if issue.archive.entries:
        entries = issue.archive.entries
        makers.append(lambda n, _: _archive(entries[n % len(entries)]))
    if issue.ticker:
        makers.append(lambda n, _: _ticker(issue.ticker[n % len(issue.ticker)]))
    quotes = [(a, b) for a in issue.articles for b in a.body if isinstance(b, m.PullQuote)]
    if quotes:
        makers.append(lambda n, article: _quote(quotes, n, article))
    makers.append(lambda n, _: _subscribe(issue))
    chosen: dict[str, HouseItem] = {}
    for article in issue.articles:
        if bands_mm.get(article.anchor, 0.0) >= MIN_BAND_MM:
            n = len(chosen)
            for k in range(len(makers)):  # the subscribe call always has something
                item = makers[(n + k) % len(makers)](n // len(makers), article)
                if item is not None:
                    chosen[article.anchor] = item
                    break
    return chosen


def _archive(entry: m.ArchiveEntry) -> HouseItem:
    return HouseItem("archive", "From the archive", entry.cover_story,
                     f"{entry.label}: the whole issue is free to download.", entry.pdf_url)


def _ticker(item: m.TickerItem) -> HouseItem:
    return HouseItem("ticker", "News ticker", item.headline,
                     "More news at the back of this issue.", item.link)


def _quote(quotes: list[tuple[m.Article, m.PullQuote]], n: int,
           article: m.Article) -> HouseItem | None:
    """The n-th pull quote of the other articles, or None when only ``article`` has one."""
    others = [(a, q) for a, q in quotes if a.anchor != article.anchor]
    if not others:
        return None
    source, quote = others[n % len(others)]
    by = f"{quote.attribution}, in" if quote.attribution else "In"
    # the layout follows the text with the page of the article (its target)
    return HouseItem("quote", "Also in this issue", m.plain_text(quote.children),
                     f"{by} {source.title},", None, source.anchor)


def _subscribe(issue: m.Issue) -> HouseItem:
    pub = issue.publication
    return HouseItem("subscribe", "Read it first", f"{pub.title} by email, every month",
                     "Every issue online, and the next one in your inbox.",
                     pub.issue_url(issue.month))
