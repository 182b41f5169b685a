"""Bounces in files: a Maildir, an mbox, or one message (``publisher bounces read PATH``).

A Maildir's messages (``new/`` and ``cur/``) are read, then those in ``new/`` are
moved to ``cur/`` marked seen, as a mail program would: a second read finds them
again, but the store records each report once (:mod:`publisher.deliver.bounces.intake`
keys it on its bytes). An mbox and a single message file are only read.
"""

from __future__ import annotations

import logging
import mailbox
from collections.abc import Callable, Iterator
from pathlib import Path

from publisher.errors import PublisherError, read_advice

log = logging.getLogger(__name__)

MAX_MESSAGE = 10 * 1024 * 1024  # bytes; a larger file is no bounce


def kind_of(path: Path) -> str:
    """``maildir``, ``mbox`` or ``file``; a :class:`PublisherError` for anything else."""
    if path.is_dir():
        if all((path / sub).is_dir() for sub in ("cur", "new", "tmp")):
            return "maildir"
        raise PublisherError("is a folder but not a Maildir (no cur/, new/ and tmp/)", path)
    try:
        with path.open("rb") as handle:
            start = handle.read(5)
    except OSError as exc:
        raise PublisherError(read_advice(exc, path), path) from None
    return "mbox" if start == b"From " else "file"


def read(path: Path, handle: Callable[[bytes, str], object]) -> int:
    """Pass every message of ``path`` to ``handle(data, source)``; how many."""
    kind = kind_of(path)
    n = 0
    for data in _messages(path, kind):
        handle(data, kind)
        n += 1
    return n


def _messages(path: Path, kind: str) -> Iterator[bytes]:
    if kind == "file":
        try:
            if path.stat().st_size > MAX_MESSAGE:
                raise PublisherError(f"is over {MAX_MESSAGE // 1024 // 1024} MB: not a bounce",
                                     path)
            yield path.read_bytes()
        except OSError as exc:
            raise PublisherError(read_advice(exc, path), path) from None
        return
    if kind == "maildir":
        yield from _maildir(path)
        return
    try:
        box = mailbox.mbox(path, create=False)
        keys = list(box.keys())
    except (OSError, mailbox.Error) as exc:
        raise PublisherError(f"cannot read the mbox: {exc}", path) from None
    try:
        for key in keys:
            try:
                data = box.get_bytes(key)
            except (KeyError, OSError):
                continue
            if len(data) <= MAX_MESSAGE:
                yield data
    finally:
        box.close()


def _maildir(path: Path) -> Iterator[bytes]:
    """The messages of a Maildir, each file moved (renamed, never rewritten) to ``cur/``
    with the seen flag once read."""
    found: list[tuple[str, str]] = []  # both listed first: new/'s go to cur/ as read
    for sub in ("new", "cur"):
        try:
            found += sorted((sub, p.name) for p in (path / sub).iterdir()
                            if not p.name.startswith("."))
        except OSError as exc:
            raise PublisherError(read_advice(exc, path / sub), path / sub) from None
    for sub, name in found:
        file = path / sub / name
        try:
            if file.stat().st_size > MAX_MESSAGE:
                continue
            data = file.read_bytes()
        except OSError:  # taken away meanwhile by a mail program
            continue
        yield data
        _mark_seen(file, name)


def _mark_seen(file: Path, name: str) -> None:
    base, _, info = name.partition(":")
    flags = info[2:] if info.startswith("2,") else ""
    if file.parent.name == "cur" and "S" in flags:
        return
    seen = f"{base}:2,{''.join(sorted(set(flags) | {'S'}))}"
    try:
        file.rename(file.parent.parent / "cur" / seen)
    except OSError as exc:
        log.debug("could not mark %s seen: %s", file, exc)
