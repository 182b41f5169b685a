"""The glyph check of the print layout: :mod:`publisher.render.glyphs` on the text it sets.

``check`` and the build check the issue's own text first
(:func:`publisher.render.glyphs.check_issue_glyphs`); here the layout's HTML, its template
strings and stylesheet ``content`` included, goes through the same function.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from publisher.errors import SourceErrors
from publisher.render.glyphs import glyph_errors, missing_glyphs


def check_glyphs(text: str, font_dir: Path, sources: Iterable[Path], fallback: Path) -> None:
    """Raise :class:`SourceErrors` naming every character of ``text`` without a glyph.

    Each is blamed on the first of ``sources`` that contains it (else on
    ``fallback``, the layout), with its line.
    """
    errors = glyph_errors(missing_glyphs(text, font_dir), font_dir, sources, fallback)
    if errors:
        raise SourceErrors(errors)
