"""From a bounce or a complaint, however it came in, to an :class:`Event` to record.

Every path (an IMAP mailbox, a Maildir or mbox, the SMTP listener, the SES and
Postmark webhooks) hands its reports to one :class:`Intake`: it reads the
message (:func:`publisher.deliver.bounces.parse`), finds whom and which mailing it
is about (the VERP return path, checked with the secret; else the addresses the
report names and the Message-ID of the message it is about), and passes an
:class:`Event` to ``apply``, the store's side (:mod:`publisher.deliver.bounces.record`).
Auto-replies, success notices and what nobody can read are counted and left alone.

``key`` identifies a report (a digest of the message, or the provider's id of the
notification), so a report read twice (a mailbox read again, a webhook delivered
again) is recorded once.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from publisher.deliver import verp
from publisher.deliver.bounces.parse import parse
from publisher.deliver.bounces.report import Kind, Report

log = logging.getLogger(__name__)

#: The kinds that change anything.
COUNTED = (Kind.HARD, Kind.SOFT, Kind.COMPLAINT)


@dataclass(frozen=True)
class Event:
    """A bounce or a complaint about one address, ready to be recorded."""

    kind: Kind                  # HARD, SOFT or COMPLAINT
    address: str                # the address, in lower case ("" when only the id is known)
    subscriber_id: int | None   # from the VERP return path
    mailing: str                # the issue ("" when the report does not say)
    message_id: str             # of the message it is about, as the report gives it
    status: str = ""
    diagnostic: str = ""
    feedback_type: str = ""
    source: str = ""            # imap, maildir, mbox, file, smtp, ses, postmark
    key: str = ""               # the report's identity, for recording it once

    @property
    def who(self) -> str:
        return self.address or f"subscriber #{self.subscriber_id}"


def event_of(report: Report, secret: bytes, source: str, key: str) -> Event | None:
    """The event ``report`` makes, or None (not a bounce or complaint, or nobody named)."""
    if report.kind not in COUNTED:
        return None
    address, subscriber_id, mailing = "", None, ""
    bounced = verp.parse(report.verp, secret) if report.verp else None
    if bounced is not None:
        mailing = bounced.mailing
        if isinstance(bounced.recipient, int):
            subscriber_id = bounced.recipient
        else:
            address = bounced.recipient
    if not address and report.recipients:
        address = report.recipients[0].strip().strip("<>").lower()
    if not address and subscriber_id is None:
        return None
    return Event(report.kind, address, subscriber_id, mailing, report.message_id.strip(),
                 report.status, report.diagnostic[:500], report.feedback_type, source, key)


def message_key(data: bytes) -> str:
    """The identity of a report read from a message: a digest of its bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Intake:
    """Reads reports and passes their events to ``apply``, which says what it did
    (a short word: ``recorded``, ``again``, ``unknown``...); counts everything."""

    secret: bytes = field(repr=False)
    apply: Callable[[Event], str]
    counts: Counter[str] = field(default_factory=Counter)

    def message(self, data: bytes, source: str) -> Event | None:
        """One message from a mailbox or the listener."""
        report = parse(data)
        return self.report(report, source, message_key(data))

    def report(self, report: Report, source: str, key: str) -> Event | None:
        """One report (a webhook's, or a message's)."""
        event = event_of(report, self.secret, source, key)
        if event is None:
            what = "names nobody" if report.kind in COUNTED else str(report.kind)
            self.counts[f"ignored ({what})"] += 1
            log.debug("%s: not recorded: %s (%s)", source, what, report.shape or "no shape")
            return None
        outcome = self.apply(event)
        self.counts[f"{event.kind} ({outcome.split(',')[0]})"] += 1
        log.info("%s: %s %s of %s%s: %s", source, event.kind,
                 "report" if event.kind == Kind.COMPLAINT else "bounce", event.who,
                 f" ({event.mailing})" if event.mailing else "", outcome)
        return event

    def close(self) -> None:
        """Close what ``apply`` holds open (the store's connection), if anything."""
        close = getattr(self.apply, "close", None)
        if callable(close):
            close()

    def summary(self) -> str:
        return ", ".join(f"{n} {what}" for what, n in sorted(self.counts.items())) or "nothing"
