"""``publisher check``, ``build`` and ``new``: the commands about one issue's source and
outputs."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from publisher import render
from publisher.build.atomic import write_atomic
from publisher.build.builder import Paths, build
from publisher.cli import options
from publisher.cli.console import report
from publisher.diagnostics import Diagnostics
from publisher.errors import ExitStatus
from publisher.model import Month

log = logging.getLogger("publisher")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                 common: argparse.ArgumentParser) -> None:
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

    new = sub.add_parser("new", parents=[common], help="start a new issue folder",
                         description="Create issues/MONTH/ with an issue.toml and a sample "
                                     "article to fill in.")
    new.add_argument("month", metavar="MONTH", help="the new issue, as YYYY-MM")
    new.set_defaults(handler=_new)



def _check(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.build.check import check_issue

    month = options.month_argument(args.month)
    if args.fix:
        _fix_mojibake(paths.issues, month)
    diag = Diagnostics()
    try:
        issue = check_issue(paths.issues, paths.layouts, month, diag)
    finally:
        report(diag)
    diag.raise_if_strict(args.strict)
    log.info("%s: %d article(s), %d archive entries: OK", month, len(issue.articles),
             len(issue.archive))
    return ExitStatus.OK


def _fix_mojibake(root: Path, month: Month) -> None:
    from publisher.source.files import link_problem
    from publisher.source.mojibake import repair
    from publisher.source.reader import find_issue

    folder = find_issue(root, month)
    for path in sorted([folder / "issue.toml", *folder.glob("articles/*.md")]):
        if link_problem(folder, path) is not None:
            continue  # a link out of the issue (or to nothing): the check reports it
        # A link inside the issue stays a link: the file it leads to is repaired.
        target = path.resolve() if path.is_symlink() else path
        try:
            text = target.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # the check that follows reports it
        fixed = repair(text)
        if fixed != text:
            write_atomic(target, fixed.encode("utf-8"))
            log.info("%s: repaired mojibake", path)


def _build(args: argparse.Namespace, paths: Paths) -> int:
    month = options.month_argument(args.month)
    diag = Diagnostics()
    try:
        written = build(month, paths, args.formats, diag, strict=args.strict, force=args.force)
    finally:
        report(diag)
    log.debug("wrote %d file(s)", len(written))
    return ExitStatus.OK


def _new(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.source.scaffold import scaffold

    month = options.month_argument(args.month)
    folder = scaffold(paths.issues, month)
    log.info("created %s: fill in issue.toml and articles/, then run 'publisher check %s'",
             folder, month)
    return ExitStatus.OK
