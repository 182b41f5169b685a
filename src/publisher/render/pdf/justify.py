"""A limit to justification: no word space wider than twice the font's own space.

WeasyPrint breaks lines greedily and then spreads each justified line's spaces
evenly, however wide that makes them: in a narrow column, before a word that cannot
break (a URL, a long name, a word its hyphenation patterns do not split), a line's
spaces can grow to four times their width ("such      as      https://…"). A compositor
sets a maximum word space; past it, the line is left a little short instead. So
while the print layout is laid out, :func:`limited_justification` replaces WeasyPrint's
``justify_line`` with one that spreads the spaces up to :data:`MAX_SPACE_RATIO` times
the font's own space (its advance, read from the font file the layout declares, plus
``word-spacing``) and no further.  The page-quality report (:mod:`.quality`) measures
spaces with the same :func:`normal_space`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fontTools.ttLib import TTFont
from weasyprint.formatting_structure import boxes
from weasyprint.layout import inline

from publisher.render.fontfaces import FontFace, declared_faces

#: A word space is stretched when it is wider than this many of the font's own spaces.
MAX_SPACE_RATIO = 2.0
_HAIR = 0.01  # CSS px under the limit, so that rounding never crosses it


def faces_of(layouts: Path) -> list[FontFace]:
    return declared_faces(layouts / "fonts" / "fonts.css", layouts)


def normal_space(box: Any, faces: list[FontFace]) -> float:
    """The width, in CSS px, of an unjustified space of the text box ``box``."""
    style = box.style
    path = _face_for(tuple(faces), tuple(style["font_family"]), style["font_weight"],
                     style["font_style"] != "normal")
    letter = style["letter_spacing"]
    return (_space_of(path) * style["font_size"] + style["word_spacing"]
            + (letter if letter != "normal" else 0))


@contextlib.contextmanager
def limited_justification(layouts: Path) -> Iterator[None]:
    """While laying out: justified lines spread their spaces up to the limit only."""
    faces = faces_of(layouts)
    original = inline.justify_line

    def justify_line(context: Any, line: Any, extra_width: float) -> None:
        spaces = inline.count_expandable_spaces(line)
        if not spaces:
            return
        spacing = extra_width / spaces
        limits = [(MAX_SPACE_RATIO - 1) * normal - _HAIR for box in _spaced(line)
                  if (normal := normal_space(box, faces)) > 0]
        if limits:
            spacing = max(0.0, min(spacing, *limits))
        inline.add_word_spacing(context, line, spacing, 0)

    inline.justify_line = justify_line
    try:
        yield
    finally:
        inline.justify_line = original


def _spaced(line: Any) -> Iterator[Any]:
    """The text boxes of ``line`` with a space justification would widen."""
    stack = [line]
    while stack:
        box = stack.pop()
        if isinstance(box, boxes.TextBox):
            if " " in box.text or "\u00a0" in box.text:
                yield box
        else:
            stack.extend(getattr(box, "children", ()))


@functools.cache
def _face_for(faces: tuple[FontFace, ...], families: tuple[str, ...], weight: int,
              italic: bool) -> Path | None:
    for family in families:
        candidates = [f for f in faces if f.family == family]
        if candidates:
            best = min(candidates, key=lambda f: (f.italic != italic, abs(f.weight - weight)))
            return best.path
    return None


@functools.cache
def _space_of(path: Path | None) -> float:
    """The advance of the space of the font at ``path``, in ems."""
    if path is None:
        return 0.25
    with TTFont(path, lazy=True) as font:
        glyph = (font.getBestCmap() or {}).get(0x20)
        if glyph is None:
            return 0.25
        return font["hmtx"][glyph][0] / font["head"].unitsPerEm
