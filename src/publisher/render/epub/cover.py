"""The EPUB's cover image: the issue's cover design composed with Pillow.

The print cover is a WeasyPrint page; rasterising it would need the PDF (or
poppler) at EPUB time.  Instead the cover is drawn here from the same parts:
the issue's cover photo, the masthead, the month, the cover story and the
cover lines, set in the fonts the layouts declare: the ``@font-face`` rules of
``layouts/fonts/fonts.css`` (:mod:`publisher.render.fontfaces`; no system font is
assumed).  Each line of type names its families, as CSS ``font-family`` does, and a
character none of them has is set in the first other declared family that has it
(Hangul in the Hangul font); a character no declared font has stops the build,
naming the file and line of the text.  The result is a JPEG at the trim's aspect
ratio, at most 1600 px high, and the same bytes on every build.
"""

from __future__ import annotations

import functools
import io
import logging
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from publisher import model as m
from publisher.errors import PublisherError, SourceErrors, display_path
from publisher.render.fontfaces import FontFace, declared_faces, matching
from publisher.source import raster as imaging
from publisher.source.files import line_of_key

log = logging.getLogger(__name__)

HEIGHT = 1600
NAVY = (16, 37, 66)
WHITE = (255, 255, 255)
ACCENT = (230, 62, 54)

#: The stylesheet whose @font-face rules the cover is set in (relative to layouts/).
FONT_DECLARATIONS = "fonts/fonts.css"
SERIF = ("Publisher Serif", "Publisher Hangul")
SANS = ("Publisher Sans", "Publisher Hangul")
BULLET = "› "  # before each cover line


@functools.cache
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


@dataclass(frozen=True)
class _Face:
    """A line of type: the declared faces to try, in order, at one size."""

    faces: tuple[FontFace, ...]
    size: int

    def face_for(self, char: str) -> FontFace | None:
        if char.isspace():
            return self.faces[0]
        return next((face for face in self.faces if face.has(char)), None)

    def runs(self, text: str) -> Iterator[tuple[str, ImageFont.FreeTypeFont]]:
        """``text`` cut into runs, each with a font that has its characters."""
        run, run_face = "", self.faces[0]
        for char in text:
            face = self.face_for(char) or self.faces[0]  # checked before: never None
            if face != run_face and run:
                yield run, _font(run_face.path, self.size)
                run = ""
            run, run_face = run + char, face
        if run:
            yield run, _font(run_face.path, self.size)

    def resized(self, size: int) -> _Face:
        return _Face(self.faces, size)

    def width(self, draw: ImageDraw.ImageDraw, text: str) -> float:
        return sum(draw.textlength(run, font=font) for run, font in self.runs(text))

    def draw(self, draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str,
             fill: tuple[int, int, int]) -> None:
        x, y = xy
        for run, font in self.runs(text):
            draw.text((x, y), run, font=font, fill=fill)
            x += draw.textlength(run, font=font)

    def wrap(self, draw: ImageDraw.ImageDraw, text: str, width: float) -> list[str]:
        lines: list[str] = []
        line = ""
        for word in text.split():
            candidate = f"{line} {word}" if line else word
            if line and self.width(draw, candidate) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        if line:
            lines.append(line)
        return lines


