"""``publisher bounces fetch|read|serve``: take in bounces and complaints."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from publisher.build.builder import Paths
from publisher.cli import options
from publisher.cli.subscribers import store_option
from publisher.errors import ExitStatus

if TYPE_CHECKING:
    from publisher.deliver.bounces.intake import Intake

log = logging.getLogger("publisher")
progress = logging.getLogger("publisher.progress")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                 common: argparse.ArgumentParser, nested: argparse.ArgumentParser) -> None:
    store = store_option()
    group = sub.add_parser("bounces", parents=[common], help="take in bounces and complaints",
                           description="Read bounces and complaints (delivery status "
                                       "notifications, feedback reports) and record them: "
                                       "a hard bounce or a complaint stops the address at "
                                       "once, soft bounces after a few.  PUBLISHER_SECRET "
                                       "checks the VERP return paths.")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    fetch = actions.add_parser(
        "fetch", parents=[nested, store], help="read the unseen messages of an IMAP mailbox",
        description="Read the unseen messages of the bounce mailbox (PUBLISHER_IMAP_HOST, "
                    "_PORT, _TLS, _USER, _PASSWORD, _FOLDER) and mark them seen.")
    fetch.set_defaults(handler=_fetch)
    read = actions.add_parser(
        "read", parents=[nested, store], help="read a Maildir, an mbox or a message file",
        description="Read every message of a Maildir (marking those in new/ seen), an mbox "
                    "or one message file.")
    read.add_argument("path", type=Path, metavar="PATH")
    read.set_defaults(handler=_read)
    serve = actions.add_parser(
        "serve", parents=[nested, store], help="receive bounces over SMTP",
        description="Receive the bounce domain's mail (PUBLISHER_BOUNCE_DOMAIN: point its MX "
                    "here) over SMTP, recording each report as it arrives; until SIGTERM or "
                    "Ctrl-C.  Mail for other domains is refused; PUBLISHER_BOUNCE_MAX_KB "
                    "limits a message's size (1024).")
    serve.add_argument("--host", default="127.0.0.1",
                       help="the address to listen on (default: 127.0.0.1; 0.0.0.0 for all)")
    serve.add_argument("--port", type=options.fixed_port_argument, default=2525,
                       help="the port (default 2525; 25 needs privileges or a redirect)")
    serve.set_defaults(handler=_serve)


def _intake(args: argparse.Namespace) -> Intake:
    """The intake, every setting checked first."""
    from publisher.deliver import tokens
    from publisher.deliver.bounces import record
    from publisher.deliver.bounces.intake import Intake

    secret = tokens.secret_from_env()
    apply = record.recorder(args.db)  # the rules' settings checked here
    if args.db.is_sqlite and not args.db.file.exists():
        raise args.db.error("no subscriber store here: import a CSV first ('publisher "
                            "subscribers import FILE.csv')")
    return Intake(secret, apply)


def _done(intake: Intake, n: int, where: str) -> int:
    progress.info("%s: %d message(s) read: %s", where, n, intake.summary())
    return ExitStatus.OK


def _fetch(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.deliver.bounces import imap

    settings = imap.ImapSettings.from_env()
    intake = _intake(args)
    try:
        n = imap.fetch(settings, intake.message)
    finally:
        intake.close()
    return _done(intake, n, f"{settings.user}@{settings.where}/{settings.folder}")


def _read(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.deliver.bounces import files

    intake = _intake(args)
    try:
        n = files.read(args.path, intake.message)
    finally:
        intake.close()
    return _done(intake, n, str(args.path))


def _serve(args: argparse.Namespace, paths: Paths) -> int:
    import os

    from publisher.deliver import stopping, verp
    from publisher.deliver.bounces.listener import DEFAULT_MAX_KB, Listener
    from publisher.deliver.settings import number
    from publisher.errors import PublisherError

    domain = verp.bounce_domain_from_env()
    if not domain:
        raise PublisherError(f"{verp.BOUNCE_DOMAIN_ENV} is not set: name the domain bounces "
                             "come back to (the one whose MX points at this server)")
    max_kb = number(os.environ, "PUBLISHER_BOUNCE_MAX_KB", DEFAULT_MAX_KB, int, 1, 100_000)
    intake = _intake(args)
    stop = stopping.Stop()
    with stopping.on_signals(stop):
        listener = Listener(domain, intake.message, host=args.host, port=args.port,
                            max_kb=max_kb).start()
        progress.info("receiving bounces for @%s on %s:%d (Ctrl-C to stop)", domain, args.host,
                      listener.port)
        try:
            stop.event.wait()
        finally:
            listener.stop()
            intake.close()
    _done(intake, listener.handler.received, f"@{domain}")
    return ExitStatus.OK
