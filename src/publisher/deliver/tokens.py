"""Unsubscribe tokens and the personal unsubscribe URLs built from them.

A token is an HMAC-SHA256 of the list and the subscriber's address, keyed with
the secret in the ``PUBLISHER_SECRET`` environment variable (never in the
repository, never logged).  :func:`unsubscribe_url` is the one place the URL is
built: the email sender and the site's unsubscribe page both use it, and the
page checks a request with :func:`verify`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
from urllib.parse import quote, urlencode

from publisher.errors import PublisherError
from publisher.model import Publication, slug

SECRET_ENV = "PUBLISHER_SECRET"
MIN_SECRET_LENGTH = 16


def secret_from_env(environ: dict[str, str] | None = None) -> bytes:
    """The token secret from ``PUBLISHER_SECRET``; an error when unset or too short."""
    value = (os.environ if environ is None else environ).get(SECRET_ENV, "")
    if not value:
        raise PublisherError(f"{SECRET_ENV} is not set: it holds the secret the unsubscribe "
                             "tokens are signed with")
    if len(value) < MIN_SECRET_LENGTH:
        raise PublisherError(f"{SECRET_ENV} is too short: use at least {MIN_SECRET_LENGTH} "
                             "random characters")
    return value.encode("utf-8")


def list_id(publication: Publication) -> str:
    """The mailing list's name: the publication's title as a lower-case slug (``korea``)."""
    return slug(publication.title, default="list", ascii_only=True, casefold=True)


def make_token(address: str, list_name: str, secret: bytes) -> str:
    """The unsubscribe token of ``address`` on ``list_name`` (43 URL-safe characters)."""
    mac = keyed(secret).copy()
    mac.update(f"unsubscribe\n{list_name}\n{address.strip().casefold()}".encode())
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


@functools.lru_cache(maxsize=8)
def keyed(secret: bytes) -> hmac.HMAC:
    """An HMAC-SHA256 keyed with ``secret`` and fed nothing, for every token made with
    it (here and in :mod:`publisher.deliver.signed`): ``.copy()`` it, then ``update``.
    The key's own work is done once, not for each token; never update it itself."""
    return hmac.new(secret, digestmod=hashlib.sha256)


def verify(address: str, list_name: str, token: str, secret: bytes) -> bool:
    """Whether ``token`` is the unsubscribe token of ``address`` on ``list_name``."""
    expected = make_token(address, list_name, secret)
    return hmac.compare_digest(expected.encode("ascii"), token.strip().encode("utf-8"))


def unsubscribe_url(publication: Publication, address: str, secret: bytes) -> str:
    """``<base_url>/unsubscribe?address=...&token=...``, the subscriber's one-click link."""
    query = urlencode({"address": address,
                       "token": make_token(address, list_id(publication), secret)})
    return f"{publication.base_url}/unsubscribe?{query}"


def unsubscribe_mailto(publication: Publication, address: str, secret: bytes) -> str:
    """A ``mailto:`` unsubscribe request to the sender, carrying the address and token."""
    token = make_token(address, list_id(publication), secret)
    subject = quote(f"unsubscribe {address} {token}", safe="@")
    return f"mailto:{publication.sender_address}?subject={subject}"
