"""Consent on record: pending signups, their confirmation, a reader's own changes, erasure.

Every change of a reader's state is a row of ``consent_events`` written in the same
transaction as the change itself: when (``at``), what (``event``: ``signup``,
``confirm``, ``import``, ``name``, ``pause``, ``resume``, ``unsubscribe``,
``expire``), how (``how``: ``form``, ``link``, ``import``, ``preferences``,
``unsubscribe``, ``command``, ``expiry``), the consent text's version and digest (its words are in
``consent_texts``), the client (its address, a keyed hash of it, or nothing:
:class:`SignupSettings`) and a detail.  An address that asked to subscribe is a row
of ``signups`` until it confirms (then it is a subscriber) or its link expires; it is
never mailed an issue meanwhile.  An erased address leaves only a keyed hash in
``erasures``, which keeps a later import from adding it back; a new signup,
confirmed, lifts it.

This module never renders: the confirmation message is made by the caller (the web
application) and handed over as bytes, to go out through :mod:`publisher.deliver.outbox`.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from publisher.deliver import outbox, signed, subscribers
from publisher.deliver.db import Connection, now, transaction
from publisher.deliver.expiry import purge as purge  # one of the store's moves, here too
from publisher.deliver.settings import number
from publisher.errors import PublisherError

SIGNUP, CONFIRM, IMPORT, NAME, PAUSE, RESUME, UNSUBSCRIBE, EXPIRE = (
    "signup", "confirm", "import", "name", "pause", "resume", "unsubscribe", "expire")
FORM, LINK, FILE, PREFERENCES, COMMAND = "form", "link", "import", "preferences", "command"
CLIENT_RECORDS = ("hash", "address", "none")
#: What :func:`request_signup` answers (the reader sees one page for all but the last).
QUEUED, ALREADY, LIMITED, TOO_MANY = "queued", "already", "limited", "too many"
#: What :func:`confirm` answers.
CONFIRMED, USED, EXPIRED = "confirmed", "used", "expired"


@dataclass(frozen=True)
class Consent:
    """A consent sentence as shown, with its version; ``digest`` proves the words."""

    text: str
    version: str

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SignupSettings:
    """The signup's settings, from the environment (each checked, one line if wrong)."""

    expiry_days: float = 7.0          # PUBLISHER_SIGNUP_EXPIRY_DAYS
    client_record: str = "hash"       # PUBLISHER_CONSENT_CLIENT: hash | address | none
    per_address: int = 3              # PUBLISHER_SIGNUP_PER_ADDRESS (requests an hour)
    per_client: int = 20              # PUBLISHER_SIGNUP_PER_CLIENT (requests an hour)
    window: float = 3600.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SignupSettings:
        env = os.environ if environ is None else environ
        record = env.get("PUBLISHER_CONSENT_CLIENT", "").strip().lower() or "hash"
        if record not in CLIENT_RECORDS:
            raise PublisherError(f"PUBLISHER_CONSENT_CLIENT is {record!r}: use one of "
                                 f"{', '.join(CLIENT_RECORDS)}")
        return cls(expiry_days=number(env, "PUBLISHER_SIGNUP_EXPIRY_DAYS", 7.0, float,
                                       0.001, 365),
                    client_record=record,
                    per_address=number(env, "PUBLISHER_SIGNUP_PER_ADDRESS", 3, int, 1, 1000),
                    per_client=number(env, "PUBLISHER_SIGNUP_PER_CLIENT", 20, int, 1, 100000))

    def client(self, secret: bytes, address: str) -> str:
        """What the history keeps of a client's network address."""
        if not address or self.client_record == "none":
            return ""
        if self.client_record == "address":
            return address
        return "hmac:" + signed.keyed_hash(secret, "client", address)[:32]


