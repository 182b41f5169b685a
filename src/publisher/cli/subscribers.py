"""``publisher subscribers import|list|count|export|unsubscribe``: the subscriber store."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from publisher.build.builder import Paths
from publisher.errors import ExitStatus

if TYPE_CHECKING:
    from publisher.deliver.db import Connection

log = logging.getLogger("publisher")

#: The subscriber store (with the send ledger), at the project's top level by default.
DEFAULT_DB = Path("subscribers.sqlite")


STORE_HELP = (f"the subscriber store: an SQLite file's path, or a postgresql:// URL "
              f"(default: $PUBLISHER_DATABASE_URL, else {DEFAULT_DB})")


def store_option() -> argparse.ArgumentParser:
    """``--db PATH|URL``, the subscriber store, for the commands that open it; resolved
    (with ``PUBLISHER_DATABASE_URL``) into a :class:`~publisher.deliver.db.Location` by
    :func:`resolve_store` before the command runs."""
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument("--db", type=_store_argument, default=None, metavar="PATH|URL",
                       help=STORE_HELP)
    return store


def _store_argument(text: str) -> str:
    """``--db``: given empty (``--db "$DB"`` with the variable unset), it would be the
    default file in the current folder, quietly: a usage error instead."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: name the store's file or its "
                                         "postgresql:// URL")
    return text


def resolve_store(args: argparse.Namespace) -> None:
    """``args.db``: the store named by ``--db``, else ``PUBLISHER_DATABASE_URL``, else
    the default file."""
    if hasattr(args, "db"):
        from publisher.deliver.db import from_env

        args.db = from_env(args.db, default=DEFAULT_DB)


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
        action = actions.add_parser(name, parents=[nested, store], help=text,
                                    description=text[0].upper() + text[1:] + ".")
        action.set_defaults(handler=handler)
        if name == "export":
            action.add_argument("--history", action="store_true",
                                help="one row per history event (at,event,how,consent_"
                                     "version,consent_digest,client,detail) after each "
                                     "address's own columns")
    hist = actions.add_parser("history", parents=[nested, store],
                              help="show an address's consent history",
                              description="Every change of an address's state: when, what, "
                                          "how, the consent text's version and digest, the "
                                          "client.")
    hist.add_argument("address", metavar="ADDRESS")
    hist.set_defaults(handler=_subscribers_history)
    out = actions.add_parser("outbox", parents=[nested, store],
                             help="send the confirmation emails the site owes",
                             description="Send what the outbox holds (the signups' "
                                         "confirmation emails) with the PUBLISHER_SMTP_* "
                                         "settings; --status only counts it.")
    out.add_argument("--status", action="store_true", help="count the messages by state")
    out.set_defaults(handler=_subscribers_outbox)
    unsub = actions.add_parser("unsubscribe", parents=[nested, store],
                               help="unsubscribe an address",
                               description="Mark an address unsubscribed: it is never mailed "
                                           "again, and a later import does not add it back.")
    unsub.add_argument("address", metavar="ADDRESS")
    unsub.set_defaults(handler=_subscribers_unsubscribe)


@contextlib.contextmanager
def open_store(args: argparse.Namespace) -> Iterator[Connection]:
    """The store, closed after use; its failures (busy, disk full) as one-line errors."""
    from publisher.deliver import subscribers

    db = subscribers.connect(args.db)
    try:
        with subscribers.store_errors(args.db):
            yield db
    finally:
        db.close()


def _subscribers_import(args: argparse.Namespace, paths: Paths) -> int:
    import os

    from publisher.deliver import csv_import
    from publisher.deliver.tokens import SECRET_ENV, secret_from_env

    path: Path = args.file
    secret = secret_from_env() if os.environ.get(SECRET_ENV) else None
    result = csv_import.import_csv(path, args.db, skip_bad=args.skip_bad, secret=secret)
    log.info("%s: %d added, %d updated, %d unchanged, %d kept unsubscribed, %d duplicate "
             "row(s) merged, %d bad row(s) skipped", path, result.added, result.updated,
             result.unchanged, result.kept_unsubscribed, result.merged, result.skipped)
    if result.added:
        log.info("%s: consent of the %d added: %d recorded in the file ('consent' column), "
                 "%d assumed from you, the operator (see 'publisher subscribers history')",
                 path, result.added, result.with_consent, result.added - result.with_consent)
    if result.kept_erased:
        log.warning("%s: %d address(es) erased by their readers were not added back (only "
                    "a new signup, confirmed, can)", path, result.kept_erased)
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
        n = subscribers.export_csv(db, sys.stdout,  # type: ignore[arg-type]
                                   history=getattr(args, "history", False))
    log.debug("exported %d address(es)", n)
    return ExitStatus.OK


def _subscribers_unsubscribe(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.deliver import subscribers

    with open_store(args) as db:
        changed = subscribers.unsubscribe(db, args.address)
    log.info("%s: %s", args.address.strip(),
             "unsubscribed" if changed else "was already unsubscribed")
    return ExitStatus.OK


def _subscribers_history(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.deliver import consent

    with open_store(args) as db:
        events = consent.history(db, args.address)
        now = consent.state(db, args.address)
    for e in events:
        sys.stdout.write("\t".join((e.at, e.event, e.how, e.consent_version or "-",
                                    e.consent_digest or "-", e.client or "-", e.detail))
                         + "\n")
    log.info("%s: %s, %d event(s)", args.address.strip(), now, len(events))
    return ExitStatus.OK


def _subscribers_outbox(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.deliver import outbox
    from publisher.deliver.smtp import SmtpSettings

    if args.status:
        with open_store(args) as db:
            counts = outbox.status(db)
        for state, n in counts.items():
            sys.stdout.write(f"{state}\t{n}\n")
        return ExitStatus.OK
    settings = SmtpSettings.from_env()
    with open_store(args):
        pass  # the store's one-line errors before any SMTP
    counts_ = outbox.send_due(args.db, settings)
    log.info("outbox: %d sent, %d deferred, %d failed, %d in doubt, %d claim(s) of a stopped "
             "sender taken back", counts_.sent, counts_.deferred, counts_.failed, counts_.doubt,
             counts_.recovered)
    return ExitStatus.OK if not counts_.deferred else ExitStatus.ERROR
