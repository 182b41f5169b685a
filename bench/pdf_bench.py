"""Benchmark (not a test): both PDFs of an issue vs one plain WeasyPrint render.

    .venv/bin/python bench/pdf_bench.py 2023-08

Measured in the same process, each twice (the better time counts), after one
warm-up: ``baseline`` is ``weasyprint.HTML(string=print_html).write_pdf()`` with
the same stylesheets, fetcher and fonts; ``both`` is PdfRenderer.render (one
layout, the print PDF/X-4 and the tagged, downsampled reader PDF).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import weasyprint
from weasyprint.text.fonts import FontConfiguration

from publisher.diagnostics import Diagnostics
from publisher.model import Month
from publisher.reader import read_issue
from publisher.render.base import BuildContext
from publisher.render.pdf import FORMAT, PdfRenderer, page_css, print_html
from publisher.render.pdfkit.fetcher import ConfinedFetcher

log = logging.getLogger("bench")
ROOT = Path(__file__).resolve().parent.parent


def context(month: str) -> BuildContext:
    issue = read_issue(ROOT / "issues", Month.parse(month), Diagnostics())
    return BuildContext(issue=issue, layouts=ROOT / "layouts")


def baseline(month: str) -> int:
    ctx = context(month)
    html = print_html(ctx)
    layout = ctx.layouts / FORMAT
    fetcher = ConfinedFetcher([ctx.issue.source_dir, ctx.layouts])
    fonts = FontConfiguration()
    css = [weasyprint.CSS(filename=str(layout / "print.css"), url_fetcher=fetcher,
                          font_config=fonts),
           weasyprint.CSS(string=page_css(ctx.issue.publication.trim), font_config=fonts,
                          base_url=layout.resolve().as_uri() + "/", url_fetcher=fetcher)]
    data = weasyprint.HTML(string=html, base_url=ctx.issue.source_dir.resolve().as_uri() + "/",
                           url_fetcher=fetcher).write_pdf(stylesheets=css, font_config=fonts)
    return len(data)


def both(month: str) -> int:
    outputs = PdfRenderer().render(context(month))
    return sum(len(o.data) for o in outputs)


def timed(fn, month: str) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    best, size = float("inf"), 0
    for _ in range(2):
        start = time.perf_counter()
        size = fn(month)
        best = min(best, time.perf_counter() - start)
    return best, size


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("weasyprint", "publisher"):
        logging.getLogger(name).setLevel(logging.ERROR)
    month = sys.argv[1] if len(sys.argv) > 1 else "2023-08"
    both(month)  # warm-up: imports, font files, hyphenation dictionaries
    base, base_size = timed(baseline, month)
    total, total_size = timed(both, month)
    log.info("one plain WeasyPrint render of the print HTML: %.2f s (%d bytes)", base, base_size)
    log.info("both PDFs (one layout, two PDF writes):      %.2f s (%d bytes)", total, total_size)
    log.info("ratio: %.2fx (goal: at most 1.3x)", total / base)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
