"""The issues folder: which months there are, and what each earlier issue is made of.

The one place that knows the issues of a publication and their files: the
reader finds a month's folder here, the archive reads the earlier issues from
here, the site lists them, and the build cache keys a month on the files the
archive will read.  Standard library only (and the model), so that the cache
can use it before anything heavy is imported.

Paths keep the spelling of the ``issues`` folder they were given (relative
when it is relative), so that callers can name files relative to it.
"""

from __future__ import annotations

import tomllib
import unicodedata
from pathlib import Path
from typing import Any

from publisher.model import Month

ISSUE_FILE = "issue.toml"
#: What an editor's system leaves in a folder and nothing reads: the build cache ignores
#: them (a Finder's .DS_Store rebuilds nothing) and so the reader refuses to use one.
IGNORED_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", ".git", ".svn", ".hg",
                           "__pycache__"})


def ignored_name(name: str) -> bool:
    """Whether a file or folder of this name is an editor's system's litter: ``.DS_Store``,
    ``Thumbs.db``, macOS's ``._name`` resource forks, version control's folders."""
    return name in IGNORED_NAMES or name.startswith("._")


def issue_folders(root: Path) -> dict[Month, Path]:
    """Every ``YYYY-MM`` folder of ``root`` that holds an ``issue.toml``, oldest first."""
    found: dict[Month, Path] = {}
    if not root.is_dir():
        return found
    for child in sorted(root.iterdir()):
        if child.is_dir() and (child / ISSUE_FILE).is_file():
            try:
                found[Month.parse(child.name)] = child
            except ValueError:
                continue
    return found


def earlier_issues(root: Path, month: Month) -> list[tuple[Month, Path]]:
    """The issues before ``month``, newest first: the archive of ``month``."""
    folders = issue_folders(root)
    return [(m, folders[m]) for m in sorted((m for m in folders if m < month), reverse=True)]


def is_archive_only(folder: Path) -> bool:
    """True when the issue has no articles: it exists only in the archive."""
    return not (folder / "articles").is_dir()


def articles_problem(folder: Path) -> str | None:
    """What is wrong with the issue's ``articles`` when it is there but no folder (a file,
    a link to nothing), which would otherwise make the issue archive-only unsaid; else
    ``None``."""
    articles = folder / "articles"
    if articles.is_dir() or not (articles.is_symlink() or articles.exists()):
        return None
    what = "is a link that leads to no folder" if articles.is_symlink() else "is a file"
    return (f"{what} where the articles folder is expected: make it a folder of the "
            "issue's .md files (an issue without one is archive-only)")


def cover_reference(data: dict[str, Any]) -> str | None:
    """The cover image an ``issue.toml`` names (``cover_image = "…"`` or ``[cover_image]
    file = "…"``), as written, or ``None``."""
    raw = data.get("cover_image")
    if isinstance(raw, dict):
        raw = raw.get("file")
    return raw if isinstance(raw, str) and raw.strip() else None


def file_inside(folder: Path, reference: str) -> Path | None:
    """``folder / reference`` when it names an existing file inside ``folder`` (symlinks
    resolved), spelled under ``folder`` as given; else ``None``."""
    path = folder / reference.strip()
    try:
        inside = path.resolve().is_relative_to(folder.resolve())
        if inside and not path.exists():
            found = normalised_match(folder.resolve(), path.resolve().relative_to(
                folder.resolve()))
            path = folder / found.relative_to(folder.resolve()) if found is not None else path
    except (OSError, RuntimeError):  # a symlink loop
        return None
    return path if inside and path.is_file() else None


def archive_files(root: Path, month: Month) -> list[Path]:
    """The files the archive of ``month`` reads of the earlier issues: each one's
    ``issue.toml`` and its cover image (whose problems the reader reports)."""
    files: list[Path] = []
    for _, folder in earlier_issues(root, month):
        files.append(folder / ISSUE_FILE)
        try:
            data = tomllib.loads((folder / ISSUE_FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue  # the reader reports it; the key still covers issue.toml itself
        reference = cover_reference(data)
        cover = file_inside(folder, reference) if reference else None
        if cover is not None:
            files.append(cover)
    return files


def normalised_match(root: Path, relative: Path) -> Path | None:
    """The file ``root / relative`` names, its every part matched in NFC against the
    folder's listing; ``None`` when there is none (or more than one)."""
    here = root
    for part in relative.parts:
        try:
            if (here / part).exists():
                here = here / part
                continue
            names = [child.name for child in here.iterdir()]
        except OSError:
            return None
        wanted = unicodedata.normalize("NFC", part)
        matches = [n for n in names if unicodedata.normalize("NFC", n) == wanted]
        if len(matches) != 1:
            return None
        here = here / matches[0]
    resolved = here.resolve()
    return resolved if resolved.is_relative_to(root) else None
