"""The tokens keyed with PUBLISHER_SECRET (publisher.deliver.tokens, .signed): made from
one keyed HMAC copied for each token, byte for byte the tokens made before (links already
sent must still work)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading

from hypothesis import given
from hypothesis import strategies as st

from publisher.deliver import signed, tokens

SECRET = b"a-test-secret-of-some-length"
OTHER = b"another-secret-of-some-length"


def fresh(secret: bytes, message: bytes) -> bytes:
    """The HMAC the tokens were made with before: a new one for each token."""
    return hmac.new(secret, message, hashlib.sha256).digest()


def b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def test_the_tokens_already_sent_are_made_again() -> None:
    """Pinned values, made by the code before the keyed HMAC was kept."""
    assert tokens.make_token(" Ann@Example.org ", "korea", SECRET) == (
        "xyXUv8nESpgkMdLPMiP2--H7vxvTYPsfGdFq_iRUyPw")
    assert signed.preferences_token(SECRET, "korea", "Ann@Example.org") == (
        "XCkkAfGeNx64sronaLwq686jp2vpezNMpCKC0aldVNo")
    assert signed.confirm_token(SECRET, "korea", "Ann@Example.org", "n0nce", 1700000000) == (
        "1700000000.n0nce.UhNDjo8K89dRz1kKv9s5PhWpNwRe2x8J0JtrEzJoEIs")
    assert signed.keyed_hash(SECRET, "erase", "ann@example.org") == (
        "c8a8d8c3d70f68d7d29c67a53c0cff63ecf2e35176ffdabb72f4b7af390bbc17")


@given(address=st.text(max_size=40), list_name=st.text(max_size=12),
       secret=st.sampled_from([SECRET, OTHER]))
def test_every_token_is_the_fresh_hmac(address: str, list_name: str, secret: bytes) -> None:
    unsubscribe = f"unsubscribe\n{list_name}\n{address.strip().casefold()}".encode()
    assert tokens.make_token(address, list_name, secret) == b64(fresh(secret, unsubscribe))
    assert tokens.verify(address, list_name, b64(fresh(secret, unsubscribe)), secret)
    preferences = f"preferences\n{list_name}\n{address.casefold()}".encode()
    assert signed.preferences_token(secret, list_name, address) == b64(
        fresh(secret, preferences))
    assert signed.keyed_hash(secret, "erase", address) == hmac.new(
        secret, f"erase\n{address}".encode(), hashlib.sha256).hexdigest()


def test_the_kept_hmac_is_never_fed() -> None:
    """Tokens one after another, and for two secrets in turn, each as if alone."""
    first = tokens.make_token("ann@example.org", "korea", SECRET)
    for _ in range(3):
        assert tokens.make_token("bob@example.org", "korea", OTHER) != first
        assert signed.preferences_token(SECRET, "korea", "bob@example.org")
        assert tokens.make_token("ann@example.org", "korea", SECRET) == first
    assert tokens.keyed(SECRET).digest() == fresh(SECRET, b"")


def test_threads_make_the_same_tokens() -> None:
    """The web application's threads share the kept HMAC."""
    addresses = [f"reader{i}@example.org" for i in range(200)]
    expected = [b64(fresh(SECRET, f"unsubscribe\nkorea\n{a}".encode())) for a in addresses]
    results: list[list[str]] = []

    def make() -> None:
        results.append([tokens.make_token(a, "korea", SECRET) for a in addresses])

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 8
