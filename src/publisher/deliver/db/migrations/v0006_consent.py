"""Readers subscribe themselves: pending signups, consent history, the outbox, erasures.

- ``consent_texts``: every consent sentence a reader was shown, by its digest (SHA-256
  of the text), with its version: a history row names the digest, this table the words.
- ``signups``: an address that asked to subscribe and has not confirmed yet (one row per
  address; a new request replaces the nonce its link carries); never mailed an issue.
- ``consent_events``: every change of a reader's state (signup, confirmation, import,
  preference change, pause, unsubscribe), when, how, with which consent text and from
  which client (its address or a keyed hash of it, or nothing: a setting).
- ``outbox``: mail the web application owes (confirmation links), written in the same
  transaction as the signup, sent after the commit, its moves recorded as the send
  ledger's are (pending, sending, handed, sent | deferred | failed | doubt).
- ``erasures``: a keyed hash of each erased address, so that no import adds it back.
- ``pauses``: the addresses paused from the preference page (unsubscribed meanwhile).
- ``signup_attempts``: recent signup requests per address and per client, for the
  rate limits (keyed hashes only).

Each is created only where missing, as the baseline's are (a store rebuilt by hand
from an older one may keep these tables).
"""

from __future__ import annotations

SQL = """
CREATE TABLE IF NOT EXISTS consent_texts (
    digest TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    text TEXT NOT NULL,
    first_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS signups (
    id {id},
    email TEXT NOT NULL,
    email_key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    nonce TEXT NOT NULL,
    consent_version TEXT NOT NULL,
    consent_digest TEXT NOT NULL,
    client TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    expires TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS consent_events (
    id {id},
    email_key TEXT NOT NULL,
    email TEXT NOT NULL,
    event TEXT NOT NULL,
    how TEXT NOT NULL,
    consent_version TEXT NOT NULL DEFAULT '',
    consent_digest TEXT NOT NULL DEFAULT '',
    client TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consent_events_key ON consent_events (email_key, id);
CREATE TABLE IF NOT EXISTS outbox (
    id {id},
    kind TEXT NOT NULL,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    sender TEXT NOT NULL,
    message TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sending', 'handed', 'sent', 'deferred', 'failed', 'doubt')),
    attempts INTEGER NOT NULL DEFAULT 0,
    reply TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT '',
    claimed DOUBLE PRECISION NOT NULL DEFAULT 0,
    due DOUBLE PRECISION NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    changed TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, due);
CREATE TABLE IF NOT EXISTS erasures (
    key_hash TEXT PRIMARY KEY,
    erased TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pauses (
    email_key TEXT PRIMARY KEY,
    paused TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS signup_attempts (
    bucket TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS signup_attempts_bucket ON signup_attempts (bucket, at)
"""
