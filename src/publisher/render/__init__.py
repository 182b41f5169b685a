"""Renderers: one package per format, each turning an :class:`~publisher.model.Issue`
into output bytes through its layouts.  They never write files: ``build`` does.

:data:`FORMATS` is the writer table (as Pandoc's ``Writers.hs``): every format's
declaration (:class:`~publisher.render.base.Format`), in build order.  A renderer is
imported only when its format renders, so that a build of one format does not pay
for the libraries of another.  A new format is a package declaring its ``Format``
and one line here.
"""

from __future__ import annotations

from publisher.render.base import BuildContext, Format, LaysOutPrint, PrintLayout, Renderer
from publisher.render.email import EMAIL
from publisher.render.epub import EPUB
from publisher.render.pdf import PDF

#: format name -> its declaration, in build order
FORMATS: dict[str, Format] = {f.name: f for f in (
    PDF,  # print and reader PDFs; lays out the print pages
    EPUB,  # EPUB 3, following the print pages
    EMAIL,  # the HTML email
)}


def formats() -> tuple[str, ...]:
    """The formats this version can build, in build order."""
    return tuple(FORMATS)


def declared(name: str) -> Format:
    """The declaration of format ``name``."""
    return FORMATS[name]


def renderer(name: str) -> Renderer:
    return FORMATS[name].load()


def print_format() -> Format:
    """The format that lays out the print pages (the others follow its layout)."""
    found = [f for f in FORMATS.values() if f.lays_out_print]
    if len(found) != 1:
        raise LookupError("one format lays out the print pages; declared so: "
                          + (", ".join(f.name for f in found) or "none"))
    return found[0]


def print_layout(context: BuildContext) -> PrintLayout:
    """Lay out the print pages of ``context.issue``, by the format that does: what the
    build hands the formats that follow them (``context.print_layout``)."""
    name = print_format().name
    provider = renderer(name)
    if not isinstance(provider, LaysOutPrint):
        raise TypeError(f"the {name} format lays out the print pages, but its renderer "
                        f"{type(provider).__name__} has no print_layout()")
    return provider.print_layout(context)
