"""``publisher send``: email a built issue to the subscribers."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from publisher.build.builder import Paths
from publisher.build.outputs import month_outputs
from publisher.cli import options
from publisher.cli.subscribers import open_store, store_option
from publisher.diagnostics import Diagnostics
from publisher.errors import ExitStatus, PublisherError, UsageError
from publisher.model import Month
from publisher.source.config import load_publication

if TYPE_CHECKING:
    from publisher.deliver.check import Dns
    from publisher.deliver.job import Mailing
    from publisher.deliver.smtp import SmtpSettings

log = logging.getLogger("publisher")

#: ``--rate``: messages per second, 0 for no limit, else within these bounds.
MIN_RATE, MAX_RATE = 0.001, 100_000.0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                 common: argparse.ArgumentParser) -> None:
    store = store_option()
    send = sub.add_parser("send", parents=[common, store], help="email an issue to subscribers",
                          description="Send dist/MONTH/email.eml to every subscriber over SMTP "
                                      "(PUBLISHER_SMTP_HOST, _PORT, _TLS, _USER, _PASSWORD; "
                                      "PUBLISHER_SECRET signs the unsubscribe links; "
                                      "PUBLISHER_DKIM_KEY, _SELECTOR and _DOMAIN sign the "
                                      "messages; PUBLISHER_BOUNCE_DOMAIN gives each its own "
                                      "return path).  Run it "
                                      "again after a crash, a stop or with deferred messages: "
                                      "it sends what was not sent.  Exit status: 0 done, 1 "
                                      "something left or in doubt, 130/143 stopped by "
                                      "SIGINT/SIGTERM.")
    send.add_argument("month", metavar="MONTH", help="the issue, as YYYY-MM")
    mode = send.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", type=Path, metavar="DIR",
                      help="write the personalised messages to DIR; send nothing")
    mode.add_argument("--test", metavar="ADDRESS", help="send one proof to ADDRESS only")
    mode.add_argument("--check", action="store_true",
                      help="check what would hurt delivery, sending nothing: SPF, DKIM and "
                           "DMARC of the sender's domain (PUBLISHER_DNS_SERVER: the resolver "
                           "to ask), the SMTP server's STARTTLS and login, the one-click "
                           "unsubscribe endpoint, the message's size, the last mailing's "
                           "complaint and bounce rates; exit status 1 on any error")
    mode.add_argument("--status", action="store_true",
                      help="show the send's ledger: sent, deferred, failed, pending, and "
                           "each address in doubt with the copies it may have")
    send.add_argument("--rate", type=float, default=0.0, metavar="N",
                      help="at most N messages per second (default: no limit)")
    send.add_argument("--connections", type=int, default=1, choices=range(1, 11),
                      metavar="N", help="SMTP connections at once, 1 to 10 (default: 1)")
    send.add_argument("--retry-failed", action="store_true",
                      help="send again the messages the server refused (5xx), once their "
                           "cause is mended (a rejected sender, a full mailbox): they were "
                           "not delivered, so nobody is mailed twice")
    send.add_argument("--resend-in-doubt", action="store_true",
                      help="send again the messages in doubt (the connection was lost after "
                           "the server had them, see --status): each may arrive twice")
    send.set_defaults(handler=_send)


def _send(args: argparse.Namespace, paths: Paths) -> int:
    """``publisher send``: a real send catches SIGTERM and SIGINT from its start (see
    :mod:`publisher.deliver.stopping`); the other modes keep the default handling."""
    from publisher.deliver import stopping

    args.stop = stopping.Stop()
    if args.status or args.dry_run or args.test or args.check:
        return _send_modes(args, paths)
    with stopping.on_signals(args.stop):
        return _send_modes(args, paths)


def _send_modes(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.deliver import (
        check,
        dkim,
        job,
        ledger,
        personalise,
        smtp,
        store,
        subscribers,
        tokens,
        verp,
    )

    month = options.month_argument(args.month)
    from publisher.source.reader import find_issue

    find_issue(paths.issues, month)
    for flag, given in (("--retry-failed", args.retry_failed),
                        ("--resend-in-doubt", args.resend_in_doubt)):
        if given and (args.status or args.dry_run or args.test or args.check):
            raise UsageError(f"{flag} goes with a real send, not with --status, --dry-run, "
                             "--test or --check")
    if args.rate != 0 and not (math.isfinite(args.rate) and MIN_RATE <= args.rate <= MAX_RATE):
        raise UsageError(f"--rate is {args.rate:g}: give messages per second, from "
                         f"{MIN_RATE:g} to {MAX_RATE:g} (0: no limit)")
    real = not (args.status or args.dry_run or args.test or args.check)
    # every setting checked before anything is opened or sent
    settings = smtp.SmtpSettings.from_env() if real or args.test or args.check else None
    store_timeout = store.timeout_from_env() if real else store.DEFAULT_TIMEOUT
    # every message is signed, proofs and dry runs too; only real sends get VERP
    signing = None if args.status else dkim.DkimSettings.from_env()
    bounce_domain = verp.bounce_domain_from_env() if real or args.check else ""
    resolver = check.Dns.from_env() if args.check else None
    if args.status:
        with open_store(args) as db:
            book = ledger.Ledger(db, str(month))
            if not book.exists():
                raise args.db.error(f"{month} has not been sent yet")
            for line in job.status_lines(book):
                sys.stdout.write(line + "\n")
        return ExitStatus.OK
    diag = Diagnostics()
    publication = load_publication(paths.issues, diag)
    diag.raise_if_errors()
    assert publication is not None
    built = month_outputs(paths.dist, publication, month)
    template = personalise.load(built.path("email", "message"))
    template.date = personalise.now_date()  # the time it is sent, not the issue's date
    mailing = job.Mailing(str(month), template, publication, tokens.secret_from_env(),
                          dkim=signing, bounce_domain=bounce_domain)
    if args.check:
        assert settings is not None and resolver is not None
        return _check(args, mailing, settings, resolver)
    if args.test:
        assert settings is not None
        address = _valid_address(args.test)
        name = ""
        if not args.db.is_sqlite or args.db.file.exists():
            with open_store(args) as db:
                found = subscribers.find(db, address)
            if found is not None:  # the proof a subscriber would get
                address, name = found.email, found.name
        reply = job.send_test(mailing, settings, address, name)
        log.info("sent a proof of %s to %s: %s", month, address, reply)
        return ExitStatus.OK
    if args.dry_run:
        with open_store(args) as db:
            job.dry_run(db, mailing, args.dry_run)
        return ExitStatus.OK
    assert settings is not None
    return _send_all(args, month, mailing, settings, store_timeout)


def _check(args: argparse.Namespace, mailing: Mailing, settings: SmtpSettings,
           resolver: Dns) -> int:
    """``--check``: one line per finding on stdout; 1 if any is an error."""
    from publisher.deliver import check, tokens

    from_domain = mailing.domain
    spf_domain = mailing.bounce_domain or from_domain
    address = f"{check.CHECK_LOCAL}@{from_domain}"
    findings = [
        check.spf(resolver, spf_domain, settings.host),
        check.dkim_record(resolver, mailing.dkim),
        check.dmarc(resolver, from_domain, mailing.dkim.domain if mailing.dkim else "",
                    spf_domain),
        check.smtp_server(settings, mailing.template.eight_bit),
        check.one_click(tokens.unsubscribe_url(mailing.publication, address, mailing.secret)),
        check.size(mailing.render(address, "")),
        *check.store_rates(args.db),
    ]
    for finding in findings:
        sys.stdout.write(finding.line + "\n")
    errors = sum(f.level == check.ERROR for f in findings)
    if errors:
        log.error("%d finding(s) would hurt delivery: mend them before sending", errors)
        return ExitStatus.ERROR
    return ExitStatus.OK


def _send_all(args: argparse.Namespace, month: Month, mailing: Mailing,
              settings: SmtpSettings, store_timeout: float) -> int:
    """The real send, stopped cleanly by SIGTERM or SIGINT; its summary and exit status."""
    from publisher.deliver import job

    stop = args.stop
    summary = job.Send(args.db, mailing, settings, connections=args.connections,
                       rate=args.rate, retry_failed=args.retry_failed,
                       resend_in_doubt=args.resend_in_doubt, stop=stop,
                       store_timeout=store_timeout).run()
    logging.getLogger("publisher.progress").info(
        "%s: %d sent, %d deferred, %d failed, %d in doubt, %d not yet sent in %.1f s", month,
        summary.sent, summary.deferred, summary.failed, summary.doubt, summary.pending,
        summary.elapsed)
    left = summary.deferred + summary.pending
    doubt = (f"{summary.doubt} message(s) in doubt (the connection was lost after the server "
             f"had them): 'publisher send {month} --status' lists them, "
             "--resend-in-doubt sends them again") if summary.doubt else ""
    if summary.unrecorded:
        doubt = "; ".join(filter(None, [doubt, (
            f"the outcome of {summary.unrecorded} message(s) could not be recorded: the "
            "next run lists those the server had in doubt")]))
    again = f"run 'publisher send {month}' again"
    if stop.signum:
        log.error("%s", "; ".join(filter(None, [
            f"stopped by {stop.name} after the messages in flight: {summary.sent} sent, "
            f"{left} left", summary.error, doubt, f"{again} to send the rest"])))
        return stop.status
    if summary.error:
        log.error("%s", "; ".join(filter(None, [
            summary.error, doubt, f"{again} to send the rest" if summary.again and left
            else "nothing was sent" if not summary.sent and not summary.doubt else ""])))
        return ExitStatus.ERROR
    if left or summary.doubt:
        log.error("%s", "; ".join(filter(None, [
            f"{left} message(s) deferred: {again} later" if left else "", doubt])))
        return ExitStatus.ERROR
    if summary.doubt_before:
        log.warning("%d message(s) in doubt from an earlier run are not sent again: see "
                    "--status; --resend-in-doubt sends them", summary.doubt_before)
    return ExitStatus.OK


def _valid_address(text: str) -> str:
    from publisher.deliver import subscribers

    try:
        return subscribers.normalize_address(text)
    except ValueError as exc:
        raise PublisherError(f"invalid address {text.strip()!r}: {exc}") from None