@dataclass(frozen=True)
class Event:
    at: str
    event: str
    how: str
    consent_version: str
    consent_digest: str
    client: str
    detail: str
    email: str

    def as_dict(self) -> dict[str, str]:
        return {"at": self.at, "event": self.event, "how": self.how,
                "consent_version": self.consent_version,
                "consent_digest": self.consent_digest, "client": self.client,
                "detail": self.detail}


def record(db: Connection, email: str, event: str, how: str, *,
           consent: Consent | None = None, version: str = "", digest: str = "",
           client: str = "", detail: str = "", at: str | None = None) -> None:
    """One history row (call it in the transaction that makes the change)."""
    if consent is not None:
        remember(db, consent)
        version, digest = consent.version, consent.digest
    db.execute("INSERT INTO consent_events (email_key, email, event, how, consent_version, "
               "consent_digest, client, detail, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (subscribers.address_key(email), email, event, how, version, digest, client,
                detail, at or now()))


def remember(db: Connection, consent: Consent) -> None:
    """Keep the words of a consent text, once per digest."""
    db.execute("INSERT INTO consent_texts (digest, version, text, first_seen) "
               "VALUES (?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING",
               (consent.digest, consent.version, consent.text, now()))


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def request_signup(db: Connection, *, address: str, name: str, consent: Consent,
                   client: str, client_key: str, secret: bytes, settings: SignupSettings,
                   list_name: str, sender: str,
                   message: Callable[[str, str], bytes]) -> str:
    """A reader asks to subscribe ``address`` (already normalised) on the form.

    In one transaction: the rate limits are counted (``client_key`` keyed per client),
    expired signups are dropped, and unless the address is subscribed already (nothing
    to do) or over its limit, the signup is recorded (kept with its nonce while it is
    pending and not expired, so concurrent requests send the same link), with its
    history row and the confirmation message in the outbox: ``message(token, name)``
    makes it.  Returns :data:`QUEUED`, :data:`ALREADY`, :data:`LIMITED` (the address's
    limit) or :data:`TOO_MANY` (the client's limit: nothing recorded).
    """
    key = subscribers.address_key(address)
    moment = time.time()
    address_bucket = "a:" + signed.keyed_hash(secret, "address", key)[:32]
    client_bucket = "c:" + client_key
    with transaction(db):
        db.lock(f"signup {key}")
        db.execute("DELETE FROM signup_attempts WHERE at < ?", (moment - settings.window,))
        counts = dict(db.execute(
            "SELECT bucket, count(*) FROM signup_attempts WHERE bucket IN (?, ?) "
            "GROUP BY bucket", (address_bucket, client_bucket)).fetchall())
        if counts.get(client_bucket, 0) >= settings.per_client:
            return TOO_MANY
        db.executemany("INSERT INTO signup_attempts (bucket, at) VALUES (?, ?)",
                       [(client_bucket, moment), (address_bucket, moment)])
        if counts.get(address_bucket, 0) >= settings.per_address:
            return LIMITED
        db.execute("INSERT INTO consent_events (email_key, email, event, how, consent_version, "
                   "consent_digest, detail, at) SELECT email_key, email, 'expire', 'expiry', "
                   "consent_version, consent_digest, 'never confirmed: the signup is dropped', "
                   "? FROM signups WHERE email_key = ? AND expires < ?", (now(), key, now()))
        db.execute("DELETE FROM signups WHERE email_key = ? AND expires < ?", (key, now()))
        found = subscribers.find(db, address)
        if found is not None and found.status == subscribers.SUBSCRIBED:
            return ALREADY
        row = db.execute("SELECT nonce, expires FROM signups WHERE email_key = ?",
                         (key,)).fetchone()
        stamp = now()
        if row is None:
            nonce = secrets.token_urlsafe(16)
            expires = int(moment + settings.expiry_days * 86400)
            db.execute("INSERT INTO signups (email, email_key, name, nonce, consent_version, "
                       "consent_digest, client, created, expires) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (address, key, name, nonce, consent.version, consent.digest, client,
                        stamp, _stamp(expires)))
        else:
            nonce = row[0]
            expires = int(datetime.strptime(row[1], "%Y-%m-%dT%H:%M:%S.%fZ")
                          .replace(tzinfo=UTC).timestamp())
            db.execute("UPDATE signups SET name = ?, consent_version = ?, consent_digest = ?, "
                       "client = ? WHERE email_key = ?",
                       (name, consent.version, consent.digest, client, key))
        record(db, address, SIGNUP, FORM, consent=consent, client=client,
               detail=f"confirmation link sent, valid until {_stamp(expires)}")
        token = signed.confirm_token(secret, list_name, address, nonce, expires)
        outbox.enqueue(db, "confirm", address, sender, message(token, name))
    return QUEUED


