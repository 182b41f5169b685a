"""Benchmark (not a test): both PDFs of an issue vs one plain WeasyPrint render.

    .venv/bin/python bench/pdf_bench.py 2023-08 [ROUNDS]

Measured in the same process, interleaved, best of N rounds (default 5), after one
warm-up; wall and CPU time (the machine may be shared).  ``baseline`` is
``weasyprint.HTML(string=print_html).write_pdf()`` with the same stylesheets,
fetcher and fonts; ``both`` is PdfRenderer.render (one layout, the print PDF/X-4
and the tagged, downsampled reader PDF).
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
from publisher.render.base import BuildContext
from publisher.render.pdf.fetcher import ConfinedFetcher
from publisher.render.pdf.renderer import FORMAT, PdfRenderer, page_css, print_html
from publisher.source.reader import read_issue

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
    css = [weasyprint.CSS(string=(layout / "print.css").read_text(encoding="utf-8"),
                          base_url=fetcher.base_url(layout), url_fetcher=fetcher,
                          font_config=fonts),
           weasyprint.CSS(string=page_css(ctx.issue.publication.trim), font_config=fonts,
                          base_url=fetcher.base_url(layout), url_fetcher=fetcher)]
    data = weasyprint.HTML(string=html, base_url=fetcher.base_url(ctx.issue.source_dir),
                           url_fetcher=fetcher).write_pdf(stylesheets=css, font_config=fonts)
    return len(data)


def both(month: str) -> int:
    outputs = PdfRenderer().render(context(month))
    return sum(len(o.data) for o in outputs)


def timed(fn, month: str) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    size = fn(month)
    return time.perf_counter() - wall, time.process_time() - cpu, size


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("weasyprint", "publisher"):
        logging.getLogger(name).setLevel(logging.ERROR)
    month = sys.argv[1] if len(sys.argv) > 1 else "2023-08"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    both(month)  # warm-up: imports, font files, hyphenation dictionaries
    runs: dict[str, list[tuple[float, float, int]]] = {"baseline": [], "both": []}
    for _ in range(rounds):  # interleaved, so a busy machine slows both alike
        runs["baseline"].append(timed(baseline, month))
        runs["both"].append(timed(both, month))
    best = {name: (min(r[0] for r in rs), min(r[1] for r in rs), rs[0][2])
            for name, rs in runs.items()}
    (bw, bc, bs), (tw, tc, ts) = best["baseline"], best["both"]
    log.info("%s, best of %d, wall / CPU seconds:", month, rounds)
    log.info("  one plain WeasyPrint render of the print HTML: %.2f / %.2f s (%d bytes)",
             bw, bc, bs)
    log.info("  both PDFs (one layout, two PDF writes):        %.2f / %.2f s (%d bytes)",
             tw, tc, ts)
    log.info("  ratio: %.2fx wall, %.2fx CPU (goal: at most 1.3x)", tw / bw, tc / bc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
