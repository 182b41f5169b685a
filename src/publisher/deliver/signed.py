"""The signed links of the signup flow: confirm a signup, open one's preferences.

Each is an HMAC-SHA256 keyed with ``PUBLISHER_SECRET``, as the unsubscribe token
(:mod:`publisher.deliver.tokens`), over a purpose that no other token shares, so a
token made for one use is refused by every other:

- a **confirmation** token signs the address, the signup's random nonce (kept in the
  store until the signup is confirmed, replaced by a new request) and the expiry; it is
  good once, until then;
- a **preferences** token signs the address alone, as the unsubscribe link does: it
  stays good for as long as the reader is in the store.

:func:`keyed_hash` is the one keyed hash of an address or a client address (what an
erasure leaves behind, what the rate limits count, what the history keeps of a client
when it is not to keep the address).
"""

from __future__ import annotations

import base64
import hmac
import time
from urllib.parse import urlencode

from publisher.deliver.tokens import keyed
from publisher.model import Publication

CONFIRM, PREFERENCES = "confirm", "preferences"


def _mac(secret: bytes, *parts: str) -> str:
    mac = keyed(secret).copy()
    mac.update("\n".join(parts).encode("utf-8"))
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


def keyed_hash(secret: bytes, purpose: str, value: str) -> str:
    """A keyed hash of ``value`` for ``purpose`` (hex): the same value, the same hash,
    and nothing to learn from it without the secret."""
    mac = keyed(secret).copy()
    mac.update(f"{purpose}\n{value}".encode())
    return mac.hexdigest()


def confirm_token(secret: bytes, list_name: str, address: str, nonce: str,
                  expires: int) -> str:
    """``<expires>.<nonce>.<mac>``: the token of one signup's confirmation link."""
    mac = _mac(secret, CONFIRM, list_name, address.casefold(), nonce, str(expires))
    return f"{expires}.{nonce}.{mac}"


def check_confirm(secret: bytes, list_name: str, address: str, token: str,
                  now: float | None = None) -> tuple[str, str] | None:
    """``(state, nonce)``: state ``valid`` or ``expired``; ``None`` for a forged or
    malformed token (a token for another address, list or purpose among them)."""
    parts = token.strip().split(".")
    if len(parts) != 3 or not parts[0].isdigit() or len(parts[0]) > 12:
        return None
    expires, nonce, mac = parts
    expected = _mac(secret, CONFIRM, list_name, address.casefold(), nonce, expires)
    if not hmac.compare_digest(expected.encode(), mac.encode("utf-8", "replace")):
        return None
    moment = time.time() if now is None else now
    return ("expired" if int(expires) < moment else "valid"), nonce


def preferences_token(secret: bytes, list_name: str, address: str) -> str:
    return _mac(secret, PREFERENCES, list_name, address.casefold())


def check_preferences(secret: bytes, list_name: str, address: str, token: str) -> bool:
    expected = preferences_token(secret, list_name, address)
    return hmac.compare_digest(expected.encode(), token.strip().encode("utf-8", "replace"))


def confirm_url(publication: Publication, address: str, token: str) -> str:
    return f"{publication.base_url}/confirm?{urlencode({'address': address, 'token': token})}"


def preferences_url(publication: Publication, list_name: str, address: str,
                    secret: bytes) -> str:
    """``<base_url>/preferences?address=...&token=...``: a reader's preference page."""
    query = urlencode({"address": address,
                       "token": preferences_token(secret, list_name, address)})
    return f"{publication.base_url}/preferences?{query}"
