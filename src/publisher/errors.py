"""Errors a user can act on, and the exit codes the CLI returns.

A :class:`PublisherError` carries the place in the source it is about; the CLI
shows it as ``path:line: message`` (the way compilers and Sphinx do) with no
traceback.  Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

import enum
import errno
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


class ExitStatus(enum.IntEnum):
    """Process exit codes, following the usual Unix conventions."""

    OK = 0
    ERROR = 1  # the source (or the environment) is wrong: fix it and retry
    USAGE = 2  # the command line is wrong
    PIPE_CLOSED = 141  # stdout's reader went away (`| head`): 128 + SIGPIPE, as the shell says


@dataclass(frozen=True)
class Location:
    """A place in a source file: path, and 1-based line when known."""

    path: Path | None = None
    line: int | None = None

    def __str__(self) -> str:
        if self.path is None:
            return ""
        text = display_path(self.path)
        return f"{text}:{self.line}" if self.line else text


def display_path(path: Path) -> str:
    """A path relative to the working directory when it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class PublisherError(Exception):
    """A problem the user can fix, shown as ``path:line: message``."""

    def __init__(self, message: str, path: Path | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.location = Location(path, line)

    def __str__(self) -> str:
        where = str(self.location)
        return f"{where}: {self.message}" if where else self.message

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Keep the location when the error crosses a process boundary (parallel builds).
        return (type(self), (self.message, self.location.path, self.location.line))


class SourceErrors(PublisherError):
    """Several source problems found in one pass, reported together."""

    def __init__(self, errors: Iterable[PublisherError]):
        self.errors = tuple(errors)
        super().__init__("\n".join(str(e) for e in self.errors))

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.errors,))


class UsageError(PublisherError):
    """The command line asks for something that cannot be done (exit status 2)."""


class WriteError(PublisherError):
    """The disk refused a write (:func:`disk_error`)."""


class ReadError(PublisherError):
    """A file that had to be read could not be (:func:`read_error`)."""


#: What to do when a file cannot be read, by errno.
_READ_ADVICE = {
    errno.EACCES: "make the file readable",
    errno.EPERM: "make the file readable",
    errno.EIO: "check the disk and run it again",
    errno.ELOOP: "a symlink leads back to itself: replace it with the file",
}


def read_advice(exc: OSError, path: Path | None = None) -> str:
    """``cannot read: Permission denied (make the file readable)``."""
    advice = _READ_ADVICE.get(exc.errno or 0, "check the file and run it again")
    if path is not None and exc.errno in (errno.EACCES, errno.EPERM):
        try:
            if path.is_dir():
                advice = "make the folder readable"
        except OSError:  # the folder it is in cannot be searched
            advice = "make the folder it is in readable"
    return f"cannot read: {exc.strerror or exc} ({advice})"


def read_error(exc: OSError, path: Path | None = None) -> ReadError:
    """One line for a source, layout or output that cannot be read: ``path: cannot read:
    Permission denied (make the file readable)``."""
    where = path if path is not None else (Path(exc.filename) if exc.filename else None)
    return ReadError(read_advice(exc, where), where)


#: What to do when the disk refuses a write, by errno.
_DISK_ADVICE = {
    errno.ENOSPC: "free some space and run it again",
    errno.EDQUOT: "free some space (you are over your quota) and run it again",
    errno.EROFS: "the file system is mounted read-only: make it writable or choose "
                 "another --dist",
    errno.EACCES: "make it writable for this user or choose another --dist",
    errno.EPERM: "make it writable for this user (is it immutable?) or choose another "
                 "--dist",
}
#: The errnos that say the disk, not the program, is the problem.
DISK_ERRNOS = frozenset(_DISK_ADVICE) | {errno.EIO, errno.EFBIG, errno.EMLINK}
#: Of those, the ones only a write gets (a read is never refused for a full disk).
WRITE_ONLY_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG,
                               errno.EMLINK})


def disk_error(exc: OSError, path: Path | None = None,
               doing: str = "cannot write") -> WriteError:
    """One line for a write the disk refused: ``path: cannot write: No space left on
    device (free some space and run it again)``."""
    where = path if path is not None else (Path(exc.filename) if exc.filename else None)
    reason = exc.strerror or str(exc)
    advice = _DISK_ADVICE.get(exc.errno or 0, "check the disk and run it again")
    if exc.errno in (errno.ENOTDIR, errno.EEXIST) and where is not None:
        advice = _file_in_the_way(where) or advice
    elif exc.errno == errno.EISDIR:
        advice = "a folder is where the file goes: remove it or choose another --dist"
    return WriteError(f"{doing}: {reason} ({advice})", where)


def _file_in_the_way(path: Path) -> str | None:
    """What to do when a file stands where ``path`` needs a folder (``--dist`` or
    ``--dir`` given a file, or a file named as an output's folder)."""
    for folder in reversed(path.parents):
        try:
            if folder.exists() and not folder.is_dir():
                return f"{folder} is a file, not a folder: move it away or name another folder"
        except OSError:
            return None
    return None


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.2f} MB"