def _shade(size: tuple[int, int], top: int, bottom: int) -> Image.Image:
    """A black mask whose opacity runs linearly from ``top`` to ``bottom`` (0-255)."""
    w, h = size
    column = Image.linear_gradient("L").resize((1, h))
    column = column.point(lambda v: top + (bottom - top) * v // 255)
    return column.resize((w, h))


def cover_jpeg(issue: m.Issue, layouts: Path) -> bytes:
    """The cover of ``issue`` as JPEG bytes."""
    faces = _declared(layouts)
    trim = issue.publication.trim
    size = (round(HEIGHT * trim.width_mm / trim.height_mm), HEIGHT)
    w, h = size
    margin = round(w * 0.07)

    serif_bold = tuple(matching(faces, SERIF, 700))
    sans_bold = tuple(matching(faces, SANS, 700))
    sans = tuple(matching(faces, SANS, 400))
    _check_glyphs(issue, layouts, [(serif_bold, "title"), (sans_bold, "issue_number"),
                                   (serif_bold, "cover_story"), (sans, "cover_lines"),
                                   (sans, "credit")])

    if issue.cover_image is not None:
        photo = imaging.load(issue.cover_image.path, covering=size)
        canvas = imaging.cover(photo.convert("RGB"), size)
    else:
        canvas = Image.new("RGB", size, NAVY)
    # Darken the top (masthead) and the bottom (cover lines) so white text reads.
    canvas.paste((0, 0, 0), (0, 0, w, h // 3), _shade((w, h // 3), 190, 0))
    bottom_h = h // 2
    canvas.paste((0, 0, 0), (0, h - bottom_h, w, h), _shade((w, bottom_h), 0, 225))

    draw = ImageDraw.Draw(canvas)

    masthead = _Face(serif_bold, round(h * 0.16))
    mast_text = issue.publication.title
    mast_w = masthead.width(draw, mast_text)
    if mast_w > w - 2 * margin:  # a long title: shrink to the measure
        masthead = masthead.resized(int(masthead.size * (w - 2 * margin) / mast_w))
    y = round(h * 0.04)
    masthead.draw(draw, (margin, y), mast_text, WHITE)
    y += round(masthead.size * 1.02)

    dateline = _Face(sans_bold, round(h * 0.026))
    line = issue.month.label.upper()
    if issue.number:
        line += f"  ·  {issue.number}"
    dateline.draw(draw, (margin, y), line, WHITE)
    draw.rectangle((margin, y - round(h * 0.012), margin + round(w * 0.18),
                    y - round(h * 0.008)), fill=ACCENT)

    story = _Face(serif_bold, round(h * 0.05))
    lines_face = _Face(sans, round(h * 0.022))
    credit_face = _Face(sans, round(h * 0.013))
    story_lines = story.wrap(draw, issue.cover_story, w - 2 * margin)
    cover_lines = [wrapped for text in issue.cover_lines
                   for wrapped in lines_face.wrap(draw, BULLET + text, w - 2 * margin)]
    block_h = (len(story_lines) * story.size * 1.1 + h * 0.02
               + len(cover_lines) * lines_face.size * 1.45)
    y = h - round(h * 0.06) - block_h
    for text in story_lines:
        story.draw(draw, (margin, y), text, WHITE)
        y += story.size * 1.1
    y += h * 0.02
    for text in cover_lines:
        lines_face.draw(draw, (margin, y), text, WHITE)
        y += lines_face.size * 1.45
    if issue.cover_image is not None and issue.cover_image.credit:
        credit = issue.cover_image.credit
        credit_face.draw(draw, (w - margin - credit_face.width(draw, credit),
                                h - round(h * 0.035)), credit, WHITE)

    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=82, optimize=True, progressive=False)
    log.debug("cover %dx%d, %d bytes", w, h, out.tell())
    return out.getvalue()


def _declared(layouts: Path) -> list[FontFace]:
    stylesheet = layouts / FONT_DECLARATIONS
    faces = declared_faces(stylesheet, layouts)
    if not faces:
        raise PublisherError("declares no font the EPUB cover can be set in: add an "
                             "@font-face rule with an OpenType or TrueType file", stylesheet)
    return faces


#: What each line of type sets, by the key that holds its text.
_TEXTS = {"title": "masthead", "issue_number": "dateline", "cover_story": "cover story",
          "cover_lines": "cover lines", "credit": "cover photo credit"}


def _check_glyphs(issue: m.Issue, layouts: Path,
                  lines: list[tuple[tuple[FontFace, ...], str]]) -> None:
    """Every character of the cover has a declared font, else one error per character,
    with the file and line of the text it is in (the cover's own words and marks: the
    font declarations)."""
    toml = issue.source_dir / "issue.toml"
    declarations = layouts / FONT_DECLARATIONS
    own = (declarations, "")
    texts: dict[str, list[tuple[str, tuple[Path | None, str]]]] = {
        "title": [(issue.publication.title, (issue.publication.source, "title"))],
        "issue_number": [(f"{issue.month.label.upper()}  ·  ", own),
                         (issue.number or "", (toml, "issue_number"))],
        "cover_story": [(issue.cover_story, (toml, "cover_story"))],
        "cover_lines": [(BULLET, own), *((text, (toml, "cover_lines"))
                                         for text in issue.cover_lines)],
        "credit": [(issue.cover_image.credit if issue.cover_image else "", (toml, "credit"))],
    }
    problems: dict[str, PublisherError] = {}
    for faces, key in lines:
        for text, (path, text_key) in texts[key]:
            for char in text:
                if (char in problems or char.isspace() or _invisible(char)
                        or any(f.has(char) for f in faces)):
                    continue
                name = unicodedata.name(char, "")
                problems[char] = PublisherError(
                    f"character '{char}' (U+{ord(char):04X}{' ' + name if name else ''}) of the "
                    f"{_TEXTS[key]} has no glyph in the fonts the layout declares "
                    f"({display_path(declarations)}), which the EPUB cover is set in: replace "
                    "it, or declare a font that has it", path, _line_of(path, text_key, char))
    if problems:
        raise SourceErrors(problems.values())


def _invisible(char: str) -> bool:
    """A format or control character, or a variation selector: nothing to draw."""
    point = ord(char)
    return (unicodedata.category(char) in ("Cf", "Cc") or 0xFE00 <= point <= 0xFE0F
            or 0xE0100 <= point <= 0xE01EF)


def _line_of(path: Path | None, key: str, char: str) -> int | None:
    """The line of ``char`` in the value of ``key`` (the key's line if not found)."""
    if path is None or not key:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    start = line_of_key(text, key)
    if start is None:
        return None
    lines = text.splitlines()
    return next((n for n in range(start, len(lines) + 1) if char in lines[n - 1]), start)
