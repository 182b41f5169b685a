"""The archive: every issue before a month, newest first.

An *archive-only* issue is an earlier issue whose folder holds only
``issue.toml`` (its month, cover story, optional cover image and the URLs of
its already published PDF and EPUB).  Full issues appear in later archives
too, with download links derived from the public base URL.
"""

from __future__ import annotations

from pathlib import Path

from publisher.diagnostics import Diagnostics
from publisher.model import Archive, ArchiveEntry, Month, Publication
from publisher.source.catalog import (
    ISSUE_FILE,
    articles_problem,
    cover_reference,
    earlier_issues,
    is_archive_only,
)
from publisher.source.files import (
    check_keys,
    file_in_the_way,
    line_of_key,
    load_toml,
    resolve_inside,
    string_field,
)
from publisher.source.images import format_problem

ARCHIVE_ONLY_KEYS = ("month", "cover_story", "cover_image", "pdf_url", "epub_url", "page_url")


def read_archive(
    root: Path, month: Month, publication: Publication, diag: Diagnostics
) -> Archive:
    """The archive as of ``month``: every earlier issue, newest first."""
    entries = []
    for earlier, folder in earlier_issues(root, month):
        entry = read_entry(folder, earlier, publication, diag)
        if entry is not None:
            entries.append(entry)
    return Archive(tuple(entries))


def read_entry(
    folder: Path, month: Month, publication: Publication, diag: Diagnostics
) -> ArchiveEntry | None:
    """What the archive says of one earlier issue, from its ``issue.toml``."""
    path = folder / ISSUE_FILE
    loaded = load_toml(path, diag)
    if loaded is None:
        return None
    data, text = loaded
    problem = articles_problem(folder)
    if problem is not None:  # not taken for an archive-only issue: its keys would be wrong
        diag.error(problem, folder / "articles")
        return None
    archive_only = is_archive_only(folder)
    if archive_only:
        check_keys(data, ("month", "cover_story"), ARCHIVE_ONLY_KEYS[2:], path, text, diag)
    _check_month(data, month, path, text, diag)
    cover = None
    raw_cover = cover_reference(data)
    if raw_cover:
        cover, problem = resolve_inside(folder, str(raw_cover))
        if cover is None or not cover.is_file():
            line = line_of_key(text, "cover_image") or line_of_key(text, "file")
            blocker = file_in_the_way(folder, cover) if cover is not None else None
            what = f": {blocker}" if blocker else f" {problem or 'not found'}"
            diag.error(f"cover image '{raw_cover}'{what}", path, line)
            cover = None
        elif (problem := format_problem(cover)) is not None:  # found at check, not build
            line = line_of_key(text, "cover_image") or line_of_key(text, "file")
            diag.error(f"cover image '{raw_cover}' {problem}", path, line)
            cover = None
    # Archive-only issues may name where they were published; otherwise (and for
    # every issue built here) the downloads live under the public base URL.
    pdf_url = string_field(data, "pdf_url", path, text, diag) if archive_only else ""
    epub_url = string_field(data, "epub_url", path, text, diag) if archive_only else ""
    page_url = string_field(data, "page_url", path, text, diag) if archive_only else ""
    return ArchiveEntry(
        month=month,
        cover_story=string_field(data, "cover_story", path, text, diag),
        pdf_url=pdf_url or publication.download_url(month, "pdf"),
        epub_url=epub_url or publication.download_url(month, "epub"),
        cover_image=cover,
        page_url=page_url or publication.issue_url(month),
    )


def _check_month(data: dict, month: Month, path: Path, text: str, diag: Diagnostics) -> None:
    raw = data.get("month")
    if raw is None:
        return
    try:
        declared = Month.parse(str(raw))
    except ValueError as exc:
        diag.error(str(exc), path, line_of_key(text, "month"))
        return
    if declared != month:
        diag.error(f"month '{declared}' does not match the folder name '{month}'",
                   path, line_of_key(text, "month"))
