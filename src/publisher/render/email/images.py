"""The email's images: resized, compressed, and addressed by URL or ``cid:``.

Every image the email shows is re-encoded (:mod:`publisher.source.raster`) at most
``max_width`` pixels wide (twice its display width, for high-density screens)
and without metadata: JPEG for a photo, PNG for line art or transparency.
An image shown at several places (the cover is often the lead image too) is
encoded once.

The encoded files are either linked (``https://…/<MONTH>/email-images/<name>``,
the build outputs them for upload beside the issue) or embedded as
``multipart/related`` parts referenced by ``cid:``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from publisher import model as m
from publisher.render.email import EMAIL
from publisher.source import raster as imaging

log = logging.getLogger(__name__)

ImageMode = Literal["embed", "link"]
#: Folder of the linked image files, inside dist/<MONTH>/ and under the issue's URL.
IMAGE_FOLDER = EMAIL.output("images").pattern


@dataclass(frozen=True)
class EncodedImage:
    """One image file as the email carries it."""

    name: str  # file name, unique in the email
    data: bytes
    subtype: str  # "jpeg" or "png"
    width: int  # pixels of the encoded file
    height: int

    @property
    def cid(self) -> str:
        """The Content-ID (without angle brackets): stable, and unique to the bytes."""
        digest = hashlib.sha256(self.data).hexdigest()[:12]
        return f"{self.name}.{digest}@publisher"


@dataclass(frozen=True)
class Shown:
    """Where an image is shown: its ``src`` and its display size in CSS pixels."""

    src: str
    width: int
    height: int
    alt: str


class EmailImages:
    """Encodes the images of one email and tells the templates their ``src``."""

    def __init__(self, mode: ImageMode, url_base: str, *, max_width: int = 1200,
                 jpeg_quality: int = 80):
        self.mode = mode
        self.url_base = url_base.rstrip("/")
        self.max_width = max_width
        self.jpeg_quality = jpeg_quality
        self._encoded: dict[tuple[Path, int], EncodedImage] = {}
        self._names: set[str] = set()
        self._shown: dict[tuple[Path, int, int], str] = {}

    @property
    def files(self) -> tuple[EncodedImage, ...]:
        """Every encoded image, in the order first shown."""
        return tuple(self._encoded.values())

    def show(self, path: Path, display_width: int, alt: str) -> Shown:
        """Show the image at ``path`` at most ``display_width`` CSS pixels wide."""
        encoded = self._encode(path, display_width)
        width = min(display_width, encoded.width)
        height = max(1, round(encoded.height * width / encoded.width))
        return Shown(self.src(encoded), width, height, alt)

    def src(self, encoded: EncodedImage) -> str:
        if self.mode == "embed":
            return f"cid:{encoded.cid}"
        return f"{self.url_base}/{IMAGE_FOLDER}/{encoded.name}"

    def display(self, image: m.Image, display_width: int) -> m.Image:
        """``image`` with its display size (what the HTML writer puts in width/height)."""
        shown = self.show(image.path, display_width, image.alt)
        self._shown[(image.path, shown.width, shown.height)] = shown.src
        return dataclasses.replace(image, width=shown.width, height=shown.height)

    def src_of(self, image: m.Image) -> str:
        """The ``src`` of an image returned by :meth:`display` (the writer's ``image_src``)."""
        return self._shown[(image.path, image.width, image.height)]

    def _encode(self, path: Path, display_width: int) -> EncodedImage:
        key = (path, min(self.max_width, 2 * display_width))
        if key not in self._encoded:
            self._encoded[key] = self._encode_file(path, key[1])
        return self._encoded[key]

    def _encode_file(self, path: Path, max_width: int) -> EncodedImage:
        image = imaging.fit(imaging.load(path, within=(max_width, 1 << 16)), max_width)
        encoded = imaging.encode(image, quality=self.jpeg_quality, progressive=True,
                                 lossless=imaging.lossless(path))
        stem = m.slug(path.stem, default="image", ascii_only=True)
        name = self._unique_name(f"{stem}-{encoded.width}.{encoded.extension}", path)
        log.debug("email image %s: %dx%d, %d bytes", name, encoded.width, encoded.height,
                  len(encoded.data))
        return EncodedImage(name, encoded.data, encoded.subtype, encoded.width, encoded.height)

    def _unique_name(self, name: str, path: Path) -> str:
        if name in self._names:
            stem, _, ext = name.rpartition(".")
            digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
            name = f"{stem}-{digest}.{ext}"
        self._names.add(name)
        return name
