"""Photos scaled and re-encoded for a format: one way to do it, for every format.

The EPUB, the email, the EPUB cover and the site's thumbnails all start from an
editor's photo (any size, maybe rotated by an EXIF tag, maybe in Adobe RGB or
CMYK) and need a smaller sRGB copy without metadata.  :func:`load` decodes,
turns upright and converts to sRGB, decoding a JPEG at a reduced scale when
the result is to be at most half the size (much faster, and the resampling
does the rest); :func:`fit` scales with Lanczos; :func:`encode` writes JPEG
for an opaque photo and PNG for an image with transparency or a PNG/GIF source.  The print PDF keeps
the photo as it is; its reader's copy is downsampled by WeasyPrint.

Every image is opened here (:func:`opened`), with one size rule in place of
Pillow's decompression-bomb guard, which raises a bare exception over twice
``Image.MAX_IMAGE_PIXELS`` (179 megapixels) and warns, on every open, over it.
Over that limit an image is refused with one line naming it, its size and the
limit; under it Pillow says nothing (the reader warns once, at the line that
refers to the image, about one over ``Image.MAX_IMAGE_PIXELS``: see
:func:`size_problem`).  :func:`quiet_large_images` silences the same warning
while WeasyPrint, which opens the print PDF's photos itself, runs.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageCms, ImageFile, ImageOps

from publisher.errors import PublisherError


@dataclass(frozen=True)
class Encoded:
    """An image file's bytes, and what a document needs to show it."""

    data: bytes
    subtype: str  # "jpeg" or "png": image/<subtype>
    width: int
    height: int

    @property
    def extension(self) -> str:
        return "jpg" if self.subtype == "jpeg" else self.subtype


@dataclass(frozen=True)
class SizeProblem:
    """An image with more pixels than it should have: ``error`` when over the limit."""

    error: bool
    message: str  # says the size and the limit; the caller names the image


def size_problem(width: int, height: int) -> SizeProblem | None:
    """What is wrong with an image of ``width`` x ``height`` pixels, if anything: over
    twice ``Image.MAX_IMAGE_PIXELS`` (what Pillow refuses to decode) an error, over
    ``Image.MAX_IMAGE_PIXELS`` a warning; nothing when Pillow's guard is off (``None``)."""
    most = Image.MAX_IMAGE_PIXELS
    if most is None:
        return None
    pixels = max(1, width) * max(1, height)
    size = f"{width} × {height} pixels ({_megapixels(pixels)})"
    if pixels > 2 * most:
        return SizeProblem(True, f"is {size}, over the limit of {_megapixels(2 * most)} "
                                 "(Pillow's guard against decompression bombs): scale it down")
    if pixels > most:
        return SizeProblem(False, f"is {size}, over {_megapixels(most)}: it builds, slowly "
                                  "and with much memory; no page needs that many, so a "
                                  "smaller copy would do")
    return None


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.3g} megapixels"


@contextlib.contextmanager
def opened(path: Path) -> Iterator[Image.Image]:
    """``Image.open(path)`` (the header only, until loaded) under this module's size rule.

    Raises :class:`~publisher.errors.PublisherError` naming the file over the limit,
    and ``OSError`` (``UnidentifiedImageError``) for a file Pillow cannot read.
    """
    image = _open_unguarded(path)
    with image, quiet_large_images():
        problem = size_problem(*image.size)
        if problem is not None and problem.error:
            raise PublisherError(f"the image {problem.message}", path)
        yield image


def measure(path: Path) -> tuple[str | None, int, int]:
    """The format, width and height of the image at ``path`` (its header only, no size
    rule: the caller reports the size with the line that refers to the image)."""
    with _open_unguarded(path) as image:
        return image.format, image.width, image.height


def _open_unguarded(path: Path) -> Image.Image:
    """``Image.open`` without Pillow's guard, which would raise or warn before the size
    is known (the process opens one image at a time: no thread sees the guard off)."""
    most, lenient = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    Image.MAX_IMAGE_PIXELS = None
    # WeasyPrint turns LOAD_TRUNCATED_IMAGES on for the whole process when imported, and
    # with it Pillow quietly drops what it cannot read (an ICC profile over its limit):
    # the same file must read the same in every process.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        return Image.open(path)
    finally:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = most, lenient


