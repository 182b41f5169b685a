"""The web edition's images: each in a few widths, made once, for ``srcset``.

Every image is re-encoded (:mod:`publisher.source.raster`) in each width of
:data:`WIDTHS` narrower than itself, and at its own width when that is smaller than
the largest: a phone fetches the small file, a wide high-density screen the large one.
The files are named after the source (``yoon-800.jpg``), the same on every build.
Encoded files are remembered for the life of the process by the source's path, size
and modification time, so the preview's rebuilds after an edit re-encode nothing.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from publisher import model as m
from publisher.source import raster as imaging

#: The widths (pixels) each image is made in, at most.
WIDTHS = (480, 800, 1200, 1600)
#: The ``src`` (for a browser without ``srcset``): the rendition nearest this width.
FALLBACK_WIDTH = 800
JPEG_QUALITY = 78
FOLDER = "_web/img"

_made: dict[tuple[str, int, int, int], imaging.Encoded] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Rendition:
    name: str  # file name inside FOLDER
    width: int
    height: int
    data: bytes


class WebImages:
    """The renditions of one build's images, by source path."""

    def __init__(self) -> None:
        self._renditions: dict[Path, tuple[Rendition, ...]] = {}
        self._stems: dict[str, Path] = {}

    def renditions(self, image: m.Image) -> tuple[Rendition, ...]:
        found = self._renditions.get(image.path)
        if found is None:
            found = self._renditions[image.path] = self._make(image)
        return found

    def files(self) -> list[Rendition]:
        return [r for made in self._renditions.values() for r in made]

    def src(self, image: m.Image, prefix: str) -> str:
        made = self.renditions(image)
        best = min(made, key=lambda r: abs(r.width - FALLBACK_WIDTH))
        return f"{prefix}{FOLDER}/{best.name}"

    def srcset(self, image: m.Image, prefix: str) -> str:
        return ", ".join(f"{prefix}{FOLDER}/{r.name} {r.width}w"
                         for r in self.renditions(image))

    def largest(self, image: m.Image) -> Rendition:
        return self.renditions(image)[-1]

    def _make(self, image: m.Image) -> tuple[Rendition, ...]:
        widths = sorted({w for w in WIDTHS if w < image.width} | {min(image.width, WIDTHS[-1])})
        stem = m.slug(image.path.stem, default="image", ascii_only=True)
        if self._stems.setdefault(stem, image.path) != image.path:  # another of that name
            stem = f"{stem}-{hashlib.sha256(image.src.encode()).hexdigest()[:8]}"
        out = []
        for width in widths:
            encoded = _encoded(image.path, width)
            name = f"{stem}-{encoded.width}.{encoded.extension}"
            out.append(Rendition(name, encoded.width, encoded.height, encoded.data))
        return tuple(out)


def _encoded(path: Path, width: int) -> imaging.Encoded:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, width)
    with _lock:
        found = _made.get(key)
    if found is None:
        source = imaging.load(path, within=(width, 1 << 16))
        found = imaging.encode(imaging.fit(source, width), quality=JPEG_QUALITY,
                               progressive=True, lossless=imaging.lossless(path))
        with _lock:
            _made[key] = found
    return found
