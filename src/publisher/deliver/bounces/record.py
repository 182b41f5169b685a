"""Recording bounce and complaint events in the subscriber store, and their rules.

Each :class:`publisher.deliver.bounces.intake.Event` becomes a row of
``bounce_events`` (keyed by the report's identity: a report read twice is recorded
once), marks the ledger row of its mailing (``deliveries.report``: ``soft``, ``hard``
or ``complaint``, the worst so far), and applies the rules, all in one transaction:

- a **hard bounce** suppresses the address at once;
- **soft bounces** suppress it once ``PUBLISHER_SOFT_BOUNCES`` of them (3), of
  different mailings, came within ``PUBLISHER_SOFT_BOUNCE_DAYS`` days (30);
- a **complaint** unsubscribes it at once, and is counted apart (the complaint rate of
  a mailing, ``send --check``).

A suppressed or complaining address is ``unsubscribed`` in ``subscribers`` (so no
send mails it and no import subscribes it again: an import keeps unsubscribed
addresses as they are), and ``suppressions`` says why and since when.

Whom an event is about: the subscriber of its VERP return path; else the subscriber
with the address the report names. Which mailing: the return path's; else the ledger
row with the report's Message-ID; else the last message sent to that subscriber.
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from publisher.deliver import db as store_db
from publisher.deliver import subscribers
from publisher.deliver.bounces.intake import Event
from publisher.deliver.bounces.report import Kind
from publisher.deliver.db import Connection, Location, transaction
from publisher.deliver.settings import number

log = logging.getLogger(__name__)

SOFT_ENV, DAYS_ENV = "PUBLISHER_SOFT_BOUNCES", "PUBLISHER_SOFT_BOUNCE_DAYS"
#: Worst first: what a ledger row's ``report`` keeps.
SEVERITY = {"": 0, Kind.SOFT.value: 1, Kind.HARD.value: 2, Kind.COMPLAINT.value: 3}
@dataclass(frozen=True)
class Rules:
    soft_bounces: int = 3   # soft bounces (of different mailings) that suppress ...
    soft_days: int = 30     # ... within this many days

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Rules:
        env = os.environ if environ is None else environ
        return cls(number(env, SOFT_ENV, 3, int, 1, 100),
                   number(env, DAYS_ENV, 30, int, 1, 3650))


class Recorder:
    """Applies events to the store at ``where`` (an SQLite file or a PostgreSQL URL; its
    connection opened at the first, kept until :meth:`close`, or one of ``pool``'s for
    each event: the web application's); each call says what it did, in a word or two."""

    def __init__(self, where: Location | Path | str, rules: Rules | None = None, *,
                 timeout: float | None = None, pool: store_db.Pool | None = None):
        self.location = store_db.locate(where)
        self.rules = rules or Rules.from_env()
        self.timeout = timeout  # how long a write waits for a busy store (default: 30 s)
        self.pool = pool
        self.db: Connection | None = None

    def __call__(self, event: Event) -> str:
        try:
            if self.pool is not None:
                with self.pool.connection() as db:
                    return record(db, event, self.rules)
            if self.db is None:
                self.db = subscribers.connect(self.location, timeout=self.timeout)
            return record(self.db, event, self.rules)
        except store_db.errors() as exc:
            self.close()
            raise self.location.error(subscribers.describe(exc)) from None

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


def recorder(where: Location | Path | str) -> Recorder:
    """What applies events to the store at ``where`` (the rules from the environment,
    checked now)."""
    return Recorder(where, Rules.from_env())


def record(db: Connection, event: Event, rules: Rules) -> str:
    """Record ``event`` and apply the rules, in one transaction; what came of it."""
    stamp = subscribers.now()
    with transaction(db):
        if db.execute("SELECT 1 FROM bounce_events WHERE key = ?", (event.key,)).fetchone():
            return "already recorded"
        found = _subscriber(db, event)
        subscriber_id, email_key = found if found else (None, _key(event.address))
        issue = event.mailing or (_mailing(db, subscriber_id, event.message_id)
                                  if subscriber_id is not None else "")
        outcome = "unknown address" if subscriber_id is None else _apply(
            db, event, subscriber_id, issue, stamp, rules)
        db.execute("INSERT INTO bounce_events (key, received, kind, subscriber_id, email_key, "
                   "issue, status, diagnostic, feedback_type, message_id, source, outcome) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (event.key, stamp, event.kind.value, subscriber_id, email_key, issue,
                    event.status, event.diagnostic, event.feedback_type, event.message_id,
                    event.source, outcome))
        return outcome


def _key(address: str) -> str:
    try:
        return subscribers.address_key(subscribers.normalize_address(address))
    except ValueError:
        return subscribers.address_key(address.strip())


def _subscriber(db: Connection, event: Event) -> tuple[int, str] | None:
    if event.subscriber_id is not None:
        row = db.execute("SELECT id, email_key FROM subscribers WHERE id = ?",
                         (event.subscriber_id,)).fetchone()
        if row:
            return int(row[0]), str(row[1])
    if event.address:
        row = db.execute("SELECT id, email_key FROM subscribers WHERE email_key = ?",
                         (_key(event.address),)).fetchone()
        if row:
            return int(row[0]), str(row[1])
    return None