@contextlib.contextmanager
def quiet_large_images() -> Iterator[None]:
    """No ``DecompressionBombWarning`` from Pillow (for images already measured)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def load(path: Path, *, within: tuple[int, int] | None = None,
         covering: tuple[int, int] | None = None) -> Image.Image:
    """The image at ``path``, upright and in sRGB (RGB, or RGBA with transparency).

    Say what it is for, and a JPEG is decoded at the smallest scale (1/2, 1/4,
    1/8) that is still enough: ``within``, the box (width, height) it will be
    fitted into; ``covering``, the box it will be cropped to fill.
    """
    try:
        with opened(path) as source:
            box = within or covering
            if box is not None and source.format == "JPEG":
                width, height = source.size
                if _swapped(source):
                    box = (box[1], box[0])
                scales = (box[0] / width, box[1] / height)
                scale = min(scales) if within else max(scales)
                if scale < 1:
                    source.draft(None, (max(1, int(width * scale)), max(1, int(height * scale))))
            source.load()
            image = _to_srgb(_to_8_bits(ImageOps.exif_transpose(source)))
    except (OSError, SyntaxError, ValueError) as exc:  # what Pillow raises for a bad file
        raise PublisherError(f"cannot read the image: {exc}", path) from exc
    if has_alpha(image):
        return image.convert("RGBA")
    return image if image.mode == "RGB" else image.convert("RGB")


def fit(image: Image.Image, max_width: int, max_height: int | None = None) -> Image.Image:
    """``image`` scaled down (never up) to fit ``max_width`` (and ``max_height``)."""
    scale = max_width / image.width
    if max_height is not None:
        scale = min(scale, max_height / image.height)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def cover(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` cropped about its centre to the aspect of ``size``, and scaled to it."""
    return ImageOps.fit(image, size, Image.Resampling.LANCZOS)


def lossless(path: Path) -> bool:
    """True for a PNG or GIF source (line art, screenshots): it is not made a JPEG."""
    try:
        with opened(path) as source:
            return source.format in ("PNG", "GIF")
    except (OSError, SyntaxError, ValueError) as exc:  # what Pillow raises for a bad file
        raise PublisherError(f"cannot read the image: {exc}", path) from exc


def encode(image: Image.Image, *, quality: int = 80, progressive: bool = False,
           lossless: bool = False) -> Encoded:
    """JPEG (4:2:0, optimised) for an opaque photo; PNG for an image with transparency,
    or when ``lossless`` (the source was a PNG or GIF)."""
    out = io.BytesIO()
    if image.mode == "RGBA" or lossless:
        image.save(out, "PNG", optimize=True)
        subtype = "png"
    else:
        image.convert("RGB").save(out, "JPEG", quality=quality, optimize=True,
                                  progressive=progressive, subsampling="4:2:0")
        subtype = "jpeg"
    return Encoded(out.getvalue(), subtype, image.width, image.height)


def has_alpha(image: Image.Image) -> bool:
    """True when some pixel of ``image`` is not fully opaque."""
    if image.mode in ("RGBA", "LA", "PA"):
        return image.getextrema()[-1][0] < 255  # type: ignore[index]
    return image.mode == "P" and "transparency" in image.info


def _to_8_bits(image: Image.Image) -> Image.Image:
    """A 16- or 32-bit grey image (a 16-bit PNG opens as ``I;16``) scaled to 8 bits:
    Pillow's own conversion to RGB clips every value over 255, which turns it white."""
    if image.mode not in ("I", "I;16", "I;16L", "I;16B", "I;16N"):
        return image
    if image.mode == "I":
        _, high = image.getextrema()  # type: ignore[misc]
        scale = 1 / 256 if high > 255 else 1  # 8-bit values kept in 32 bits stay as they are
    else:
        scale = 1 / 256
    return image.convert("I").point(lambda value: value * scale).convert("L")


def _swapped(image: Image.Image) -> bool:
    """True when the EXIF orientation turns the image a quarter (width and height swap)."""
    try:
        return image.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    except Exception:  # a broken EXIF block: take the image as stored
        return False


def _to_srgb(image: Image.Image) -> Image.Image:
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
