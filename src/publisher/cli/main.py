"""The ``publisher`` command line.

Exit status: 0 success, 1 a problem with the source or the environment
(shown as ``path:line: message``), 2 a usage error, 141 (quietly) when the
reader of stdout went away (``publisher subscribers list | head``).  ``--traceback`` shows
the Python traceback of an error, for bug reports.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import select
import sys
from collections.abc import Sequence
from typing import NoReturn

from publisher import __version__
from publisher.build.builder import Paths
from publisher.cli import bounces, db, dkim, issue, options, preview, send, site, subscribers
from publisher.cli.console import configure_logging
from publisher.errors import (
    DISK_ERRNOS,
    WRITE_ONLY_ERRNOS,
    ExitStatus,
    PublisherError,
    UsageError,
    disk_error,
)

# The reader (markdown-it, YAML, Pillow) is imported by the commands that need it, so
# that an up-to-date `publisher build` answers from the cache at once.

log = logging.getLogger("publisher")


def run() -> NoReturn:
    """The ``publisher`` command: :func:`main`, then exit at once.

    A build leaves a large heap behind (laid-out pages, fonts, images); the
    interpreter would free it object by object on the way out, about 0.15 s
    that changes nothing on disk.  By the time :func:`main` returns every
    output is written, synced and closed, and every child process joined, so
    the streams are flushed and the process ends without that teardown.
    """
    try:
        status = main()
    except SystemExit as exc:  # --help, --version and usage errors (argparse's codes)
        status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # a reader that has gone (`| head`)
            stream.flush()
    os._exit(status)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader of stdout has gone (`publisher subscribers list | head -1`): end
        # quietly, with the status of a command killed by SIGPIPE, as other tools do.
        if not _stdout_closed():
            raise  # another pipe broke (a socket, a child): a bug, keep its traceback
        _discard_stdout()
        return ExitStatus.PIPE_CLOSED


def _main(argv: Sequence[str] | None) -> int:
    args = options.merge(_parser().parse_args(argv))
    configure_logging(args.verbose - args.quiet)
    paths = Paths(issues=args.issues, layouts=args.layouts, dist=args.dist)
    try:
        subscribers.resolve_store(args)
        return int(args.handler(args, paths))
    except PublisherError as exc:
        if args.traceback:
            raise
        for line in str(exc).splitlines():
            log.error("%s", line)
        return ExitStatus.USAGE if isinstance(exc, UsageError) else ExitStatus.ERROR
    except OSError as exc:
        # Reads of sources and layouts raise ReadError and the writes of publisher.build.atomic
        # WriteError (both PublisherErrors, above).  What else the disk refuses (a temporary
        # file of a library, in this process or a forked worker) is one line all the same:
        # a write when only a write can get that errno, else named for what it is.
        if args.traceback or exc.errno not in DISK_ERRNOS:
            raise
        if exc.errno in WRITE_ONLY_ERRNOS:
            log.error("%s", disk_error(exc))
        else:
            where = f"{exc.filename}: " if exc.filename else ""
            log.error("%scannot read or write: %s (check its permissions and the disk)",
                      where, exc.strerror or exc)
        return ExitStatus.ERROR
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


def _stdout_closed() -> bool:
    """Whether stdout is a pipe (or socket) whose reading end has been closed."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (captured, in tests)
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that nothing tries to flush into the closed pipe."""
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, sys.stdout.fileno())
    finally:
        os.close(null)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="publisher", parents=[options.common(0)],
        description="Turn one magazine issue into a print PDF, a reader's PDF, an EPUB and an "
                    "email.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = options.common(1)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    issue.add_commands(sub, common)
    site.add_commands(sub, common)
    preview.add_commands(sub, common)
    subscribers.add_commands(sub, common, options.common(2))
    send.add_commands(sub, common)
    db.add_commands(sub, common, options.common(2))
    dkim.add_commands(sub, common, options.common(2))
    bounces.add_commands(sub, common, options.common(2))
    return parser
