"""Print page equivalence: page-break markers and the page list of the EPUB.

The print layout tells on which printed page each element starts, as a map
from element id (article slugs, heading ids, the per-block ids
``<slug>-b<n>`` of :class:`~publisher.render.html.HtmlOptions`) to the page
label (``publisher.render.pdf.page_map``).  Walking the EPUB's content
documents in reading order, :class:`Paginator` puts a
``<span epub:type="pagebreak" role="doc-pagebreak">`` before the first element
that starts on a page not yet marked, and always one at the start of each
article, so an article's first marker is the page the print edition starts
it on.  Each page appears once in the nav's ``page-list``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from lxml import etree

XHTML = "http://www.w3.org/1999/xhtml"
EPUB = "http://www.idpf.org/2007/ops"
# Markers are phrasing content: only put them where flow content may stand.
_FLOW_PARENTS = {f"{{{XHTML}}}{tag}" for tag in
                 ("body", "section", "article", "div", "header", "main", "blockquote")}


@dataclass(frozen=True)
class PageTarget:
    """One entry of the page list: page ``label`` starts at ``href``."""

    label: str
    href: str


def marker_id(label: str) -> str:
    """An XML id for the marker of page ``label`` (labels may be ``iv`` or ``C2``)."""
    return "page-" + re.sub(r"[^A-Za-z0-9_.-]", "-", label)


@dataclass
class Paginator:
    """Inserts page-break markers document by document, in reading order.

    ``starts`` are the ids (article slugs) where a marker is always set, even
    when the page was already marked in the document before.
    """

    page_map: Mapping[str, str]
    starts: Collection[str] = ()
    targets: list[PageTarget] = field(default_factory=list)
    _marked: set[str] = field(default_factory=set)
    _ids: set[str] = field(default_factory=set)
    _current: str | None = None

    def paginate(self, document: etree._Element, file_name: str) -> int:
        """Insert markers into ``document`` (an XHTML tree); return how many."""
        inserted = 0
        for element in list(document.iter(f"{{{XHTML}}}*")):
            ident = element.get("id")
            if ident is None or ident not in self.page_map:
                continue
            parent = element.getparent()
            if parent is None or parent.tag not in _FLOW_PARENTS:
                continue
            label = self.page_map[ident]
            forced = ident in self.starts
            if label in self._marked and not forced:
                self._current = label
                continue
            if label == self._current and not forced:
                continue
            element.addprevious(self._marker(parent, label, file_name))
            inserted += 1
            self._current = label
        return inserted

    def _marker(self, parent: etree._Element, label: str, file_name: str) -> etree._Element:
        ident = marker_id(label)
        n = 1
        while ident in self._ids:  # an article starting mid-page: a second marker
            n += 1
            ident = f"{marker_id(label)}-{n}"
        self._ids.add(ident)
        if label not in self._marked:
            self._marked.add(label)
            self.targets.append(PageTarget(label, f"{file_name}#{ident}"))
        # Made inside the parent so it uses the document's namespace declarations.
        span = etree.SubElement(parent, f"{{{XHTML}}}span")
        span.set(f"{{{EPUB}}}type", "pagebreak")
        span.set("role", "doc-pagebreak")
        span.set("id", ident)
        span.set("aria-label", label)
        span.tail = "\n"
        return span
