"""Benchmark (not a test): the EPUB step of one issue beside ``pandoc -o x.epub``.

    .venv/bin/python bench/epub_vs_pandoc.py [MONTH] [--runs N]

The EPUB step is timed from the document model (and the print page map, which
the print layout or a cache provides, so it is not timed here) to the EPUB
bytes: templates, images, cover, pagination, packaging.  pandoc is run on the
same article text (the issue's Markdown files, with their images), a whole
process start to finish, as a user would.  Both are measured in this run, the
median of N runs each.  pandoc is needed only here (``apt-get install pandoc``).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from publisher.model import Month
from publisher.render.base import BuildContext
from publisher.render.epub.renderer import build_epub
from publisher.render.html import block_id
from publisher.source.reader import read_issue

log = logging.getLogger("bench")
PROJECT = Path(__file__).resolve().parent.parent


def _timed(runs: int, action) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    """Median and first time of ``runs`` calls, and the last result."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times[0], result


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser()
    parser.add_argument("month", nargs="?", default="2023-08")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    issue = read_issue(PROJECT / "issues", Month.parse(args.month))
    context = BuildContext(issue=issue, layouts=PROJECT / "layouts")
    # A stand-in page map, as publisher.render.pdf.renderer.page_map would give it: a new
    # page every four blocks, so pagination is part of the measured work.
    pages: dict[str, str] = {}
    page = 3
    for article in issue.articles:
        pages[article.anchor] = str(page)
        for n, _ in enumerate(article.body, 1):
            pages[block_id(article, n)] = str(page + (n - 1) // 4)
        page += len(article.body) // 4 + 1

    def step() -> bytes:  # a fresh context each time: images and cover are made anew
        return build_epub(BuildContext(issue=issue, layouts=context.layouts), pages)

    ours, first, data = _timed(args.runs, step)
    assert isinstance(data, bytes)
    log.info("publisher EPUB step (%s): %.3f s median of %d (first, compiling the "
             "templates: %.3f s), %d bytes", args.month, ours, args.runs, first, len(data))

    pandoc = shutil.which("pandoc")
    if pandoc is None:
        log.error("pandoc is not installed (apt-get install pandoc): no comparison")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "x.epub"
        sources = [str(a.source) for a in issue.articles]
        command = [pandoc, "-f", "markdown", "-o", str(out), "--resource-path",
                   str(issue.source_dir), "--metadata", f"title={issue.title}", *sources]
        if issue.cover_image is not None:
            command[1:1] = ["--epub-cover-image", str(issue.cover_image.path)]
        theirs, _, _ = _timed(args.runs, lambda: subprocess.run(command, check=True,
                                                             capture_output=True))
        size = out.stat().st_size
    version = subprocess.run([pandoc, "--version"], capture_output=True, text=True,
                             check=True).stdout.splitlines()[0]
    log.info("%s -o x.epub (same articles): %.3f s median of %d, %d bytes",
             version, theirs, args.runs, size)
    log.info("ratio publisher/pandoc: %.2f", ours / theirs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
