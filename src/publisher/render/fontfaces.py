"""The fonts a layout declares: its ``@font-face`` rules.

What draws type outside a browser engine (the EPUB's cover, composed with
Pillow) takes its fonts from the same declarations as the print layout, not from
file names of its own: a font removed from the layout, or added to it, is
removed or added for it too.  A face's file must lie inside ``layouts/`` (the
confinement rule of :mod:`publisher.render.confine`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tinycss2

from publisher.errors import PublisherError, display_path
from publisher.render.fonts import codepoints

#: Font files FreeType (Pillow) reads.
LOADABLE = (".otf", ".ttf", ".ttc", ".woff")
_WEIGHTS = {"normal": 400, "bold": 700}
#: The first bytes of a TrueType, OpenType (CFF), TrueType collection and WOFF file.
_SIGNATURES = frozenset({b"\x00\x01\x00\x00", b"OTTO", b"true", b"ttcf", b"wOFF"})


@dataclass(frozen=True)
class FontFace:
    """One ``@font-face`` rule: a family's face and the file that has it."""

    family: str
    weight: int
    italic: bool
    path: Path
    declared_in: Path
    line: int

    def has(self, char: str) -> bool:
        try:
            points = codepoints(self.path)
        except Exception as exc:  # fontTools raises many kinds for a damaged font
            raise PublisherError(f"'{self.path.name}' is not a font file that can be read "
                                 f"({type(exc).__name__}): replace it or remove the rule",
                                 self.declared_in, self.line) from None
        return ord(char) in points


def declared_faces(stylesheet: Path, layouts: Path) -> list[FontFace]:
    """The ``@font-face`` rules of ``stylesheet`` and the stylesheets it imports, in order."""
    return list(_faces(stylesheet, layouts.resolve(), set()))


def _faces(stylesheet: Path, layouts: Path, seen: set[Path]) -> Iterator[FontFace]:
    real = stylesheet.resolve()
    if real in seen:
        return
    seen.add(real)
    try:
        text = stylesheet.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PublisherError(f"cannot read the font declarations: {exc}", stylesheet) from None
    for rule in tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True):
        if rule.type != "at-rule":
            continue
        if rule.lower_at_keyword == "import":
            url = next((_url(token) for token in rule.prelude if _url(token)), None)
            if url:
                yield from _faces(_inside(stylesheet, url, layouts, rule.source_line),
                                  layouts, seen)
        elif rule.lower_at_keyword == "font-face" and rule.content is not None:
            face = _face(stylesheet, rule, layouts)
            if face is not None:
                yield face


def _face(stylesheet: Path, rule: Any, layouts: Path) -> FontFace | None:
    family, weight, italic, files = "", 400, False, []
    for declaration in tinycss2.parse_blocks_contents(rule.content, skip_comments=True,
                                                     skip_whitespace=True):
        if declaration.type != "declaration":
            continue
        values = [v for v in declaration.value if v.type not in ("whitespace", "comment")]
        name = declaration.lower_name
        if name == "font-family":
            family = " ".join(str(v.value) for v in values if v.type in ("string", "ident"))
        elif name == "font-weight" and values:
            first = values[0]
            weight = (int(first.value) if first.type == "number"
                      else _WEIGHTS.get(str(getattr(first, "lower_value", "")), 400))
        elif name == "font-style" and values:
            italic = getattr(values[0], "lower_value", "") in ("italic", "oblique")
        elif name == "src":
            files += [(url, token.source_line) for token in values
                      if (url := _url(token)) and url.lower().endswith(LOADABLE)]
    if not family or not files:
        return None  # nothing Pillow could draw with (local() only, or woff2)
    url, line = files[0]
    path = _inside(stylesheet, url, layouts, line)
    with path.open("rb") as handle:
        if handle.read(4) not in _SIGNATURES:
            raise PublisherError(f"'{url}' is not a font file that can be read: replace it "
                                 "or remove the rule", stylesheet, line)
    return FontFace(family, weight, italic, path, stylesheet, line)


def _url(token: Any) -> str | None:
    if token.type in ("url", "string"):
        return str(token.value)
    if token.type == "function" and token.lower_name == "url":
        return next((str(a.value) for a in token.arguments if a.type == "string"), None)
    return None


def _inside(stylesheet: Path, url: str, layouts: Path, line: int) -> Path:
    path = (stylesheet.parent / url).resolve()
    if not path.is_relative_to(layouts):
        raise PublisherError(f"'{url}' leads outside {display_path(layouts)}/: declare only "
                             "fonts inside the layouts", stylesheet, line)
    if not path.is_file():
        raise PublisherError(f"'{url}' names no file: restore it or remove the rule",
                             stylesheet, line)
    return path


def matching(faces: list[FontFace], families: tuple[str, ...], weight: int) -> list[FontFace]:
    """The faces to set ``families`` at ``weight`` in, in the order to try them: each
    named family's upright face nearest the weight, then every other declared family's
    (as a browser falls back to the fonts it has), so no declared font is left out."""
    by_family: dict[str, list[FontFace]] = {}
    for face in faces:
        if not face.italic:
            by_family.setdefault(face.family, []).append(face)
    order = [f for f in families if f in by_family]
    order += [f for f in by_family if f not in order]
    return [min(by_family[f], key=lambda face: (abs(face.weight - weight), -face.weight))
            for f in order]