def confirm(db: Connection, address: str, nonce: str, *, client: str,
            secret: bytes) -> str:
    """The reader pressed the button of their confirmation link: subscribe them (back).

    Returns :data:`CONFIRMED`, :data:`USED` (no pending signup with this nonce: used
    already, replaced, or never made) or :data:`EXPIRED`.
    """
    key = subscribers.address_key(address)
    with transaction(db):
        db.lock(f"signup {key}")
        row = db.execute("SELECT email, name, nonce, consent_version, consent_digest, expires "
                         "FROM signups WHERE email_key = ?", (key,)).fetchone()
        if row is None or row[2] != nonce:
            return USED
        email, name, _, version, digest, expires = row
        if expires < now():
            record(db, email, "expire", "expiry", version=version, digest=digest,
                   detail="never confirmed: the signup is dropped")
            db.execute("DELETE FROM signups WHERE email_key = ?", (key,))
            return EXPIRED
        stamp = now()
        db.execute("INSERT INTO subscribers (email, email_key, name, status, created, changed) "
                   "VALUES (?, ?, ?, 'subscribed', ?, ?) ON CONFLICT (email_key) DO UPDATE "
                   "SET status = 'subscribed', changed = excluded.changed, name = CASE WHEN "
                   "excluded.name != '' THEN excluded.name ELSE subscribers.name END",
                   (email, key, name, stamp, stamp))
        db.execute("DELETE FROM signups WHERE email_key = ?", (key,))
        db.execute("DELETE FROM pauses WHERE email_key = ?", (key,))
        db.execute("DELETE FROM erasures WHERE key_hash = ?", (erasure_hash(secret, key),))
        record(db, email, CONFIRM, LINK, version=version, digest=digest, client=client,
               detail="double opt-in confirmed")
    return CONFIRMED


def erasure_hash(secret: bytes, key: str) -> str:
    return signed.keyed_hash(secret, "erased", key)


# -- the reader's own changes (the preference page) ----------------------------------


def state(db: Connection, address: str) -> str:
    """``subscribed``, ``paused``, ``unsubscribed``, ``pending`` or ``none``."""
    found = subscribers.find(db, address)
    key = subscribers.address_key(address)
    if found is None:
        pending = db.execute("SELECT 1 FROM signups WHERE email_key = ?", (key,)).fetchone()
        return "pending" if pending else "none"
    if found.status == subscribers.UNSUBSCRIBED and db.execute(
            "SELECT 1 FROM pauses WHERE email_key = ?", (key,)).fetchone():
        return "paused"
    return found.status


def set_name(db: Connection, address: str, name: str, client: str) -> bool:
    name = subscribers.check_name(name)
    with transaction(db):
        changed = db.execute("UPDATE subscribers SET name = ?, changed = ? "
                             "WHERE email_key = ? AND name != ?",
                             (name, now(), subscribers.address_key(address), name)).rowcount
        if changed:
            record(db, address, NAME, PREFERENCES, client=client,
                   detail="name changed" if name else "name removed")
    return bool(changed)


