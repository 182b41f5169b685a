"""The build: read an issue, render the asked formats, write ``dist/<MONTH>/``.

This is the only module that writes outputs.  Every file is written to a
temporary file in the same folder and renamed into place, and nothing is
written until every format has rendered, so a failed build leaves ``dist/``
as it was.  The cache (:mod:`publisher.build.cache`) is consulted first, before the
reader or any renderer is imported: an unchanged rebuild writes nothing.

Formats render in parallel: a forked worker renders the email from the start
and prepares the EPUB (images, cover, content documents) while this process
lays out the print pages; the worker then finishes the EPUB with the print
layout this process hands it (a :class:`~publisher.render.base.PrintLayout`,
``context.print_layout`` there) while this process writes the two PDFs (the
reader's in a forked child of its own).  Which format lays out the print pages
and which follow them, the formats declare (:mod:`publisher.render`).
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from publisher import render
from publisher.build.atomic import Staged, write_atomic
from publisher.build.cache import BuildCache, format_keys
from publisher.build.outputs import month_folder
from publisher.diagnostics import Diagnostics
from publisher.errors import PublisherError, SourceErrors, UsageError, disk_error, human_size
from publisher.model import Month
from publisher.render.base import BuildContext, Output, PrintLayout
from publisher.render.forked import Forked, Inbox, can_fork

log = logging.getLogger(__name__)
progress = logging.getLogger("publisher.progress")

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
    unknown = [f for f in wanted if f not in render.FORMATS]
    if unknown:
        known = ", ".join(render.formats()) or "none yet"
        raise UsageError(f"unknown format {', '.join(unknown)} (available: {known})")

    target = month_folder(paths.dist, month)
    cache = BuildCache.load(paths.dist, str(month))
    # The format whose print layout others follow (the EPUB's page-list gives the printed
    # page numbers): keyed too, to find the layout kept from its last build.
    following = {f for f in wanted if _follows(f)}
    layout_format = render.print_format().name if following else None
    keyed = [*wanted, layout_format] if layout_format else wanted
    keys = format_keys(paths.issues, paths.layouts, str(month), keyed, cache.hasher)
    stale = [f for f in wanted
             if force or (strict and cache.formats.get(f, {}).get("warnings"))
             or not cache.fresh(f, keys[f], target)]
    if not stale:
        progress.info("%s is up to date (%s); --force rebuilds it", month, ", ".join(wanted))
        return []

    # After the cache: the reader imports a lot.
    from publisher.build.check import check_issue
    from publisher.render.templates import layout_errors

    progress.info("reading %s", month)
    issue = check_issue(paths.issues, paths.layouts, month, diag,
                        glyphs=any(render.declared(f).glyph_check for f in stale))
    diag.raise_if_strict(strict)

    context = BuildContext(issue=issue, layouts=paths.layouts)
    # The print layout, kept from the build that laid out these very inputs: an EPUB
    # rebuilt alone (its own layout changed) need not lay out the print pages.
    known = (cache.print_layout(layout_format, keys[layout_format])
             if layout_format and layout_format not in stale and not force else None)
    laid_out_too = ([layout_format] if layout_format and following & set(stale)
                    and known is None else [])
    said: list[str] = []  # the renderers' warnings (the email's budget cuts, the preflight)
    with paused_gc(), layout_errors(), renderer_warnings(said):
        check_layouts(context, [*stale, *laid_out_too])
        outputs = render_formats(context, stale, parallel=parallel, known_layout=known,
                                 said=said)
        laid_out = None  # kept with the print PDF's key, for its followers built alone
        if any(_lays_out(f) for f in stale):
            laid_out = (context.print_layout if context.print_layout is not None
                        else render.print_layout(context))
    for message in said:  # through Diagnostics: shown with the others, fatal under --strict
        diag.warn(message)
    diag.raise_if_strict(strict)

    # Every output written aside first, then all renamed into place: a full disk or a
    # read-only dist/ leaves every earlier output as it was (publisher.build.atomic).
    with Staged() as staged:
        for fmt in stale:
            for out in outputs[fmt]:
                staged.write(target / out.name, out.data)
        written = staged.commit()
    data = {target / out.name: out.data for fmt in stale for out in outputs[fmt]}
    for path in written:
        progress.info("wrote %s (%s)", path, human_size(len(data[path])))
    for fmt in stale:
        hashes = {out.name: cache.hasher.remember(target / out.name, out.data)  # next: a stat
                  for out in outputs[fmt]}
        _remove_outputs(target, cache.outputs(fmt).keys() - hashes.keys())
        cache.record(fmt, keys[fmt], hashes, len(diag.warnings),
                     print_layout=laid_out if _lays_out(fmt) else None)
    write_atomic(cache.path, cache.dumps(), quiet=True)
    return written


def check_layouts(context: BuildContext, formats: Iterable[str]) -> None:
    """Every layout file these formats read refers only to files they may read
    (:mod:`publisher.render.confine`), checked here before any rendering starts."""
    from publisher.render import confine

    problems: list[PublisherError] = []
    for name in dict.fromkeys(formats):
        policy = getattr(render.renderer(name), "layout_policy", None)
        try:
            if policy is not None:
                confine.checked(context.shared, policy(context))
        except SourceErrors as exc:
            problems += exc.errors
    if problems:
        raise SourceErrors(problems)


def _remove_outputs(target: Path, names: Iterable[str]) -> None:
    """Remove what a format wrote last time and not this time (the email's uncut web
    version once nothing is cut, an image no longer shown), and folders left empty."""
    for name in sorted(names):
        path = target / name
        try:
            path.unlink(missing_ok=True)
            progress.info("removed %s", path)
            for folder in path.parents:
                if folder == target or any(folder.iterdir()):
                    break
                folder.rmdir()
        except OSError as exc:
            raise disk_error(exc, path, "cannot remove") from None


def render_formats(context: BuildContext, formats: Sequence[str], *, parallel: bool = True,
                   known_layout: PrintLayout | None = None,
                   said: list[str] | None = None) -> dict[str, list[Output]]:
    """Render each format, the print layout here and the others beside it.

    A forked worker starts at once with the formats that need nothing of the
    print layout (the email), then prepares those that follow it (the EPUB's
    images, cover and documents); meanwhile this process lays out the print
    pages, hands their :class:`PrintLayout` to the worker, and writes the two PDFs
    from that layout.  ``known_layout`` is the print layout when it is known already
    (from the cache): then the print pages are not laid out for the followers.
    Either way ``context.print_layout`` holds it afterwards when a format followed it.
    ``said``: the list :func:`renderer_warnings` collects into; the worker's warnings
    are added to it.
    """
    if known_layout is not None:
        context.print_layout = known_layout
    here = [f for f in formats if _lays_out(f)]
    beside = [f for f in formats if f not in here]
    following = [f for f in beside if _follows(f)]
    nothing_to_overlap = not (here or following) or (known_layout is not None and not here)
    if not parallel or not can_fork() or not beside or nothing_to_overlap:
        ordered = [*here, *beside]  # the layout first: the followers reuse its pages
        return {name: _render(context, name) for name in ordered}
    results: dict[str, list[Output]] = {}
    said = said if said is not None else []
    with Forked(_render_beside, context, beside, said, what="the worker rendering "
                + ", ".join(beside)) as worker:
        if following:
            # The print pages are laid out once, here; the followers get their layout.
            context.print_layout = render.print_layout(context)
            worker.send(context.print_layout)
        for name in here:
            results[name] = _render(context, name)
        theirs, their_warnings = worker.result()
        results.update(theirs)
        said.extend(their_warnings)
    return {name: results[name] for name in formats}


def _render_beside(inbox: Inbox, context: BuildContext, formats: Sequence[str],
                   said: list[str]) -> tuple[dict[str, list[Output]], list[str]]:
    """The worker's part: independent formats, then the followers once the layout is in;
    with the warnings they gave (``said`` is the worker's copy of the collecting list)."""
    before = len(said)
    independent = [f for f in formats if not _follows(f)]
    following = [f for f in formats if _follows(f)]
    from publisher.render.templates import layout_errors

    with layout_errors():  # here, where the template's lines are known
        results = {name: _render(context, name) for name in independent}
        for name in following:
            prepare = getattr(render.renderer(name), "prepare", None)
            if prepare is not None:
                prepare(context)
        if following:
            layout = inbox()
            if not isinstance(layout, PrintLayout):
                raise TypeError(f"the worker was handed {type(layout).__name__}, not the "
                                "print layout")
            context.print_layout = layout
            results.update({name: _render(context, name) for name in following})
    return results, said[before:]


@contextlib.contextmanager
def renderer_warnings(said: list[str]) -> Iterator[None]:
    """The renderers' warnings (logged under ``publisher.render``: the email's budget
    cuts, the print preflight) collected into ``said`` instead of shown as they come, so
    that the build passes them through :class:`Diagnostics` (``--strict`` fails on them).
    Their other records go on to the project's handlers as before."""
    logger = logging.getLogger("publisher.render")
    collector = _Collector(said)
    propagated = logger.propagate
    logger.addHandler(collector)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(collector)
        logger.propagate = propagated


class _Collector(logging.Handler):
    def __init__(self, said: list[str]) -> None:
        super().__init__()
        self.said = said

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.WARNING:
            self.said.append(record.getMessage())
        else:
            logging.getLogger("publisher").handle(record)


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while the formats render.

    Laying out pages allocates millions of objects that live until the build
    ends; the collector would walk them again and again for the few cycles it
    could free (a tenth of the build time, measured).  Reference counting still
    frees everything else; the collector runs again afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _lays_out(name: str) -> bool:
    """Format ``name`` lays out the print pages (the others may follow them)."""
    return render.declared(name).lays_out_print


def _follows(name: str) -> bool:
    """Format ``name`` follows the print layout (it needs ``context.print_layout``)."""
    return render.declared(name).follows_print


def _render(context: BuildContext, name: str) -> list[Output]:
    progress.info("rendering %s", name)
    if _follows(name) and context.print_layout is None:  # not handed over: laid out here
        context.print_layout = render.print_layout(context)
    return render.renderer(name).render(context)
