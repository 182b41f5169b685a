"""The email's images: resized, compressed, and addressed by URL or ``cid:``.

Every image the email shows is re-encoded with Pillow at most
``max_width`` pixels wide (twice its display width, for high-density screens)
and without metadata: JPEG when it is opaque, PNG when it has transparency.
An image shown at several places (the cover is often the lead image too) is
encoded once.

The encoded files are either linked (``https://…/<MONTH>/email-images/<name>``,
the build outputs them for upload beside the issue) or embedded as
``multipart/related`` parts referenced by ``cid:``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from PIL import Image as PILImage
from PIL import ImageCms, ImageOps

from publisher import model as m
from publisher.errors import PublisherError

log = logging.getLogger(__name__)

ImageMode = Literal["embed", "link"]
#: Folder of the linked image files, inside dist/<MONTH>/ and under the issue's URL.
IMAGE_FOLDER = "email-images"


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
        try:
            with PILImage.open(path) as source:
                if source.format == "JPEG" and source.width > max_width:
                    # Decode at the smallest 1/2, 1/4 or 1/8 scale still at least
                    # max_width wide: much faster, and LANCZOS does the rest.
                    source.draft("RGB", (max_width, source.height * max_width // source.width))
                source.load()
                image = _to_srgb(ImageOps.exif_transpose(source))
        except OSError as exc:
            raise PublisherError(f"cannot read the image: {exc}", path) from exc
        if image.width > max_width:
            height = max(1, round(image.height * max_width / image.width))
            image = image.resize((max_width, height), PILImage.Resampling.LANCZOS)
        out = io.BytesIO()
        if _has_alpha(image):
            image = image.convert("RGBA")
            image.save(out, "PNG", optimize=True)
            subtype, ext = "png", "png"
        else:
            image = image.convert("RGB")
            image.save(out, "JPEG", quality=self.jpeg_quality, optimize=True, progressive=True,
                       subsampling="4:2:0")
            subtype, ext = "jpeg", "jpg"
        name = self._unique_name(f"{_slug(path.stem)}-{image.width}.{ext}", path)
        log.debug("email image %s: %dx%d, %d bytes", name, image.width, image.height,
                  out.tell())
        return EncodedImage(name, out.getvalue(), subtype, image.width, image.height)

    def _unique_name(self, name: str, path: Path) -> str:
        if name in self._names:
            stem, _, ext = name.rpartition(".")
            digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
            name = f"{stem}-{digest}.{ext}"
        self._names.add(name)
        return name


def _has_alpha(image: PILImage.Image) -> bool:
    if image.mode in ("RGBA", "LA", "PA"):
        return image.getextrema()[-1][0] < 255  # type: ignore[index]
    return image.mode == "P" and "transparency" in image.info


def _to_srgb(image: PILImage.Image) -> PILImage.Image:
    """Convert an image with an embedded ICC profile (Adobe RGB, CMYK…) to sRGB."""
    icc: Any = image.info.get("icc_profile")
    if not icc and image.mode != "CMYK":
        return image
    if not icc:
        return image.convert("RGB")
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        srgb = ImageCms.createProfile("sRGB")
        mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") else "RGB"
        converted = ImageCms.profileToProfile(image, source, srgb, outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # an unreadable profile: keep the pixels as they are
    return converted if converted is not None else image


def _slug(text: str) -> str:
    out = "".join(c if c.isascii() and c.isalnum() else "-" for c in text.lower())
    return "-".join(part for part in out.split("-") if part) or "image"
