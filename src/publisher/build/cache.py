"""The build cache: an unchanged rebuild writes nothing and returns at once.

Each format's outputs are keyed on the content of everything that goes into
them: the issue folder, ``publication.toml``, the earlier issues the archive
lists (their ``issue.toml`` and cover image), the format's layouts with the
shared partials and fonts, the publisher code itself and the versions of the
libraries that render it.  The key and the outputs' own hashes are kept in
``dist/.cache/<MONTH>.json``; a format is rebuilt when its key changes or an
output is missing or was changed by hand.

This module is consulted before anything heavy is imported (WeasyPrint alone
costs about a second), so it uses the standard library only, and of the formats
their declarations (:mod:`publisher.render`), not their renderers.  File hashes are
remembered with each file's size and modification time, the way git's index
does, so unchanged files are not read again.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from publisher import __version__, render
from publisher.errors import read_error
from publisher.model import Month
from publisher.render.base import PrintLayout
from publisher.source.catalog import archive_files, ignored_name

#: Libraries whose version changes what a format renders.
LIBRARIES = ("weasyprint", "pydyf", "ebooklib", "premailer", "markdown-it-py",
             "mdit-py-plugins", "jinja2", "pillow", "fonttools", "lxml", "cssutils",
             "inscriptis")
PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass
class FileHasher:
    """SHA-256 of files, remembered by (size, mtime) so unchanged files are not reread."""

    known: dict[str, list] = field(default_factory=dict)  # path -> [size, mtime_ns, sha]

    def file(self, path: Path) -> str:
        """The digest of ``path``; a file that cannot be read raises :class:`ReadError`."""
        try:
            stat = path.stat()
            key = str(path.resolve())
            remembered = self.known.get(key)
            if remembered and remembered[0] == stat.st_size and remembered[1] == stat.st_mtime_ns:
                return remembered[2]
            return self.remember(path, path.read_bytes())
        except OSError as exc:
            raise read_error(exc, path) from None

    def remember(self, path: Path, data: bytes) -> str:
        """The digest of ``data``, just written to ``path``, remembered with its stat."""
        stat = path.stat()
        digest = hashlib.sha256(data).hexdigest()
        self.known[str(path.resolve())] = [stat.st_size, stat.st_mtime_ns, digest]
        return digest


def _files(folder: Path) -> Iterator[Path]:
    """Every file below ``folder`` but the litter of editors' systems (``.DS_Store``:
    :func:`~publisher.source.catalog.ignored_name`, which the reader refuses to read), dot-files
    included (``images/.lead.jpg`` is an image like another); a symlink to a folder is
    one entry (:meth:`Inputs._digest` keys where it leads), not followed."""
    if not folder.is_dir():
        return

    def unreadable(exc: OSError) -> None:
        raise read_error(exc) from None

    for root, dirs, names in os.walk(folder, onerror=unreadable):
        here = Path(root)
        linked = sorted(d for d in dirs if not ignored_name(d) and (here / d).is_symlink())
        dirs[:] = sorted(d for d in dirs if not ignored_name(d) and d not in linked)
        for name in sorted([*names, *linked]):
            if not ignored_name(name):
                yield here / name


def _name_under(path: Path, base: Path) -> str:
    """``path``'s name relative to ``base``, whichever of them is absolute."""
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.absolute().relative_to(base.absolute()).as_posix()


