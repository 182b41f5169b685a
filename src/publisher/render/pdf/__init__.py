"""The print-ready PDF and the reader's PDF, from one layout of ``layouts/print/``
(:mod:`.renderer`); the print layout the EPUB follows."""

from __future__ import annotations

from publisher.render.base import Format, OutputName

PDF = Format(
    name="pdf",
    renderer="publisher.render.pdf.renderer:PdfRenderer",
    layouts=("print",),
    outputs=(
        OutputName("print", "{stem}-{month}-print.pdf"),  # for the printer
        OutputName("reader", "{stem}-{month}.pdf"),  # for readers: the site's download
    ),
    glyph_check=True,
    lays_out_print=True,
)
