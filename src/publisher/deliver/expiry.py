"""Signups nobody confirmed: dropped once their link has expired, each with an ``expire``
event in its history; and the rate limits' old counts.  Run by every outbox sender
(:mod:`publisher.deliver.outbox`, which runs often) and by each signup for its own
address (:mod:`publisher.deliver.consent`)."""

from __future__ import annotations

import time

from publisher.deliver.db import Connection, now, transaction

#: Seconds the rate limits count requests over.
WINDOW = 3600.0


def purge(db: Connection, window: float = WINDOW) -> int:
    """Drop the signups whose link has expired (each an ``expire`` event of its history)
    and the rate limits' counts older than ``window``; how many signups."""
    stamp = now()
    with transaction(db):
        db.execute("INSERT INTO consent_events (email_key, email, event, how, consent_version, "
                   "consent_digest, detail, at) SELECT email_key, email, 'expire', 'expiry', "
                   "consent_version, consent_digest, 'never confirmed: the signup is dropped', "
                   "? FROM signups WHERE expires < ?", (stamp, stamp))
        dropped = int(db.execute("DELETE FROM signups WHERE expires < ?", (stamp,)).rowcount)
        db.execute("DELETE FROM signup_attempts WHERE at < ?", (time.time() - window,))
    return dropped
