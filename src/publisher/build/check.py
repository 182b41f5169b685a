"""An issue read and checked as far as it can be without rendering: what ``check`` runs,
and what ``build`` runs before it renders anything."""

from __future__ import annotations

from pathlib import Path

from publisher import model as m
from publisher.diagnostics import Diagnostics
from publisher.errors import PublisherError
from publisher.render.glyphs import check_issue_glyphs
from publisher.source.reader import read_issue


def check_issue(issues: Path, layouts: Path, month: m.Month, diag: Diagnostics, *,
                glyphs: bool = True) -> m.Issue:
    """The issue of ``month``, read and validated (its sources, then, with ``glyphs``, its
    text against the layout's fonts); raise with every error found.

    ``glyphs`` when a format to build sets the text in the layout's own fonts (its
    declaration's ``glyph_check``: the PDFs, the EPUB's cover); the email is read in
    the reader's fonts."""
    if not layouts.is_dir():
        # Run outside the project's folder: its formats and the glyph check have no layout.
        raise PublisherError("no such folder: run publisher in the project's folder (where "
                             "layouts/ is) or give --layouts DIR", layouts)
    issue = read_issue(issues, month, diag)
    if glyphs:
        check_issue_glyphs(issue, layouts, diag)
        diag.raise_if_errors()
    return issue
