"""Image references of a source: resolved inside the issue, checked, measured."""

from __future__ import annotations

from pathlib import Path

from PIL import UnidentifiedImageError

from publisher import imaging
from publisher import model as m
from publisher.diagnostics import Diagnostics
from publisher.sources import resolve_inside

SUPPORTED = {"JPEG", "PNG", "GIF", "WEBP"}


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
    if not path.is_file():
        diag.error(f"image '{reference}' not found in {issue_dir.name}/", source, line)
        return None
    if not alt.strip():
        diag.error(f"image '{reference}' has no alt text: describe it for readers who cannot "
                   "see it", source, line)
    try:
        fmt, width, height = imaging.measure(path)
    except (UnidentifiedImageError, OSError):
        diag.error(f"image '{reference}' is not a readable image file", source, line)
        return None
    if fmt not in SUPPORTED:
        diag.error(f"image '{reference}' is {fmt}: use JPEG, PNG, GIF or WebP", source, line)
        return None
    problem = imaging.size_problem(width, height)
    if problem is not None:
        report = diag.error if problem.error else diag.warn
        report(f"image '{reference}' {problem.message}", source, line)
        if problem.error:
            return None
    return m.Image(path=path, src=reference, alt=alt.strip(), width=width, height=height,
                   caption=caption, credit=credit)
