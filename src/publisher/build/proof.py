"""Proofs of a built print PDF: a PNG of every page, a contact sheet of spreads and,
for a month, the page-quality report.

``python -m publisher.build.proof --month 2023-08`` (what ``make proof`` runs) finds
the month's print PDF where the build wrote it (:mod:`publisher.build.outputs`) and
writes ``dist/2023-08/proof/page-01.png`` … (the whole sheet: bleed and crop marks
included) and ``contact-sheet.png`` (pages cut to the trim, set as the reader sees
them: the cover alone, then facing pages).  ``python -m publisher.build.proof
FILE.pdf`` proofs any print PDF.  Rasterised with pypdfium2.

With ``--month`` it also lays the issue out again (the print PDF's own layout, from
the source and ``layouts/``) and measures every page
(:mod:`publisher.render.pdf.quality`): it prints the table and writes
``proof/quality.json``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from publisher.build.builder import Paths
from publisher.build.outputs import month_outputs
from publisher.diagnostics import Diagnostics
from publisher.errors import PublisherError, SourceErrors
from publisher.model import Month
from publisher.render.base import BuildContext
from publisher.render.pdf.quality import Report, measure, write
from publisher.render.pdf.renderer import print_document
from publisher.source.config import load_publication
from publisher.source.reader import read_issue

log = logging.getLogger(__name__)

#: The proofs' folder, beside the PDF.
PROOF_DIR = "proof"


def print_pdf(paths: Paths, month: Month) -> Path:
    """Where the build writes the print PDF of ``month`` (named after the publication)."""
    diag = Diagnostics()
    publication = load_publication(paths.issues, diag)
    diag.raise_if_errors()
    assert publication is not None
    return month_outputs(paths.dist, publication, month).path("pdf", "print")


def proof_month(paths: Paths, month: Month, out_dir: Path | None = None,
                dpi: int = 100) -> list[Path]:
    """Proofs of the built print PDF of ``month``, in ``out_dir`` (default: ``proof/``
    beside it); an error when it is not built."""
    pdf = print_pdf(paths, month)
    if not pdf.is_file():
        raise PublisherError(f"no such PDF (build it first: make issue MONTH={month})", pdf)
    return proof(pdf, out_dir or pdf.parent / PROOF_DIR, dpi)


QUALITY_JSON = "quality.json"


def quality_month(paths: Paths, month: Month, out_dir: Path | None = None) -> Report:
    """The page-quality report of ``month``, laid out from its source as the build
    lays it out; written as JSON to ``out_dir`` (default: ``proof/`` beside the PDF)."""
    diag = Diagnostics()
    issue = read_issue(paths.issues, month, diag)
    diag.raise_if_errors()
    document = print_document(BuildContext(issue=issue, layouts=paths.layouts))
    report = measure(document, paths.layouts)
    write(report, (out_dir or print_pdf(paths, month).parent / PROOF_DIR) / QUALITY_JSON)
    return report


def proof(pdf_path: Path, out_dir: Path, dpi: int = 100, thumb_height: int = 420) -> list[Path]:
    import pypdfium2 as pdfium
    from PIL import Image, ImageDraw

    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("page-*.png"):
        old.unlink()
    pdf = pdfium.PdfDocument(str(pdf_path))
    written: list[Path] = []
    trimmed: list[Image.Image] = []
    scale = dpi / 72
    for index in range(len(pdf)):
        page = pdf[index]
        left, _bottom, _right, top = page.get_mediabox()
        t_left, t_bottom, t_right, t_top = page.get_trimbox()
        image = page.render(scale=scale).to_pil()
        path = out_dir / f"page-{index + 1:02d}.png"
        image.save(path, optimize=True)
        written.append(path)
        box = (round((t_left - left) * scale), round((top - t_top) * scale),
               round((t_right - left) * scale), round((top - t_bottom) * scale))
        crop = image.crop(box)
        trimmed.append(crop.resize((round(crop.width * thumb_height / crop.height), thumb_height)))
    pdf.close()

    # Spreads: the cover alone on the right, then (2, 3), (4, 5)…, the back cover alone.
    spreads: list[list[int | None]] = [[None, 0]]
    rest = list(range(1, len(trimmed)))
    while rest:
        pair: list[int | None] = [rest.pop(0), rest.pop(0) if rest else None]
        spreads.append(pair)
    page_w = trimmed[0].width
    gap, per_row = 24, 4
    rows = (len(spreads) + per_row - 1) // per_row
    sheet_w = per_row * (2 * page_w) + (per_row + 1) * gap
    sheet_h = rows * (thumb_height + gap + 18) + gap
    sheet = Image.new("RGB", (sheet_w, sheet_h), (205, 205, 200))
    draw = ImageDraw.Draw(sheet)
    for n, spread in enumerate(spreads):
        x = gap + (n % per_row) * (2 * page_w + gap)
        y = gap + (n // per_row) * (thumb_height + gap + 18)
        for side, index in enumerate(spread):
            if index is None:
                continue
            sheet.paste(trimmed[index], (x + side * page_w, y))
            draw.text((x + side * page_w + 4, y + thumb_height + 3), str(index + 1),
                      fill=(40, 40, 40))
    sheet_path = out_dir / "contact-sheet.png"
    sheet.save(sheet_path, optimize=True)
    written.append(sheet_path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m publisher.build.proof", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("pdf", type=Path, nargs="?", help="a print PDF")
    which.add_argument("--month", type=_month, metavar="YYYY-MM",
                       help="the print PDF the build wrote for this issue")
    parser.add_argument("--issues", type=Path, default=Paths.issues, metavar="DIR",
                        help=f"with --month: folder of issue sources (default: {Paths.issues})")
    parser.add_argument("--dist", type=Path, default=Paths.dist, metavar="DIR",
                        help=f"with --month: folder of outputs (default: {Paths.dist})")
    parser.add_argument("--layouts", type=Path, default=Paths.layouts, metavar="DIR",
                        help=f"with --month: folder of layouts (default: {Paths.layouts})")
    parser.add_argument("--out", type=Path,
                        help=f"output folder (default: {PROOF_DIR}/ beside the PDF)")
    parser.add_argument("--dpi", type=int, default=100)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("weasyprint").setLevel(logging.WARNING)  # not its every step
    try:
        if args.month:
            paths = Paths(issues=args.issues, layouts=args.layouts, dist=args.dist)
            written = proof_month(paths, args.month, args.out, args.dpi)
            report = quality_month(paths, args.month, args.out)
            log.info("%s", report.table())
        elif not args.pdf.is_file():
            raise PublisherError("no such PDF (build it first: make issue MONTH=...)", args.pdf)
        else:
            written = proof(args.pdf, args.out or args.pdf.parent / PROOF_DIR, args.dpi)
    except PublisherError as exc:  # no PDF; publication.toml missing or wrong (each error)
        for error in exc.errors if isinstance(exc, SourceErrors) else (exc,):
            log.error("error: %s", error)
        return 1
    log.info("wrote %d page proofs and %s", len(written) - 1, written[-1])
    return 0


def _month(text: str) -> Month:
    try:
        return Month.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


if __name__ == "__main__":
    raise SystemExit(main())
