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
from pathlib import Path
from typing import NoReturn

from publisher import __version__, render
from publisher.build.atomic import write_atomic
from publisher.build.builder import Paths, build
from publisher.cli import options
from publisher.cli.mailing import add_commands
from publisher.diagnostics import Diagnostics
from publisher.errors import (
    DISK_ERRNOS,
    WRITE_ONLY_ERRNOS,
    ExitStatus,
    PublisherError,
    UsageError,
    disk_error,
)
from publisher.model import Month

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
    _configure_logging(args.verbose - args.quiet)
    paths = Paths(issues=args.issues, layouts=args.layouts, dist=args.dist)
    try:
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

    check = sub.add_parser("check", parents=[common], help="validate an issue source",
                           description="Validate an issue: report every error and warning "
                                       "with its file and line.")
    check.add_argument("month", metavar="MONTH", help="the issue, as YYYY-MM")
    check.add_argument("--fix", action="store_true",
                       help="repair CP949 mojibake in place, then check again")
    check.add_argument("--strict", action="store_true", help="fail on warnings too")
    check.set_defaults(handler=_check)

    build_cmd = sub.add_parser("build", parents=[common], help="build an issue's outputs",
                               description="Build the outputs of an issue into dist/MONTH/.")
    build_cmd.add_argument("month", metavar="MONTH", help="the issue, as YYYY-MM")
    build_cmd.add_argument("--format", "-f", action="append", dest="formats",
                           choices=render.formats() or None, metavar="FORMAT",
                           help="build only this format (repeatable; available: "
                                f"{', '.join(render.formats()) or 'none yet'})")
    build_cmd.add_argument("--strict", action="store_true", help="fail on warnings too")
    build_cmd.add_argument("--force", action="store_true",
                           help="rebuild even what the cache says is up to date")
    build_cmd.set_defaults(handler=_build)

    site = sub.add_parser("site", parents=[common], help="build the download site",
                          description="Build dist/site/: an index of every issue with its "
                                      "downloads, the web version of each email, an Atom feed.")
    site.set_defaults(handler=_site)

    serve = sub.add_parser("serve", parents=[common], help="preview the site on 127.0.0.1",
                           description="Serve dist/site/ on 127.0.0.1 for previewing.")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free)")
    serve.add_argument("--db", type=Path, default=Path("subscribers.sqlite"), metavar="PATH",
                       help="the subscriber store the unsubscribe endpoint writes to "
                            "(default: subscribers.sqlite); needs PUBLISHER_SECRET")
    serve.set_defaults(handler=_serve)

    new = sub.add_parser("new", parents=[common], help="start a new issue folder",
                         description="Create issues/MONTH/ with an issue.toml and a sample "
                                     "article to fill in.")
    new.add_argument("month", metavar="MONTH", help="the new issue, as YYYY-MM")
    new.set_defaults(handler=_new)

    add_commands(sub, common, options.common(2))
    return parser


def _configure_logging(level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    root = logging.getLogger("publisher")
    root.handlers[:] = [handler]
    root.propagate = False
    root.setLevel(logging.DEBUG if level > 0 else logging.INFO if level == 0 else logging.WARNING)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            return f"error: {message}"
        if record.levelno >= logging.WARNING:
            return f"warning: {message}"
        return message


def _report(diag: Diagnostics) -> None:
    for warning in diag.warnings:
        log.warning("%s", warning)


def _check(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.build.check import check_issue

    month = options.month_argument(args.month)
    if args.fix:
        _fix_mojibake(paths.issues, month)
    diag = Diagnostics()
    try:
        issue = check_issue(paths.issues, paths.layouts, month, diag)
    finally:
        _report(diag)
    diag.raise_if_strict(args.strict)
    log.info("%s: %d article(s), %d archive entries: OK", month, len(issue.articles),
             len(issue.archive))
    return ExitStatus.OK


def _fix_mojibake(root: Path, month: Month) -> None:
    from publisher.source.mojibake import repair
    from publisher.source.reader import find_issue

    folder = find_issue(root, month)
    for path in sorted([folder / "issue.toml", *folder.glob("articles/*.md")]):
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # the check that follows reports it
        fixed = repair(text)
        if fixed != text:
            write_atomic(path, fixed.encode("utf-8"))
            log.info("%s: repaired mojibake", path)


def _build(args: argparse.Namespace, paths: Paths) -> int:
    month = options.month_argument(args.month)
    diag = Diagnostics()
    try:
        written = build(month, paths, args.formats, diag, strict=args.strict, force=args.force)
    finally:
        _report(diag)
    log.debug("wrote %d file(s)", len(written))
    return ExitStatus.OK


def _site(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.site.pages import build_site

    diag = Diagnostics()
    try:
        build_site(paths, diag)
    finally:
        _report(diag)
    return ExitStatus.OK


def _serve(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.site.app import make_preview_server, site_application

    app = site_application(paths, args.db, os.environ)
    with make_preview_server(app, args.port) as server:
        host, port = server.server_address[:2]
        log.info("serving %s at http://%s:%s/ (Ctrl-C stops)", paths.dist / "site", host, port)
        sys.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            log.info("stopped")
    return ExitStatus.OK


def _new(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.source.scaffold import scaffold

    month = options.month_argument(args.month)
    folder = scaffold(paths.issues, month)
    log.info("created %s: fill in issue.toml and articles/, then run 'publisher check %s'",
             folder, month)
    return ExitStatus.OK
