"""Print page equivalence: page-break markers and the page list of the EPUB.

The print layout tells on which printed page each element starts, as a map
from element id (article slugs, heading ids, the per-block ids
``<slug>-b<n>`` of :class:`~publisher.render.html.HtmlOptions`) to the page
label (:attr:`PrintLayout.pages <publisher.render.base.PrintLayout>`, which the
build hands the EPUB).  Walking the EPUB's content
documents in reading order, :class:`Paginator` puts a
``<span epub:type="pagebreak" role="doc-pagebreak">`` before the first element
that starts on a page not yet marked.  Each page break is marked once, where
the page begins, and listed once in the nav's ``page-list`` (DAISY Ace flags
a marker the list lacks): an article that starts on a page begun by the one
before it has no marker of its own for that page.  The print layout starts
every article on a new page, so there its first marker is its first page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
    """Inserts page-break markers document by document, in reading order."""

    page_map: Mapping[str, str]
    targets: list[PageTarget] = field(default_factory=list)
    _marked: set[str] = field(default_factory=set)
    _ids: set[str] = field(default_factory=set)

    def paginate(self, document: etree._Element, file_name: str) -> None:
        """Insert markers into ``document`` (an XHTML tree)."""
        for element in list(document.iter(f"{{{XHTML}}}*")):
            ident = element.get("id")
            if ident is None or ident not in self.page_map:
                continue
            parent = element.getparent()
            if parent is None or parent.tag not in _FLOW_PARENTS:
                continue
            label = self.page_map[ident]
            if label in self._marked:
                continue
            element.addprevious(self._marker(parent, label, file_name))

    def _marker(self, parent: etree._Element, label: str, file_name: str) -> etree._Element:
        ident = marker_id(label)
        n = 1
        while ident in self._ids:  # two labels that make the same id ("4a", "4-a")
            n += 1
            ident = f"{marker_id(label)}-{n}"
        self._ids.add(ident)
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
