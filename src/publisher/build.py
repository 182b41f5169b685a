"""The build: read an issue, render the asked formats, write ``dist/<MONTH>/``.

This is the only module that writes outputs.  Every file is written to a
temporary file in the same folder and renamed into place, and nothing is
written until every format has rendered, so a failed build leaves ``dist/``
as it was.  The cache (:mod:`publisher.cache`) is consulted first, before the
reader or any renderer is imported: an unchanged rebuild writes nothing.

Formats render in parallel where they are independent: the email in a
worker process, the PDFs and the EPUB (which reuses the print layout for its
page-list) in this one.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from publisher import render
from publisher.cache import BuildCache, format_keys
from publisher.diagnostics import Diagnostics
from publisher.errors import PublisherError, UsageError
from publisher.model import Month
from publisher.render.base import BuildContext, Output

log = logging.getLogger(__name__)
progress = logging.getLogger("publisher.progress")

#: Formats that share work run in one process, in this order.
GROUPS: tuple[tuple[str, ...], ...] = (("pdf", "epub"), ("email",))


@dataclass(frozen=True)
class Paths:
    """Where sources, layouts and outputs live (the project's top level by default)."""

    issues: Path = Path("issues")
    layouts: Path = Path("layouts")
    dist: Path = Path("dist")


def build(month: Month, paths: Paths, formats: Sequence[str] | None = None,
          diag: Diagnostics | None = None, *, strict: bool = False, force: bool = False,
          parallel: bool = True) -> list[Path]:
    """Build ``formats`` (all there are when ``None``) of one issue; return the written paths.

    ``force`` ignores the cache; ``parallel`` allows a worker process.
    """
    diag = diag if diag is not None else Diagnostics()
    wanted = list(dict.fromkeys(formats)) if formats else list(render.formats())
    unknown = [f for f in wanted if f not in render.RENDERERS]
    if unknown:
        known = ", ".join(render.formats()) or "none yet"
        raise UsageError(f"unknown format {', '.join(unknown)} (available: {known})")

    target = paths.dist / str(month)
    cache = BuildCache.load(paths.dist, str(month))
    keys = format_keys(paths.issues, paths.layouts, str(month), wanted, cache.hasher)
    stale = [f for f in wanted
             if force or (strict and cache.formats.get(f, {}).get("warnings"))
             or not cache.fresh(f, keys[f], target)]
    if wanted and not stale:
        progress.info("%s is up to date (%s); --force rebuilds it", month, ", ".join(wanted))
        return []

    from publisher.reader import read_issue  # after the cache: the reader imports a lot

    progress.info("reading %s", month)
    issue = read_issue(paths.issues, month, diag)
    if strict and diag.warnings:
        raise PublisherError(f"{len(diag.warnings)} warning(s), and --strict fails on them")
    if not wanted:
        progress.info("%s is valid; no output formats are implemented yet", month)
        return []

    context = BuildContext(issue=issue, layouts=paths.layouts)
    outputs = render_formats(context, stale, parallel=parallel)

    written = []
    for fmt in stale:
        hashes = {}
        for out in outputs[fmt]:
            written.append(write_atomic(target / out.name, out.data))
            hashes[out.name] = hashlib.sha256(out.data).hexdigest()
        cache.record(fmt, keys[fmt], hashes, len(diag.warnings))
    for path in written:
        cache.hasher.file(path)  # remember the outputs' stat, so the next check is cheap
    write_atomic(cache.path, cache.dumps(), quiet=True)
    return written


def render_formats(context: BuildContext, formats: Sequence[str], *,
                   parallel: bool = True) -> dict[str, list[Output]]:
    """Render each format; independent groups of formats in parallel processes."""
    groups = [tuple(f for f in group if f in formats) for group in GROUPS]
    groups = [g for g in groups if g]
    grouped = {f for g in groups for f in g}
    groups += [(f,) for f in formats if f not in grouped]
    if not parallel or len(groups) == 1 or os.cpu_count() == 1:
        results: dict[str, list[Output]] = {}
        for group in groups:
            results.update(_render_group(context, group))
        return results
    # fork: the worker inherits the model already read; nothing heavy is imported yet.
    with ProcessPoolExecutor(max_workers=len(groups) - 1,
                             mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(_render_group, context, group) for group in groups[1:]]
        results = _render_group(context, groups[0])
        for future in futures:
            results.update(future.result())
    return results


def _render_group(context: BuildContext, formats: tuple[str, ...]) -> dict[str, list[Output]]:
    results = {}
    for name in formats:
        progress.info("rendering %s", name)
        results[name] = render.renderer(name).render(context)
    return results


def write_atomic(path: Path, data: bytes, *, quiet: bool = False) -> Path:
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
    if not quiet:
        progress.info("wrote %s (%s)", path, human_size(len(data)))
    return path


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.2f} MB"
