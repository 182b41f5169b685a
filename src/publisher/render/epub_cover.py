"""The EPUB's cover image: the issue's cover design composed with Pillow.

The print cover is a WeasyPrint page; rasterising it would need the PDF (or
poppler) at EPUB time.  Instead the cover is drawn here from the same parts:
the issue's cover photo, the masthead, the month, the cover story and the
cover lines, set in the fonts shipped in ``layouts/fonts/`` (no system font is
assumed).  Text in a script the Latin font lacks (Hangul) falls back, run by
run, to the Hangul font.  The result is a JPEG at the trim's aspect ratio,
at most 1600 px high, and the same bytes on every build.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from publisher import imaging
from publisher import model as m
from publisher.fonts import codepoints

log = logging.getLogger(__name__)

HEIGHT = 1600
NAVY = (16, 37, 66)
WHITE = (255, 255, 255)
ACCENT = (230, 62, 54)

SERIF_BOLD = "libertine/LinLibertine_RB.otf"
SANS = "inter/Inter-Regular.otf"
SANS_BOLD = "inter/Inter-Bold.otf"
HANGUL = "nanum/NanumMyeongjo.ttf"
HANGUL_BOLD = "nanum/NanumMyeongjoBold.ttf"


@dataclass(frozen=True)
class _Face:
    """A font and its Hangul fallback at one size."""

    fonts: Path
    name: str
    fallback: str
    size: int

    def font(self, name: str) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(str(self.fonts / name), self.size)

    def runs(self, text: str) -> Iterator[tuple[str, ImageFont.FreeTypeFont]]:
        """``text`` cut into runs, each with a font that has its characters."""
        covered = codepoints(self.fonts / self.name)
        run, run_font = "", self.name
        for char in text:
            name = self.name if (ord(char) in covered or char.isspace()) else self.fallback
            if name != run_font and run:
                yield run, self.font(run_font)
                run = ""
            run, run_font = run + char, name
        if run:
            yield run, self.font(run_font)

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
    fonts = layouts / "fonts"
    trim = issue.publication.trim
    size = (round(HEIGHT * trim.width_mm / trim.height_mm), HEIGHT)
    w, h = size
    margin = round(w * 0.07)

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

    masthead = _Face(fonts, SERIF_BOLD, HANGUL_BOLD, round(h * 0.16))
    mast_text = issue.publication.title
    mast_w = masthead.width(draw, mast_text)
    if mast_w > w - 2 * margin:  # a long title: shrink to the measure
        masthead = _Face(fonts, SERIF_BOLD, HANGUL_BOLD,
                         int(masthead.size * (w - 2 * margin) / mast_w))
    y = round(h * 0.04)
    masthead.draw(draw, (margin, y), mast_text, WHITE)
    y += round(masthead.size * 1.02)

    dateline = _Face(fonts, SANS_BOLD, HANGUL_BOLD, round(h * 0.026))
    line = issue.month.label.upper()
    if issue.number:
        line += f"  ·  {issue.number}"
    dateline.draw(draw, (margin, y), line, WHITE)
    draw.rectangle((margin, y - round(h * 0.012), margin + round(w * 0.18),
                    y - round(h * 0.008)), fill=ACCENT)

    story = _Face(fonts, SERIF_BOLD, HANGUL_BOLD, round(h * 0.05))
    lines_face = _Face(fonts, SANS, HANGUL, round(h * 0.022))
    credit_face = _Face(fonts, SANS, HANGUL, round(h * 0.013))
    story_lines = story.wrap(draw, issue.cover_story, w - 2 * margin)
    cover_lines = [wrapped for text in issue.cover_lines
                   for wrapped in lines_face.wrap(draw, f"› {text}", w - 2 * margin)]
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
