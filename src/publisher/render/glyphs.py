"""The glyph check: every character the layouts set must exist in the layout's fonts.

WeasyPrint silently falls back to system fonts, or prints a box, for a character
none of the layout's fonts has.  The check reads the cmap of every font under
``layouts/fonts/`` (:mod:`publisher.render.fonts`) and reports every character without
a glyph, each with the source file and line it comes from.  ``check`` runs it on
the text an issue gives the layouts (:func:`check_issue_glyphs`); the print
renderer on the text its layout sets, template strings included
(:mod:`publisher.render.pdf.glyphs`): one function, :func:`glyph_errors`.

Text is taken a user-perceived character at a time: an emoji sequence (a ZWJ
family, a flag, a keycap, an emoji with its variation selector or skin tone) is
one character, named once.  Invisible code points (joiners, variation
selectors, tags) are never asked of a font.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from publisher import model as m
from publisher.diagnostics import Diagnostics
from publisher.errors import PublisherError, display_path
from publisher.render.fonts import font_files, uncovered

ZWJ = "\u200d"
_INVISIBLE = {"\u00ad", "\u200b", "\u200c", ZWJ, "\u2060", "\ufeff"}
_KEYCAP = "\u20e3"


def _is_variation_selector(char: str) -> bool:
    point = ord(char)
    return 0xFE00 <= point <= 0xFE0F or 0xE0100 <= point <= 0xE01EF


def _is_regional_indicator(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _is_skin_tone(char: str) -> bool:
    return 0x1F3FB <= ord(char) <= 0x1F3FF


def _is_tag(char: str) -> bool:
    return 0xE0020 <= ord(char) <= 0xE007F


def needs_glyph(char: str) -> bool:
    """Whether a font must have ``char`` (not for spaces, controls, joiners, selectors)."""
    if char in _INVISIBLE or char.isspace() or _is_variation_selector(char) or _is_tag(char):
        return False
    return unicodedata.category(char) not in ("Cc", "Cf")


def clusters(text: str) -> Iterator[str]:
    """``text`` one user-perceived character at a time (a simplified UAX #29: combining
    marks, variation selectors, skin tones, keycaps, tags and ZWJ sequences stay with their
    base; regional indicators pair into flags)."""
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        if _is_regional_indicator(text[i]) and j < n and _is_regional_indicator(text[j]):
            j += 1
        while j < n:
            char = text[j]
            if (_is_variation_selector(char) or _is_skin_tone(char) or _is_tag(char)
                    or char == _KEYCAP or unicodedata.category(char) in ("Mn", "Me")):
                j += 1
            elif char == ZWJ and j + 1 < n and not text[j + 1].isspace():
                j += 2  # a ZWJ joins two visible characters, never across a line
            else:
                break
        yield text[i:j]
        i = j


@dataclass(frozen=True)
class Missing:
    """A character (or emoji sequence) with code points no font has."""

    cluster: str
    points: tuple[int, ...]  # its visible code points without a glyph

    def describe(self) -> str:
        visible = [c for c in self.cluster if needs_glyph(c)]
        if len(self.cluster) == 1:
            return f"character '{self.cluster}' ({_code(self.cluster)})"
        codes = " ".join(f"U+{ord(c):04X}" for c in self.cluster)
        if all(_is_regional_indicator(c) for c in self.cluster):
            letters = "".join(chr(ord(c) - 0x1F1E6 + ord("A")) for c in self.cluster)
            return f"flag '{self.cluster}' ({codes}: {letters})"
        names = " + ".join(unicodedata.name(c, "unnamed") for c in visible)
        kind = "emoji sequence" if any(ord(c) > 0x2000 for c in visible) else "character"
        return f"{kind} '{self.cluster}' ({codes}: {names})"


def _code(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, 'unnamed character')}"


def missing_glyphs(text: str, font_dir: Path) -> list[Missing]:
    """Every character of ``text`` some visible code point of which no font under
    ``font_dir`` has, once each, in the order they first appear."""
    wanted = {ord(c) for c in set(text) if needs_glyph(c)}
    absent = uncovered(wanted, font_dir)
    if not absent:
        return []
    found: dict[str, Missing] = {}
    for cluster in clusters(text):
        if cluster in found:
            continue
        points = tuple(ord(c) for c in cluster if ord(c) in absent and needs_glyph(c))
        if points:
            found[cluster] = Missing(cluster, points)
    return list(found.values())


def glyph_errors(missing: Sequence[Missing], font_dir: Path, sources: Iterable[Path],
                 fallback: Path) -> list[PublisherError]:
    """One error per missing character and source file that has it, at its first line
    there (``fallback`` when no source has it: it comes from the layout)."""
    texts: list[tuple[Path, str]] = []
    for path in dict.fromkeys(sources):
        try:
            texts.append((path, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
    errors = []
    for item in missing:
        message = (f"{item.describe()} has no glyph in the layout's fonts "
                   f"({display_path(font_dir)}/): "
                   "replace it, or add a font that has it")
        where = [(path, text) for path, text in texts if item.cluster in text
                 or item.cluster in _unescaped(text)]
        for path, text in where:
            lines = [n for n, line in enumerate(text.splitlines(), 1)
                     if item.cluster in line or item.cluster in _unescaped(line)]
            if not lines:  # a cluster across lines: blame the line where it starts
                lines = [text.count("\n", 0, max(text.find(item.cluster), 0)) + 1]
            more = ", ".join(map(str, lines[1:6])) + (", …" if len(lines) > 6 else "")
            also = f" (also on line{'s' if len(lines) > 2 else ''} {more})" if more else ""
            errors.append(PublisherError(message + also, path, lines[0]))
        if not where:
            errors.append(PublisherError(message, fallback))
    return errors


_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")


def _unescaped(text: str) -> str:
    """``text`` with the escapes a source may write a character by read as that
    character: Markdown's character references (``&#x1F600;``, ``&#9731;``, ``&hearts;``)
    and YAML's and TOML's ``\\u2603`` / ``\\U0001F600``; so that a character written so
    is blamed on its own file and line."""
    def char(match: re.Match[str]) -> str:
        code = int(match.group(1) or match.group(2), 16)
        return chr(code) if code <= 0x10FFFF else match.group()
    return _ESCAPE.sub(char, html.unescape(text))


# --- the issue's text -----------------------------------------------------------------


def text_sources(issue: m.Issue) -> list[Path]:
    """The source files whose text the layouts set, in the order to blame them."""
    paths = [article.source for article in issue.articles]
    paths.append(issue.source_dir / "issue.toml")
    if issue.publication.source is not None:
        paths.append(issue.publication.source)
    root = issue.source_dir.parent
    paths.extend(root / str(entry.month) / "issue.toml" for entry in issue.archive)
    return paths


def issue_text(issue: m.Issue) -> str:
    """The text the issue gives the layouts to set (not alt text, links or ids)."""
    pub = issue.publication
    parts = [pub.title, pub.publisher, pub.description, pub.copyright_holder,
             pub.postal_address, issue.cover_story, *issue.cover_lines, *issue.sections,
             issue.issn or "", issue.number or ""]
    parts += [item.headline for item in issue.ticker]
    parts += [entry.cover_story for entry in issue.archive]
    parts += _texts(issue.cover_image) + _texts(issue.editors_note)
    for article in issue.articles:
        parts += [article.title, article.section, article.byline, article.dek,
                  article.photo_credit]
        parts += _texts(article.lead_image) + _texts(article.body) + _texts(article.footnotes)
    return "\n".join(parts)


def _texts(node: Any) -> list[str]:
    if node is None:
        return []
    if isinstance(node, m.Text | m.Code | m.CodeBlock):
        return [node.text]
    if isinstance(node, m.Image):
        return [*_texts(node.caption), node.credit]
    if isinstance(node, m.PullQuote):
        return [*_texts(node.children), node.attribution]
    if isinstance(node, tuple):
        return [text for child in node for text in _texts(child)]
    parts = [getattr(node, name) for name in _CONTAINERS if hasattr(node, name)]
    return [text for part in parts for text in _texts(part)]


# The fields of model nodes that hold other nodes (a link's URL or a heading's id is no text).
_CONTAINERS = ("children", "items", "head", "body", "image")


def check_issue_glyphs(issue: m.Issue, layouts: Path, diag: Diagnostics) -> None:
    """Report every character of the issue's text that no font of the layouts has (nothing
    when the layouts have no fonts: then their formats use the reader's)."""
    font_dir = layouts / "fonts"
    if not font_files(font_dir):
        return
    missing = missing_glyphs(issue_text(issue), font_dir)
    diag.errors.extend(glyph_errors(missing, font_dir, text_sources(issue),
                                    issue.source_dir / "issue.toml"))
