"""The EPUB's binary parts: images fit for reading devices, and a reproducible zip."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from datetime import date

from publisher import model as m
from publisher.errors import PublisherError
from publisher.render.confine import Carried
from publisher.source import raster as imaging

MAX_EDGE = 1600  # px on the long edge: enough for any reading device
JPEG_QUALITY = 80
KEEP_BYTES = 200_000  # an image already small and within MAX_EDGE goes in as it is

_MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif"}
#: The files a layout may have packed into the EPUB (EPUB 3 core media types).
LAYOUT_MEDIA_TYPES = {
    ".css": "text/css", ".gif": "image/gif", ".jpeg": "image/jpeg", ".jpg": "image/jpeg",
    ".png": "image/png", ".svg": "image/svg+xml", ".webp": "image/webp", ".otf": "font/otf",
    ".ttf": "font/ttf", ".woff": "font/woff", ".woff2": "font/woff2",
}
_EXTENSIONS = {"JPEG": (".jpg", ".jpeg"), "PNG": (".png",), "GIF": (".gif",)}


@dataclass(frozen=True)
class Asset:
    href: str  # relative to the package document
    media_type: str
    data: bytes
    width: int
    height: int


def asset_href(image: m.Image) -> str:
    """A safe, stable name in the EPUB for an issue image (``images/lead.png``)."""
    parts = [re.sub(r"[^A-Za-z0-9._-]+", "-", p) for p in image.src.split("/")]
    parts = [p for p in parts if p not in ("", ".", "..")]
    name = "/".join(parts[1:] if parts and parts[0] == "images" else parts)
    return f"images/{name}"


def fit_image(image: m.Image) -> Asset:
    """``image`` scaled to at most :data:`MAX_EDGE` px and compressed, metadata dropped.

    A small JPEG, PNG or GIF in sRGB with no metadata (no EXIF: no turn, no GPS; no
    ICC profile) goes in as it is.
    """
    with imaging.opened(image.path) as img:
        fmt, size = img.format, img.size
        plain = (img.mode in ("RGB", "RGBA", "L", "P") and not img.getexif()
                 and "icc_profile" not in img.info)
    if (fmt in _MEDIA_TYPES and max(size) <= MAX_EDGE and plain
            and image.path.stat().st_size <= KEEP_BYTES):
        # Named for what it is: a PNG saved as photo.jpg goes in as photo.png.
        href = _with_extension(asset_href(image), _EXTENSIONS[fmt])
        return Asset(href, _MEDIA_TYPES[fmt], image.path.read_bytes(), *size)
    frame = imaging.fit(imaging.load(image.path, within=(MAX_EDGE, MAX_EDGE)),
                        MAX_EDGE, MAX_EDGE)
    encoded = imaging.encode(frame, quality=JPEG_QUALITY, lossless=fmt in ("PNG", "GIF"))
    wanted = (".jpg", ".jpeg") if encoded.subtype == "jpeg" else (f".{encoded.extension}",)
    href = _with_extension(asset_href(image), wanted)
    return Asset(href, f"image/{encoded.subtype}", encoded.data, encoded.width, encoded.height)


def layout_assets(carried: list[Carried], taken: set[str]) -> list[Asset]:
    """The layout files the EPUB's layout refers to, packed where it refers to them
    (``style.css`` is ``css/style.css``: its ``url(img/x.png)`` is ``css/img/x.png``)."""
    assets = []
    for item in carried:
        if item.href in taken:
            raise PublisherError(f"'{item.href}' would replace a file of the EPUB itself: "
                                 "give the layout file another name", item.source, item.line)
        media = LAYOUT_MEDIA_TYPES[item.path.suffix.lower()]
        assets.append(Asset(item.href, media, item.path.read_bytes(), 0, 0))
    return assets


def _with_extension(href: str, wanted: tuple[str, ...]) -> str:
    """``href`` if it ends in one of ``wanted``, else with the first of them."""
    if href.lower().endswith(wanted):
        return href
    stem, dot, _ = href.rpartition(".")
    return f"{stem if dot else href}{wanted[0]}"


def reproducible_zip(data: bytes, when: date) -> bytes:
    """``data`` (an EPUB as ebooklib wrote it) rewritten byte for byte reproducibly.

    ``mimetype`` first and stored, then ``META-INF/``, then every other entry by
    name; every entry dated ``when`` with fixed permissions, deflated at level 9.
    """
    # A ZIP entry's date runs from 1980 to 2107 (its year is 7 bits from 1980).
    stamp = (min(max(when.year, 1980), 2107), when.month, when.day, 0, 0, 0)
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        entries = {info.filename: source.read(info) for info in source.infolist()}
    order = sorted(entries, key=lambda name: (name != "mimetype",
                                              not name.startswith("META-INF/"), name))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in order:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.create_system = 3  # Unix
            info.external_attr = 0o100644 << 16
            if name == "mimetype":
                info.compress_type = zipfile.ZIP_STORED
                target.writestr(info, entries[name])
            else:
                info.compress_type = zipfile.ZIP_DEFLATED
                target.writestr(info, entries[name], compresslevel=9)
    return out.getvalue()