def _mailing(db: Connection, subscriber_id: int, message_id: str) -> str:
    """The mailing of the message ``message_id`` to the subscriber, else the last one
    they were sent."""
    if message_id:
        row = db.execute("SELECT issue FROM deliveries WHERE subscriber_id = ? AND "
                         "message_id = ?", (subscriber_id, message_id.strip())).fetchone()
        if row:
            return str(row[0])
    row = db.execute("SELECT issue FROM deliveries WHERE subscriber_id = ? AND state IN "
                     "('sent', 'doubt', 'handed') ORDER BY changed DESC LIMIT 1",
                     (subscriber_id,)).fetchone()
    return str(row[0]) if row else ""


def _apply(db: Connection, event: Event, subscriber_id: int, issue: str, stamp: str,
           rules: Rules) -> str:
    kind = event.kind.value
    if issue:
        row = db.execute("SELECT report FROM deliveries WHERE issue = ? AND subscriber_id = ?",
                         (issue, subscriber_id)).fetchone()
        if row is not None and SEVERITY[kind] > SEVERITY.get(str(row[0]), 0):
            db.execute("UPDATE deliveries SET report = ? WHERE issue = ? AND subscriber_id = ?",
                       (kind, issue, subscriber_id))
    if event.kind == Kind.SOFT:
        cutoff = (datetime.datetime.now(datetime.UTC)
                  - datetime.timedelta(days=rules.soft_days)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        earlier = db.execute(
            "SELECT count(DISTINCT CASE WHEN issue = '' THEN key ELSE issue END) FROM "
            "bounce_events WHERE subscriber_id = ? AND kind = 'soft' AND received >= ? AND "
            "NOT (issue = ? AND issue != '')", (subscriber_id, cutoff, issue)).fetchone()[0]
        n = int(earlier) + 1
        if n < rules.soft_bounces:
            return f"counted, {n} of {rules.soft_bounces} in {rules.soft_days} days"
    return _stop(db, subscriber_id, kind, stamp, event.key)


def _stop(db: Connection, subscriber_id: int, reason: str, stamp: str,
          key: str) -> str:
    """Unsubscribe the subscriber and say why (a complaint's reason wins over a bounce's)."""
    found = db.execute("SELECT email, email_key FROM subscribers WHERE id = ?",
                       (subscriber_id,)).fetchone()
    changed = bool(db.execute("UPDATE subscribers SET status = 'unsubscribed', changed = ? "
                              "WHERE id = ? AND status != 'unsubscribed'",
                              (stamp, subscriber_id)).rowcount)
    # a pause from the preference page ends: the reader is stopped for good
    paused = bool(db.execute("DELETE FROM pauses WHERE email_key = ?", (found[1],)).rowcount)
    if changed or paused:  # in the reader's history, as any unsubscribe is
        db.execute("INSERT INTO consent_events (email_key, email, event, how, detail, at) "
                   "VALUES (?, ?, 'unsubscribe', ?, ?, ?)",
                   (found[1], found[0], "complaint" if reason == Kind.COMPLAINT.value
                    else "bounce", reason, stamp))
    row = db.execute("SELECT reason FROM suppressions WHERE subscriber_id = ?",
                     (subscriber_id,)).fetchone()
    if row is None:
        db.execute("INSERT INTO suppressions (subscriber_id, reason, since, event) "
                   "VALUES (?, ?, ?, ?)", (subscriber_id, reason, stamp, key))
    elif reason == Kind.COMPLAINT.value and row[0] != reason:
        db.execute("UPDATE suppressions SET reason = ?, since = ?, event = ? "
                   "WHERE subscriber_id = ?", (reason, stamp, key, subscriber_id))
    if reason == Kind.COMPLAINT.value:
        return "unsubscribed" if changed else "already unsubscribed"
    return "suppressed" if changed else "already stopped"


@dataclass(frozen=True)
class Rates:
    mailing: str
    sent: int
    complaints: int
    hard_bounces: int


def last_mailing(db: Connection) -> Rates:
    """The complaints and hard bounces of the last mailing sent (by its last message)."""
    if "deliveries" not in db.tables():
        return Rates("", 0, 0, 0)
    row = db.execute("SELECT issue FROM deliveries WHERE state = 'sent' "
                     "ORDER BY changed DESC LIMIT 1").fetchone()
    if row is None:
        return Rates("", 0, 0, 0)
    issue = str(row[0])
    sent = db.execute("SELECT count(*) FROM deliveries WHERE issue = ? AND state = 'sent'",
                      (issue,)).fetchone()[0]
    counts = {"complaint": 0, "hard": 0}
    for kind, n in db.execute(
            "SELECT kind, count(DISTINCT subscriber_id) FROM bounce_events WHERE "
            "issue = ? AND subscriber_id IS NOT NULL GROUP BY kind", (issue,)):
        counts[str(kind)] = int(n)
    return Rates(issue, int(sent), counts["complaint"], counts["hard"])
