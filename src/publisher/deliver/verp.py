"""VERP return paths: each message's envelope sender names its recipient and mailing.

A bounce goes back to the envelope sender (``MAIL FROM``), so a return path of
its own per message says whose message bounced and in which mailing, whatever
the bounce's shape (RFC 3464 report, plain text, a mailbox that forwards)::

    bounces+<recipient>.<mailing>.<mac>@<bounce domain>
    bounces+4711.2023-08.k2b6sdvq4tzn5pia@bounces.example.org
    bounces+ann=example.org.2023-08.w7o1e9s3xwbqa2ma@bounces.example.org

The recipient is the subscriber's id (digits) or, failing that, the address with
its ``@`` as ``=`` (the classic VERP form). The mac is an HMAC-SHA256 of both,
keyed with ``PUBLISHER_SECRET`` (the unsubscribe tokens' secret, for another
purpose), truncated to 80 bits and written in lower-case base32: every character
survives an MTA that folds the local part's case, and nobody can make up a return
path that names a subscriber. Local parts are at most 64 octets (RFC 5321
4.5.3.1.1): an id always fits; :func:`return_path` refuses an address that does
not (use the id).

The bounce domain is a setting, ``PUBLISHER_BOUNCE_DOMAIN`` (:func:`bounce_domain_from_env`):
unset, every message keeps the sender's address as its return path.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from typing import NamedTuple

from publisher.deliver.domains import ascii_domain
from publisher.errors import PublisherError

BOUNCE_DOMAIN_ENV = "PUBLISHER_BOUNCE_DOMAIN"
PREFIX = "bounces"
MAX_LOCAL = 64
MAC_BYTES = 10  # 80 bits: 16 base32 characters
_MAILING = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_PREFIX = re.compile(r"[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?")
# dot-atom text (RFC 5322 3.2.3), lower case
_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDRESS_LOCAL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_MAC = re.compile(r"[a-z2-7]{16}")


class Bounced(NamedTuple):
    """What a return path names: the recipient (an id, or an address in lower case)
    and the mailing."""

    recipient: int | str
    mailing: str


def bounce_domain_from_env(environ: Mapping[str, str] | None = None) -> str:
    """``PUBLISHER_BOUNCE_DOMAIN`` in IDNA, lower case; "" when unset (no VERP)."""
    text = (os.environ if environ is None else environ).get(BOUNCE_DOMAIN_ENV, "").strip()
    if not text:
        return ""
    try:
        return ascii_domain(text)
    except ValueError:
        raise PublisherError(f"{BOUNCE_DOMAIN_ENV} is {text!r}: name the domain bounces "
                             "come back to, such as 'bounces.example.org'") from None


class ReturnPaths:
    """The return paths of one mailing: the mailing, the prefix and the bounce domain
    checked once (a ValueError for one a return path cannot carry, as
    :func:`return_path` gives), then :meth:`of` for each message."""

    __slots__ = ("_domain", "_keyed", "_mailing", "_prefix")

    def __init__(self, mailing: str, secret: bytes, bounce_domain: str, *,
                 prefix: str = PREFIX):
        self._mailing = _check(mailing, _MAILING, "mailing",
                               "lower-case letters, digits and hyphens")
        self._prefix = _check(prefix, _PREFIX, "prefix", "lower-case letters, digits, _ and -")
        self._domain = ascii_domain(bounce_domain)
        self._keyed = _keyed(secret)

    def of(self, recipient: int | str) -> str:
        """The envelope sender of the mailing's message to ``recipient``; a ValueError
        for an id or address it cannot carry."""
        field = _recipient_field(recipient)
        mac = _mac_of(self._keyed, field, self._mailing)
        local = f"{self._prefix}+{field}.{self._mailing}.{mac}"
        if len(local) > MAX_LOCAL:
            raise ValueError(f"the return path's local part would be {len(local)} octets, "
                             f"over {MAX_LOCAL}: pass the subscriber's id, not the address")
        return f"{local}@{self._domain}"


def return_path(recipient: int | str, mailing: str, secret: bytes, bounce_domain: str, *,
                prefix: str = PREFIX) -> str:
    """The envelope sender of ``mailing``'s message to ``recipient``; a ValueError for an
    id, address, mailing or domain it cannot carry. Many messages of one mailing:
    :class:`ReturnPaths` checks the mailing, prefix and domain once."""
    return ReturnPaths(mailing, secret, bounce_domain, prefix=prefix).of(recipient)


def parse(address: str, secret: bytes) -> Bounced | None:
    """(recipient, mailing) of a return path :func:`return_path` made with ``secret``;
    None for anything else (another address, a forged or altered one), whatever the
    case it comes back in. The domain is not checked."""
    local, at, _domain_part = address.strip().strip("<>").rpartition("@")
    if not (at and local.isascii()):
        return None
    _prefix, plus, token = local.lower().partition("+")
    if not plus:
        return None
    field, dot, rest = token.rpartition(".")  # field.mailing.mac, the field may hold dots
    if not dot:
        return None
    field, dot, mailing = field.rpartition(".")
    if not (dot and field and _MAILING.fullmatch(mailing) and _MAC.fullmatch(rest)):
        return None
    if not hmac.compare_digest(_mac(field, mailing, secret), rest):
        return None
    if field.isdigit():
        return Bounced(int(field), mailing)
    address_local, eq, domain = field.rpartition("=")
    if not (eq and address_local):
        return None
    return Bounced(f"{address_local}@{domain}", mailing)


def _recipient_field(recipient: int | str) -> str:
    if isinstance(recipient, bool):  # a bool is an int to isinstance
        raise ValueError(f"not a subscriber id or an address: {recipient!r}")
    if isinstance(recipient, int):
        if recipient < 0:
            raise ValueError(f"a subscriber id is not negative: {recipient}")
        return str(recipient)
    local, at, domain = recipient.strip().rpartition("@")
    local = local.lower()
    if not (at and _ADDRESS_LOCAL.fullmatch(local)):
        raise ValueError(f"{recipient!r}: only an address whose local part is a plain ASCII "
                         "dot-atom fits in a return path: pass the subscriber's id")
    return f"{local}={ascii_domain(domain)}"


def _check(value: str, pattern: re.Pattern[str], what: str, allowed: str) -> str:
    if not pattern.fullmatch(value):
        raise ValueError(f"the {what} {value!r} cannot go in a return path: use {allowed}")
    return value


def _mac(field: str, mailing: str, secret: bytes) -> str:
    return _mac_of(_keyed(secret), field, mailing)


def _mac_of(keyed: hmac.HMAC, field: str, mailing: str) -> str:
    mac = keyed.copy()  # the key's own work done once, not for each message
    mac.update(f"verp\n{field}\n{mailing}".encode("ascii"))
    return base64.b32encode(mac.digest()[:MAC_BYTES]).decode("ascii").lower()


@functools.lru_cache(maxsize=8)
def _keyed(secret: bytes) -> hmac.HMAC:
    """An HMAC-SHA256 keyed with ``secret`` and fed nothing: copied for each mac."""
    return hmac.new(secret, digestmod=hashlib.sha256)
