"""``publisher db upgrade|copy``: the subscriber store's schema, and moving a store."""

from __future__ import annotations

import argparse
import logging

from publisher.build.builder import Paths
from publisher.cli.subscribers import STORE_HELP, store_option
from publisher.errors import ExitStatus

log = logging.getLogger("publisher")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                 common: argparse.ArgumentParser, nested: argparse.ArgumentParser) -> None:
    group = sub.add_parser("db", parents=[common], help="upgrade or copy the subscriber store",
                           description="The subscriber store's schema (migrations) and "
                                       "moving a store between SQLite and PostgreSQL.")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("upgrade", parents=[nested, store_option()],
                            help="apply the migrations the store lacks",
                            description="Bring the store's schema up to date (every command "
                                        "also does it when it opens the store).  An empty "
                                        "PostgreSQL database becomes an empty store.")
    up.set_defaults(handler=_upgrade)
    copy = actions.add_parser("copy", parents=[nested], help="copy a store into an empty one",
                              description="Copy every table of the store FROM (subscribers, "
                                          "ledger, history) into the empty store TO: SQLite "
                                          "to PostgreSQL or back.  " + STORE_HELP[0].upper()
                                          + STORE_HELP[1:] + ".")
    copy.add_argument("source", metavar="FROM", help="the store to copy (a path or a URL)")
    copy.add_argument("target", metavar="TO", help="an empty store (a new file or an empty "
                                                   "PostgreSQL database)")
    copy.set_defaults(handler=_copy)


def _upgrade(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.deliver.db import errors, migrate, opening

    # a missing SQLite file is not created here (a mistyped path); an empty database is
    db = opening.connect(args.db, create=not args.db.is_sqlite, upgrade=False)
    try:
        before = migrate.current(db)
        migrate.ensure(db, create=True)
        after = migrate.current(db)
    except errors() as exc:
        from publisher.deliver import subscribers

        raise args.db.error(subscribers.describe(exc)) from None
    finally:
        db.close()
    if after == before:
        log.info("%s: up to date (schema version %d)", args.db, after)
    else:
        log.info("%s: upgraded from schema version %d to %d", args.db, before, after)
    return ExitStatus.OK


def _copy(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.deliver.db import copy, locate

    source, target = locate(args.source), locate(args.target)
    counts = copy.copy_store(source, target)
    log.info("copied %s to %s: %s", source, target,
             ", ".join(f"{n} {table}" for table, n in counts.items()))
    return ExitStatus.OK
