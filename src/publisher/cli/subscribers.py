"""``publisher subscribers import|list|count|export|unsubscribe``: the subscriber store."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

from publisher.build.builder import Paths
from publisher.errors import ExitStatus

log = logging.getLogger("publisher")

#: The subscriber store (with the send ledger), at the project's top level by default.
DEFAULT_DB = Path("subscribers.sqlite")


def store_option() -> argparse.ArgumentParser:
    """``--db PATH``, the subscriber store, for the commands that open it."""
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument("--db", type=Path, default=DEFAULT_DB, metavar="PATH",
                       help=f"the subscriber store (default: {DEFAULT_DB})")
    return store


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                 common: argparse.ArgumentParser, nested: argparse.ArgumentParser) -> None:
    """``common`` holds the common options for a command, ``nested`` for an action of a
    command group (:mod:`publisher.cli.options`)."""
    store = store_option()
    subs = sub.add_parser("subscribers", parents=[common], help="manage subscribers",
                          description="Import, list, count, export and unsubscribe "
                                      "subscribers in the subscriber store.")
    actions = subs.add_subparsers(dest="action", required=True, metavar="ACTION")
    imp = actions.add_parser("import", parents=[nested, store], help="add subscribers from CSV",
                             description="Add the addresses of a CSV with a header row "
                                         "'email' (and optionally 'name').  A file with a bad "
                                         "row changes nothing, unless --skip-bad.")
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    imp.add_argument("--skip-bad", action="store_true",
                     help="import the good rows and report the bad ones as warnings")
    imp.set_defaults(handler=_subscribers_import)
    for name, handler, text in (("list", _subscribers_list, "list subscribed addresses"),
                                ("count", _subscribers_count, "count subscribers"),
                                ("export", _subscribers_export,
                                 "write every address as CSV (email,name,status)")):
        actions.add_parser(name, parents=[nested, store], help=text,
                           description=text[0].upper() + text[1:] + ".").set_defaults(
                               handler=handler)
    unsub = actions.add_parser("unsubscribe", parents=[nested, store],
                               help="unsubscribe an address",
                               description="Mark an address unsubscribed: it is never mailed "
                                           "again, and a later import does not add it back.")
    unsub.add_argument("address", metavar="ADDRESS")
    unsub.set_defaults(handler=_subscribers_unsubscribe)


@contextlib.contextmanager
def open_store(args: argparse.Namespace) -> Iterator[sqlite3.Connection]:
    """The store, closed after use; its failures (busy, disk full) as one-line errors."""
    from publisher.deliver import subscribers

    db = subscribers.connect(args.db)
    try:
        with subscribers.store_errors(args.db):
            yield db
    finally:
        db.close()


def _subscribers_import(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.deliver import csv_import

    path: Path = args.file
    result = csv_import.import_csv(path, args.db, skip_bad=args.skip_bad)
    log.info("%s: %d added, %d updated, %d unchanged, %d kept unsubscribed, %d duplicate "
             "row(s) merged, %d bad row(s) skipped", path, result.added, result.updated,
             result.unchanged, result.kept_unsubscribed, result.merged, result.skipped)
    return ExitStatus.OK


def _subscribers_list(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.deliver import subscribers

    with open_store(args) as db:
        for sub in subscribers.subscribed(db):
            sys.stdout.write(f"{sub.email}\t{sub.name}\n" if sub.name else f"{sub.email}\n")
    return ExitStatus.OK


def _subscribers_count(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.deliver import subscribers

    with open_store(args) as db:
        active, gone = subscribers.count(db)
    sys.stdout.write(f"{active}\n")
    log.info("%d subscribed, %d unsubscribed", active, gone)
    return ExitStatus.OK


def _subscribers_export(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.deliver import subscribers

    with open_store(args) as db:
        n = subscribers.export_csv(db, sys.stdout)  # type: ignore[arg-type]
    log.debug("exported %d address(es)", n)
    return ExitStatus.OK


def _subscribers_unsubscribe(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.deliver import subscribers

    with open_store(args) as db:
        changed = subscribers.unsubscribe(db, args.address)
    log.info("%s: %s", args.address.strip(),
             "unsubscribed" if changed else "was already unsubscribed")
    return ExitStatus.OK


