"""An issue read and checked as far as it can be without rendering: what ``check`` runs,
and what ``build`` runs before it renders anything."""

from __future__ import annotations

from pathlib import Path

from publisher import model as m
from publisher.diagnostics import Diagnostics
from publisher.glyphs import check_issue_glyphs
from publisher.reader import read_issue


def check_issue(issues: Path, layouts: Path, month: m.Month, diag: Diagnostics) -> m.Issue:
    """The issue of ``month``, read and validated (its sources, then its text against the
    layout's fonts); raise with every error found."""
    issue = read_issue(issues, month, diag)
    check_issue_glyphs(issue, layouts, diag)
    diag.raise_if_errors()
    return issue
