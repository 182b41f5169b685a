"""Renderers: one per format, each turning an :class:`~publisher.model.Issue`
into output bytes through its layouts.  They never write files: ``build`` does.

:data:`RENDERERS` is the writer table (as Pandoc's ``Writers.hs``): format name
to a factory, imported lazily so that a build of one format does not pay for
the libraries of another.
"""

from __future__ import annotations

import importlib

from publisher.render.base import Renderer

# format name -> "module:Class"
RENDERERS: dict[str, str] = {
    "pdf": "publisher.render.pdf.renderer:PdfRenderer",  # print and reader PDFs
    "epub": "publisher.render.epub.renderer:EpubRenderer",  # EPUB 3, following the print pages
    "email": "publisher.render.email.renderer:EmailRenderer",  # the HTML email
}


def formats() -> tuple[str, ...]:
    """The formats this version can build, in build order."""
    return tuple(RENDERERS)


def renderer(name: str) -> Renderer:
    module_name, _, class_name = RENDERERS[name].partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)()
