"""The layout's font files: which characters each one has a glyph for.

Read with fontTools from the font's ``cmap`` alone.  fontTools names every glyph
when it decodes a cmap, reading the ``post`` or ``CFF`` glyph names of the
whole font to do so; only the code points are wanted here, so the glyph order
is set to plain numbered names first, which makes reading a font's coverage
about three times faster (it is read on every build, for the glyph check and
the EPUB cover).
"""

from __future__ import annotations

import functools
from pathlib import Path

from fontTools.ttLib import TTFont

SUFFIXES = (".otf", ".ttf")


def codepoints(path: Path) -> frozenset[int]:
    """Every code point the font at ``path`` maps to a glyph."""
    stat = path.stat()
    return _codepoints(path, stat.st_mtime_ns, stat.st_size)


@functools.cache
def _codepoints(path: Path, mtime_ns: int, size: int) -> frozenset[int]:
    with TTFont(path, lazy=True) as font:
        font.setGlyphOrder([f"glyph{n}" for n in range(font["maxp"].numGlyphs)])
        return frozenset(font.getBestCmap() or ())


def font_files(font_dir: Path) -> list[Path]:
    """The font files under ``font_dir``, in a stable order."""
    return sorted(p for p in font_dir.rglob("*") if p.suffix.lower() in SUFFIXES)


def uncovered(points: set[int], font_dir: Path) -> set[int]:
    """The code points of ``points`` that no font under ``font_dir`` has.

    The fonts are read largest first (the largest covers most: Hangul fonts carry
    Latin too), and no more are read once every code point is found.
    """
    left = set(points)
    for path in sorted(font_files(font_dir), key=lambda p: (-p.stat().st_size, p)):
        if not left:
            break
        left -= codepoints(path)
    return left


def covered(font_dir: Path) -> frozenset[int]:
    """Every code point some font under ``font_dir`` has a glyph for."""
    points: set[int] = set()
    for path in font_files(font_dir):
        points |= codepoints(path)
    return frozenset(points)
