"""Image references of a source: resolved inside the issue, checked, measured."""

from __future__ import annotations

from pathlib import Path

from PIL import Image as PILImage
from PIL import ImageFile, UnidentifiedImageError

from publisher import model as m
from publisher.diagnostics import Diagnostics
from publisher.errors import read_error
from publisher.source import raster as imaging
from publisher.source.catalog import ignored_name
from publisher.source.files import file_in_the_way, resolve_inside

SUPPORTED = {"JPEG", "PNG", "GIF", "WEBP"}
#: What an editor is told to use instead of a format the formats cannot show.
USE_INSTEAD = "use JPEG, PNG, GIF or WebP"


def load_image(
    issue_dir: Path,
    reference: str,
    alt: str,
    caption: tuple[m.Inline, ...],
    credit: str,
    source: Path,
    line: int | None,
    diag: Diagnostics,
) -> m.Image | None:
    """An :class:`~publisher.model.Image`, or ``None`` after reporting why not."""
    path, problem = resolve_inside(issue_dir, reference)
    if path is None:
        diag.error(f"image '{reference}' {problem}", source, line)
        return None
    ignored = [part for part in path.relative_to(issue_dir.resolve()).parts if ignored_name(part)]
    if ignored:
        diag.error(f"image '{reference}' is named like a file an editor's system leaves behind "
                   f"('{ignored[0]}', which the build ignores): rename it", source, line)
        return None
    try:
        is_file = path.is_file()
        if is_file:
            with path.open("rb"):
                pass
    except OSError as exc:  # its folder cannot be searched, or the file read
        diag.error(f"image '{reference}': {read_error(exc, path).message}", source, line)
        return None
    if not is_file:
        blocker = file_in_the_way(issue_dir, path)
        if blocker is not None:
            diag.error(f"image '{reference}': {blocker}", source, line)
        else:
            diag.error(f"image '{reference}' not found in {issue_dir.name}/", source, line)
        return None
    if not alt.strip():
        diag.error(f"image '{reference}' has no alt text: describe it for readers who cannot "
                   "see it", source, line)
    try:
        fmt, width, height = imaging.measure(path)  # the header only
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):  # Pillow refuses it
        diag.error(f"image '{reference}' {unreadable(path)}", source, line)
        return None
    if fmt not in SUPPORTED:
        diag.error(f"image '{reference}' is {fmt}: {USE_INSTEAD}", source, line)
        return None
    problem = imaging.size_problem(width, height)
    if problem is not None:
        report = diag.error if problem.error else diag.warn
        report(f"image '{reference}' {problem.message}", source, line)
        if problem.error:
            return None  # never decoded: that is the bomb
    damage = _decoded(path)
    if damage:
        diag.error(f"image '{reference}' is damaged ({damage}): export or copy it again",
                   source, line)
        return None
    return m.Image(path=path, src=reference, alt=alt.strip(), width=width, height=height,
                   caption=caption, credit=credit)


def format_problem(path: Path) -> str | None:
    """What is wrong with the format of the image file at ``path`` (its header only), said
    after its reference, or ``None`` for a format every output shows."""
    try:
        fmt, _width, _height = imaging.measure(path)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):  # Pillow refuses it
        return unreadable(path)
    return None if fmt in SUPPORTED else f"is {fmt}: {USE_INSTEAD}"


def unreadable(path: Path) -> str:
    """What to say of an image file Pillow refuses: an SVG is named as one."""
    if _is_svg(path):  # no raster: Pillow cannot read it, and the formats take none
        return f"is SVG, a vector drawing: {USE_INSTEAD} (export it as PNG)"
    return "is not a readable image file"


def _is_svg(path: Path) -> bool:
    """Whether the file Pillow refused is an SVG drawing (by its name, or its start: an
    SVG saved under another name)."""
    if path.suffix.lower() in (".svg", ".svgz"):
        return True
    try:
        with path.open("rb") as file:
            head = file.read(4096)
    except OSError:
        return False
    start = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    return start.startswith(b"<svg") or (start.startswith((b"<?xml", b"<!--", b"<!doctype"))
                                         and b"<svg" in start)


#: What decoding each image file found, by (path, size, modification time, inode): a file
#: referred to many times (the cover as a lead image), or read again by the preview after
#: an edit elsewhere, is decoded once.
_DECODED: dict[tuple[str, int, int, int], str | None] = {}


def _decoded(path: Path) -> str | None:
    """Why the image at ``path`` cannot be decoded, or ``None`` (decoded once per file)."""
    try:
        stat = path.stat()
        key: tuple[str, int, int, int] | None = (str(path), stat.st_size, stat.st_mtime_ns,
                                                 stat.st_ino)
    except OSError:
        key = None
    if key is not None and key in _DECODED:
        return _DECODED[key]
    try:
        with imaging.opened(path) as img:
            damage = _damage(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):  # Pillow refuses it
        damage = "it cannot be decoded"
    if key is not None:
        _DECODED[key] = damage
    return damage


def _damage(img: PILImage.Image) -> str | None:
    """Why the opened image's pixels cannot be decoded (a file cut short or corrupt), or
    ``None``.

    Opening reads only the header; the renderers decode the whole file, so a file cut
    short would fail there, far from the line that refers to it.
    """
    # WeasyPrint sets Pillow's LOAD_TRUNCATED_IMAGES for the whole process when imported:
    # a file cut short would then decode silently, half grey.
    lenient = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        img.load()
    except (OSError, SyntaxError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = lenient
    return None
