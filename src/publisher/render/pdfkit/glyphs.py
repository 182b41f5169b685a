"""The glyph check: every character the print layout sets must exist in its fonts.

WeasyPrint silently falls back to system fonts, or prints a box, for a character
none of the layout's fonts has.  The check reads the cmap of every font under
``layouts/fonts/`` (:mod:`publisher.fonts`) and fails the build naming the character and the
source file (and line) it comes from.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from pathlib import Path

from publisher.errors import PublisherError
from publisher.fonts import uncovered

# Characters that are never drawn with a glyph of the text fonts.
_INVISIBLE = {"\u00ad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}


def needs_glyph(char: str) -> bool:
    if char in _INVISIBLE or char.isspace():
        return False
    return unicodedata.category(char) not in ("Cc", "Cf")


def check_glyphs(text: str, font_dir: Path, sources: Iterable[Path], fallback: Path) -> None:
    """Raise a :class:`PublisherError` for the first character of ``text`` without a glyph.

    The error names the first of ``sources`` that contains the character (else
    ``fallback``, the layout), with its line.
    """
    wanted = {ord(c) for c in set(text) if needs_glyph(c)}
    missing = sorted(chr(point) for point in uncovered(wanted, font_dir))
    if not missing:
        return
    char = missing[0]
    name = unicodedata.name(char, "unnamed character")
    message = (f"character {char!r} (U+{ord(char):04X} {name}) has no glyph in the layout's "
               f"fonts ({font_dir}/): replace it, or add a font that has it")
    if len(missing) > 1:
        others = ", ".join(f"U+{ord(c):04X}" for c in missing[1:6])
        message += f" (also without a glyph: {others})"
    for path in sources:
        try:
            source_text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        at = source_text.find(char)
        if at >= 0:
            raise PublisherError(message, path, source_text.count("\n", 0, at) + 1)
    raise PublisherError(message, fallback)