class Inputs:
    """Computes the key of each format of one issue."""

    def __init__(self, issues: Path, layouts: Path, month: str, hasher: FileHasher):
        self.issues = issues
        self.layouts = layouts
        self.month = month
        self.hasher = hasher

    def _digest(self, label: str, paths: Iterable[Path], base: Path) -> str:
        """Each file's name, where it really is when a symlink leads elsewhere (relative to
        ``base``, or "outside": the reader refuses that), and its content."""
        h = hashlib.sha256(label.encode())
        root = base.resolve()
        for path in paths:
            name = _name_under(path, base)
            h.update(f"\0{name}\0".encode())
            try:
                real = path.resolve()
                is_file = path.is_file()
            except (OSError, RuntimeError) as exc:  # a symlink loop, a folder not searchable
                if isinstance(exc, OSError) and exc.errno not in (errno.ELOOP,):
                    raise read_error(exc, path) from None
                h.update(b"<loop>")
                continue
            if real != root / name:
                where = real.relative_to(root).as_posix() if real.is_relative_to(root) else ""
                h.update(f"->{where or '<outside>'}\0".encode())
            h.update(self.hasher.file(path).encode() if is_file else b"<not a file>")
        return h.hexdigest()

    def source_key(self) -> str:
        """The issue, the publication settings and what the archive reads of earlier issues."""
        paths = list(_files(self.issues / self.month))
        config = self.issues / "publication.toml"
        if config.is_file():
            paths.append(config)
        paths.extend(archive_files(self.issues, Month.parse(self.month)))
        return self._digest("sources", paths, self.issues)

    def layout_key(self, fmt: str) -> str:
        """The layout folders the format declares it reads (the shared ones too)."""
        folders = render.declared(fmt).layout_folders
        paths = [p for name in folders for p in _files(self.layouts / name)]
        return self._digest(f"layouts:{fmt}", paths, self.layouts)

    def code_key(self) -> str:
        paths = [p for p in _files(PACKAGE_DIR) if p.suffix in (".py", ".typed")]
        h = hashlib.sha256(self._digest(__version__, paths, PACKAGE_DIR).encode())
        for lib in LIBRARIES:
            try:
                h.update(f"{lib}={metadata.version(lib)};".encode())
            except metadata.PackageNotFoundError:
                h.update(f"{lib}=none;".encode())
        return h.hexdigest()


@dataclass
class BuildCache:
    """What was last built for one issue, kept in ``dist/.cache/<MONTH>.json``."""

    path: Path
    formats: dict[str, dict] = field(default_factory=dict)  # fmt -> {key, outputs}
    hasher: FileHasher = field(default_factory=FileHasher)

    @classmethod
    def load(cls, dist: Path, month: str) -> BuildCache:
        path = dist / ".cache" / f"{month}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(path, data["formats"], FileHasher(data["files"]))
        except (OSError, ValueError, KeyError, TypeError):
            return cls(path)

    def fresh(self, fmt: str, key: str, target: Path) -> bool:
        """True when ``fmt`` was built from ``key`` and its outputs are untouched."""
        entry = self.formats.get(fmt)
        if not entry or entry.get("key") != key:
            return False
        for name, digest in entry.get("outputs", {}).items():
            output = target / name
            if not output.is_file() or self.hasher.file(output) != digest:
                return False
        return True

    def record(self, fmt: str, key: str, outputs: dict[str, str], warnings: int = 0, *,
               print_layout: PrintLayout | None = None) -> None:
        """Remember ``fmt``'s outputs, built from ``key``; ``print_layout``: the print
        layout it laid out (what the formats that follow it need), valid while ``key`` is."""
        self.formats[fmt] = {"key": key, "outputs": outputs, "warnings": warnings}
        if print_layout is not None:
            self.formats[fmt]["print_layout"] = {"pages": dict(print_layout.pages)}

    def outputs(self, fmt: str) -> dict[str, str]:
        """What ``fmt`` last wrote: file name (in ``dist/<MONTH>/``) -> digest."""
        return dict((self.formats.get(fmt) or {}).get("outputs") or {})

    def print_layout(self, fmt: str, key: str) -> PrintLayout | None:
        """The print layout ``fmt`` laid out when it was last built from ``key``, if it was."""
        entry = self.formats.get(fmt) or {}
        found = entry.get("print_layout")
        if entry.get("key") != key or not isinstance(found, dict):
            return None
        pages = found.get("pages")
        if not isinstance(pages, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in pages.items()):
            return None  # not what this version writes: lay the pages out again
        return PrintLayout(pages=pages)

    def dumps(self) -> bytes:
        data = {"formats": self.formats, "files": self.hasher.known}
        return json.dumps(data, indent=1, sort_keys=True).encode()


def format_keys(issues: Path, layouts: Path, month: str, formats: Iterable[str],
                hasher: FileHasher) -> dict[str, str]:
    """The cache key of each format."""
    inputs = Inputs(issues, layouts, month, hasher)
    common = inputs.source_key() + inputs.code_key()
    return {fmt: hashlib.sha256(f"{fmt}:{common}:{inputs.layout_key(fmt)}".encode()).hexdigest()
            for fmt in formats}
