"""Finishers: changes to WeasyPrint's ``pydyf.PDF`` right before it is written.

* print: the BleedBox is set to the trim plus the configured bleed (the CSS bleed
  is larger, to leave room for the crop marks outside the bleed), and the XMP
  ``DocumentID`` WeasyPrint draws at random for PDF/X becomes a name-based UUID.
* reader: every page is cut to its TrimBox (the marks and bleed fall outside
  the MediaBox) and the print output intent is dropped.
"""

from __future__ import annotations

import re
import uuid
import zlib
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import pydyf

_DOCUMENT_ID = re.compile(rb"xmp\.did:[0-9a-f-]{36}")
PT_PER_MM = 72 / 25.4
# zlib's default level: pydyf's level 9 costs about three times the CPU (most of it on
# the 0.5 MB press profile) for files about 1 % smaller.
DEFLATE_LEVEL = 6

Finisher = Callable[[Any, pydyf.PDF], None]


def _pages(pdf: pydyf.PDF) -> Iterator[pydyf.Dictionary]:
    for obj in pdf.objects:
        if isinstance(obj, pydyf.Dictionary) and obj.get("Type") == "/Page":
            yield obj


def _metadata(pdf: pydyf.PDF) -> pydyf.Stream | None:
    ref = pdf.catalog.get("Metadata")
    if ref is None:
        return None
    number = int(bytes(ref).split()[0]) if isinstance(ref, bytes) else None
    for obj in pdf.objects:
        if isinstance(obj, pydyf.Stream) and (
                obj.number == number or obj.extra.get("Type") == "/Metadata"):
            return obj
    return None


def compress_once(pdf: pydyf.PDF) -> None:
    """Deflate every stream now, once, at :data:`DEFLATE_LEVEL`.

    With a file identifier (PDF/X needs one) pydyf serialises every object twice,
    once to hash it and once to write it, and so deflates every stream twice at
    level 9; after this both passes only copy bytes.
    """
    for obj in pdf.objects:
        if isinstance(obj, pydyf.Stream) and obj.compress:
            raw = b"\n".join(pydyf._to_bytes(item) for item in obj.stream)
            deflate = zlib.compressobj(level=DEFLATE_LEVEL)
            obj.stream = [deflate.compress(raw) + deflate.flush()]
            obj.extra["Filter"] = "/FlateDecode"
            obj.compress = False


def _default_rgb(pdf: pydyf.PDF) -> None:
    """Tie DeviceRGB (CSS colours, RGB photos) to sRGB with a ``DefaultRGB`` colour space.

    PDF/X-4 accepts RGB only when it is device-independent; WeasyPrint writes
    DeviceRGB.  Every page shares one resources dictionary, whose ColorSpace
    dictionary gets ``/DefaultRGB [/ICCBased <sRGB>]`` (WeasyPrint's own sRGB profile).
    """
    spaces = None
    for obj in pdf.objects:
        if isinstance(obj, pydyf.Dictionary) and "ColorSpace" in obj and "XObject" in obj:
            ref = obj["ColorSpace"]
            number = int(bytes(ref).split()[0]) if isinstance(ref, bytes) else None
            spaces = pdf.objects[number] if number is not None else None
            break
    if not isinstance(spaces, pydyf.Dictionary):
        return
    srgb = (resources.files("weasyprint.pdf") / "sRGB2014.icc").read_bytes()
    profile = pydyf.Stream([srgb], pydyf.Dictionary({"N": 3}), compress=True)
    pdf.add_object(profile)
    spaces["DefaultRGB"] = pydyf.Array(("/ICCBased", profile.reference))


def print_finisher(bleed_mm: float, document_key: str) -> Finisher:
    bleed = bleed_mm * PT_PER_MM
    document_id = uuid.uuid5(uuid.NAMESPACE_URL, document_key)

    def finish(document: Any, pdf: pydyf.PDF) -> None:
        _default_rgb(pdf)
        for page in _pages(pdf):
            left, top, right, bottom = page["TrimBox"]
            page["BleedBox"] = pydyf.Array([left - bleed, top - bleed,
                                            right + bleed, bottom + bleed])
        stream = _metadata(pdf)
        if stream is not None:
            stream.stream = [_DOCUMENT_ID.sub(f"xmp.did:{document_id}".encode(), chunk)
                             if isinstance(chunk, bytes) else chunk
                             for chunk in stream.stream]
        compress_once(pdf)

    return finish


def reader_finisher() -> Finisher:
    def finish(document: Any, pdf: pydyf.PDF) -> None:
        for page in _pages(pdf):
            trim = page["TrimBox"]
            page["MediaBox"] = pydyf.Array(list(trim))
            page.pop("BleedBox", None)
        pdf.catalog.pop("OutputIntents", None)
        compress_once(pdf)

    return finish
