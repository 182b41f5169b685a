"""The build: read an issue, render the asked formats, write ``dist/<MONTH>/``.

This is the only module that writes outputs.  Every file is written to a
temporary file in the same folder and renamed into place, so a failed build
never leaves a half-written file behind.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from publisher import render
from publisher.diagnostics import Diagnostics
from publisher.errors import PublisherError, UsageError
from publisher.model import Month
from publisher.reader import read_issue
from publisher.render.base import BuildContext, Output

log = logging.getLogger(__name__)
progress = logging.getLogger("publisher.progress")


@dataclass(frozen=True)
class Paths:
    """Where sources, layouts and outputs live (the project's top level by default)."""

    issues: Path = Path("issues")
    layouts: Path = Path("layouts")
    dist: Path = Path("dist")


def build(month: Month, paths: Paths, formats: Sequence[str] | None = None,
          diag: Diagnostics | None = None, *, strict: bool = False) -> list[Path]:
    """Build ``formats`` (all that exist when ``None``) of one issue; return written paths."""
    diag = diag if diag is not None else Diagnostics()
    wanted = list(formats) if formats else list(render.formats())
    unknown = [f for f in wanted if f not in render.RENDERERS]
    if unknown:
        known = ", ".join(render.formats()) or "none yet"
        raise UsageError(f"unknown format {', '.join(unknown)} (available: {known})")
    progress.info("reading %s", month)
    issue = read_issue(paths.issues, month, diag)
    if strict and diag.warnings:
        raise PublisherError(f"{len(diag.warnings)} warning(s), and --strict fails on them")
    if not wanted:
        progress.info("%s is valid; no output formats are implemented yet", month)
        return []
    context = BuildContext(issue=issue, layouts=paths.layouts)
    outputs: list[Output] = []
    for name in wanted:
        progress.info("rendering %s", name)
        outputs.extend(render.renderer(name).render(context))
    target = paths.dist / str(month)
    return [write_atomic(target / out.name, out.data) for out in outputs]


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    progress.info("wrote %s (%s)", path, human_size(len(data)))
    return path


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.2f} MB"
