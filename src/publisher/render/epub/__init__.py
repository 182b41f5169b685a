"""The EPUB 3 (:mod:`.renderer`), following the print pages: its page list gives the
printed page numbers."""

from __future__ import annotations

from publisher.render.base import Format, OutputName

EPUB = Format(
    name="epub",
    renderer="publisher.render.epub.renderer:EpubRenderer",
    layouts=("epub", "print"),  # the page list follows the print layout
    outputs=(OutputName("book", "{stem}-{month}.epub"),),
    glyph_check=True,  # the cover is set in the layout's fonts
    follows_print=True,
)
