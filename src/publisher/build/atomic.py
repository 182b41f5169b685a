"""Writing outputs so that a failed build never leaves a half-written or mixed ``dist/``.

:class:`Staged` writes every output of a build to a temporary file beside its
place, synced, and only when all of them are written renames them into place:
a full disk or a read-only folder stops the build with one line naming the
file (:func:`publisher.errors.disk_error`), every earlier output as it was and
no temporary file left behind.  :func:`write_atomic` is the same for one file.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from pathlib import Path
from types import TracebackType

from publisher.errors import disk_error, human_size

progress = logging.getLogger("publisher.progress")


class Staged:
    """Files written aside, then renamed into place together by :meth:`commit`.

    Used as a context manager: leaving the block without a commit (an error)
    removes every temporary file written so far, and the folders made for them.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []  # (temporary file, final path)
        self._made: list[Path] = []  # folders made for them, outermost first

    def write(self, path: Path, data: bytes) -> None:
        """Write ``data`` for ``path`` to a temporary file in the same folder."""
        missing = [f for f in (path.parent, *path.parent.parents) if not f.exists()]
        for folder in reversed(missing):
            try:
                folder.mkdir(exist_ok=True)
            except OSError as exc:
                raise disk_error(exc, folder, "cannot create the folder") from None
            self._made.append(folder)
        try:
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        except OSError as exc:
            raise disk_error(exc, path) from None
        tmp = Path(name)
        self._pending.append((tmp, path))
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
        except OSError as exc:
            raise disk_error(exc, path) from None

    def commit(self) -> list[Path]:
        """Rename every file into place; the final paths, in the order written."""
        # A folder where a file goes refuses its rename: found before any rename, so
        # that the outputs are not left half old, half new.
        for _, path in self._pending:
            if path.is_dir() and not path.is_symlink():
                raise disk_error(IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)),
                                 path)
        done = []
        for tmp, path in self._pending:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise disk_error(exc, path) from None
            done.append(path)
        self._pending = [(tmp, path) for tmp, path in self._pending if path not in done]
        self._made = []
        return done

    def abort(self) -> None:
        """Remove the temporary files not renamed into place."""
        for tmp, _ in self._pending:
            tmp.unlink(missing_ok=True)
        for folder in reversed(self._made):
            try:
                folder.rmdir()
            except OSError:
                break  # not empty (someone else wrote there): leave it
        self._pending, self._made = [], []

    def __enter__(self) -> Staged:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.abort()


def write_atomic(path: Path, data: bytes, *, quiet: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    with Staged() as staged:
        staged.write(path, data)
        staged.commit()
    if not quiet:
        progress.info("wrote %s (%s)", path, human_size(len(data)))
    return path