def pause(db: Connection, address: str, client: str) -> bool:
    """No issue is mailed until the reader resumes (they are unsubscribed meanwhile)."""
    key = subscribers.address_key(address)
    with transaction(db):
        if not db.execute("UPDATE subscribers SET status = 'unsubscribed', changed = ? "
                          "WHERE email_key = ? AND status = 'subscribed'",
                          (now(), key)).rowcount:
            return False
        db.execute("INSERT INTO pauses (email_key, paused) VALUES (?, ?) "
                   "ON CONFLICT (email_key) DO NOTHING", (key, now()))
        record(db, address, PAUSE, PREFERENCES, client=client, detail="paused")
    return True


def resume(db: Connection, address: str, client: str) -> bool:
    """Only a pause the reader made is undone here: an unsubscribe needs a new signup."""
    key = subscribers.address_key(address)
    with transaction(db):
        if not db.execute("DELETE FROM pauses WHERE email_key = ?", (key,)).rowcount:
            return False
        db.execute("UPDATE subscribers SET status = 'subscribed', changed = ? "
                   "WHERE email_key = ?", (now(), key))
        record(db, address, RESUME, PREFERENCES, client=client, detail="resumed")
    return True


def history(db: Connection, address: str) -> list[Event]:
    rows = db.execute("SELECT at, event, how, consent_version, consent_digest, client, "
                      "detail, email FROM consent_events WHERE email_key = ? ORDER BY id",
                      (subscribers.address_key(address),)).fetchall()
    return [Event(*row) for row in rows]


def my_data(db: Connection, address: str) -> dict[str, object]:
    """Everything the store holds about ``address``: the "my data" download."""
    key = subscribers.address_key(address)
    found = subscribers.find(db, address)
    row = db.execute("SELECT created, changed FROM subscribers WHERE email_key = ?",
                     (key,)).fetchone()
    events = history(db, address)
    digests = sorted({e.consent_digest for e in events if e.consent_digest})
    texts = {d: {"version": v, "text": t} for d, v, t in (db.execute(
        "SELECT digest, version, text FROM consent_texts WHERE digest = ?", (d,)).fetchone()
        for d in digests) if d}
    pending = db.execute("SELECT created, expires FROM signups WHERE email_key = ?",
                         (key,)).fetchone()
    return {
        "address": found.email if found else address,
        "subscriber": None if found is None else {
            "email": found.email, "name": found.name, "status": state(db, address),
            "created": row[0], "changed": row[1]},
        "pending_signup": None if pending is None else {"created": pending[0],
                                                        "expires": pending[1]},
        "history": [e.as_dict() for e in events],
        "consent_texts": texts,
        "deliveries": [dict(zip(("issue", "state", "changed"), r, strict=True))
                       for r in db.execute(
                           "SELECT d.issue, d.state, d.changed FROM deliveries d JOIN "
                           "subscribers s ON s.id = d.subscriber_id WHERE s.email_key = ? "
                           "ORDER BY d.issue", (key,)).fetchall()],
    }


def erase(db: Connection, address: str, secret: bytes) -> None:
    """Remove the reader and everything about them; keep a keyed hash of the address,
    so that no import adds it back without a new, confirmed signup."""
    key = subscribers.address_key(address)
    with transaction(db):
        for table in ("deliveries", "suppressions"):  # (they refer to the subscriber)
            db.execute(f"DELETE FROM {table} WHERE subscriber_id IN "
                       "(SELECT id FROM subscribers WHERE email_key = ?)", (key,))
        db.execute("DELETE FROM bounce_events WHERE email_key = ?", (key,))
        for table in ("subscribers", "signups", "pauses", "consent_events", "outbox"):
            db.execute(f"DELETE FROM {table} WHERE email_key = ?", (key,))
        db.execute("INSERT INTO erasures (key_hash, erased) VALUES (?, ?) "
                   "ON CONFLICT (key_hash) DO NOTHING", (erasure_hash(secret, key), now()))


def is_erased(db: Connection, address: str, secret: bytes) -> bool:
    return db.execute("SELECT 1 FROM erasures WHERE key_hash = ?", (erasure_hash(
        secret, subscribers.address_key(address)),)).fetchone() is not None
