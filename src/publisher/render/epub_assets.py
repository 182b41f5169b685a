"""The EPUB's binary parts: images fit for reading devices, and a reproducible zip."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from datetime import date

from PIL import Image as PILImage

from publisher import model as m

MAX_EDGE = 1600  # px on the long edge: enough for any reading device
JPEG_QUALITY = 80
KEEP_BYTES = 200_000  # an image already small and within MAX_EDGE goes in as it is

_MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif",
                "WEBP": "image/webp"}


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
    """``image`` scaled to at most :data:`MAX_EDGE` px and compressed, metadata dropped."""
    raw = image.path.read_bytes()
    with PILImage.open(io.BytesIO(raw)) as img:
        fmt = img.format or "PNG"
        if max(img.size) <= MAX_EDGE and len(raw) <= KEEP_BYTES and fmt in _MEDIA_TYPES:
            return Asset(asset_href(image), _MEDIA_TYPES[fmt], raw, *img.size)
        img.load()
        if fmt == "GIF" or fmt not in _MEDIA_TYPES:
            fmt = "PNG"
        frame = img.convert("RGB") if fmt == "JPEG" else img.copy()
    frame.thumbnail((MAX_EDGE, MAX_EDGE), PILImage.Resampling.LANCZOS)
    out = io.BytesIO()
    if fmt == "JPEG":
        frame.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=False)
    elif fmt == "WEBP":
        frame.save(out, "WEBP", quality=JPEG_QUALITY, method=4)
    else:
        frame.save(out, "PNG", optimize=True)
    href = asset_href(image)
    if fmt == "PNG" and not href.lower().endswith(".png"):
        href = href.rsplit(".", 1)[0] + ".png"
    return Asset(href, _MEDIA_TYPES[fmt], out.getvalue(), *frame.size)


def reproducible_zip(data: bytes, when: date) -> bytes:
    """``data`` (an EPUB as ebooklib wrote it) rewritten byte for byte reproducibly.

    ``mimetype`` first and stored, then ``META-INF/``, then every other entry by
    name; every entry dated ``when`` with fixed permissions, deflated at level 9.
    """
    stamp = (max(when.year, 1980), when.month, when.day, 0, 0, 0)
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
