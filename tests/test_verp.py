"""VERP return paths (publisher.deliver.verp): made, read back, never forged."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.deliver import verp

SECRET = b"a-test-secret-of-some-length"
OTHER = b"another-secret-of-some-length"
DOMAIN = "bounces.example.org"


def test_an_id_round_trip() -> None:
    address = verp.return_path(4711, "2023-08", SECRET, DOMAIN)
    assert re.fullmatch(r"bounces\+4711\.2023-08\.[a-z2-7]{16}@bounces\.example\.org", address)
    assert verp.parse(address, SECRET) == (4711, "2023-08")
    recipient, mailing = verp.parse(address, SECRET) or (None, None)
    assert recipient == 4711 and isinstance(recipient, int) and mailing == "2023-08"


def test_an_address_round_trip() -> None:
    address = verp.return_path("Ann.Lee+news@Example.ORG", "2023-08", SECRET, DOMAIN)
    assert address.startswith("bounces+ann.lee+news=example.org.2023-08.")
    assert verp.parse(address, SECRET) == ("ann.lee+news@example.org", "2023-08")


def test_an_address_with_an_equals_sign_and_an_idn_domain() -> None:
    address = verp.return_path("a=b@bücher.example", "2023-08", SECRET, DOMAIN)
    assert address.isascii()
    assert verp.parse(address, SECRET) == ("a=b@xn--bcher-kva.example", "2023-08")


@pytest.mark.parametrize("fold", [str.upper, str.lower, str.title, str.swapcase])
def test_survives_case_folding(fold: Callable[[str], str]) -> None:
    address = verp.return_path(17, "2023-08-proof", SECRET, DOMAIN)
    assert verp.parse(fold(address), SECRET) == (17, "2023-08-proof")


def test_as_it_comes_back_in_headers() -> None:
    address = verp.return_path(17, "2023-08", SECRET, DOMAIN)
    assert verp.parse(f"<{address}>", SECRET) == (17, "2023-08")
    assert verp.parse(f"  {address}\n", SECRET) == (17, "2023-08")


def test_another_prefix() -> None:
    address = verp.return_path(17, "2023-08", SECRET, DOMAIN, prefix="korea-bounce")
    assert address.startswith("korea-bounce+17.")
    assert verp.parse(address, SECRET) == (17, "2023-08")


def test_forged_or_altered_is_refused() -> None:
    address = verp.return_path(4711, "2023-08", SECRET, DOMAIN)
    local, _, domain = address.partition("@")
    prefix, _recipient, mailing, mac = re.split(r"[+.]", local, maxsplit=3)
    flipped = mac[:-1] + ("a" if mac[-1] != "a" else "b")
    for forged in (
        f"{prefix}+4712.{mailing}.{mac}@{domain}",          # another recipient
        f"{prefix}+4711.2023-09.{mac}@{domain}",            # another mailing
        f"{prefix}+4711.{mailing}.{flipped}@{domain}",      # another mac
        f"{prefix}+4711.{mailing}.{mac[:-1]}@{domain}",     # a shorter one
        f"{prefix}+04711.{mailing}.{mac}@{domain}",         # the id written otherwise
        f"{prefix}+ann=example.org.{mailing}.{mac}@{domain}",
    ):
        assert verp.parse(forged, SECRET) is None, forged
    assert verp.parse(address, OTHER) is None  # made with another secret


@pytest.mark.parametrize("text", [
    "", "bounces@bounces.example.org", "news@korea.example.org", "bounces+@x.example",
    "bounces+4711@bounces.example.org", "bounces+4711.2023-08@bounces.example.org",
    "bounces+.2023-08.aaaaaaaaaaaaaaaa@bounces.example.org",
    "bounces+4711.2023-08.aaaaaaaaaaaaaaaa", "<>", "bounces+ü.2023-08.aaaaaaaaaaaaaaaa@x.org",
    "bounces+x=.2023-08.aaaaaaaaaaaaaaaa@x.org",
])
def test_anything_else_is_none(text: str) -> None:
    assert verp.parse(text, SECRET) is None


def test_the_local_part_fits_in_64_octets() -> None:
    longest_id = verp.return_path(10**18, "2023-08", SECRET, DOMAIN)
    assert len(longest_id.partition("@")[0]) <= 64
    with pytest.raises(ValueError, match="over 64: pass the subscriber's id"):
        verp.return_path("a.rather.long.local.part@a-long-domain-name.example.org",
                         "2023-08", SECRET, DOMAIN)


@pytest.mark.parametrize(("recipient", "mailing", "domain", "message"), [
    (-1, "2023-08", DOMAIN, "not negative"),
    (True, "2023-08", DOMAIN, "not a subscriber id"),
    ("no-at-sign", "2023-08", DOMAIN, "pass the subscriber's id"),
    ('"quoted local"@example.org', "2023-08", DOMAIN, "pass the subscriber's id"),
    ("홍길동@example.kr", "2023-08", DOMAIN, "pass the subscriber's id"),
    (1, "2023.08", DOMAIN, "the mailing '2023.08'"),
    (1, "August", DOMAIN, "the mailing 'August'"),
    (1, "", DOMAIN, "the mailing ''"),
    (1, "2023-08", "localhost", "not a domain name"),
    (1, "2023-08", "bad domain.org", "not a domain name"),
])
def test_what_it_cannot_carry(recipient: int | str, mailing: str, domain: str,
                              message: str) -> None:
    with pytest.raises(ValueError, match=message):
        verp.return_path(recipient, mailing, SECRET, domain)


@given(recipient=st.integers(min_value=0, max_value=10**15),
       mailing=st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True))
def test_any_id_and_mailing_round_trip(recipient: int, mailing: str) -> None:
    address = verp.return_path(recipient, mailing, SECRET, DOMAIN)
    assert len(address.partition("@")[0]) <= 64
    assert verp.parse(address.upper(), SECRET) == (recipient, mailing)


@given(st.text(max_size=90))
def test_parse_never_raises(text: str) -> None:
    assert verp.parse(text, SECRET) is None or "+" in text


def test_the_return_paths_already_sent_are_made_again() -> None:
    """Pinned values: a bounce to a return path sent before still reads back."""
    paths = verp.ReturnPaths("2023-08", SECRET, "Bounces.Example.org.")
    assert paths.of(4711) == verp.return_path(4711, "2023-08", SECRET, DOMAIN) == (
        "bounces+4711.2023-08.gdxlrz2fzgkpuixh@bounces.example.org")
    assert paths.of("Ann.Lee+news@Example.ORG") == (
        "bounces+ann.lee+news=example.org.2023-08.fj7jhjbk4n5727kn@bounces.example.org")


@given(recipient=st.integers(min_value=0, max_value=10**15))
def test_one_mailings_return_paths_are_return_path(recipient: int) -> None:
    paths = verp.ReturnPaths("2023-08", SECRET, DOMAIN, prefix="korea-bounce")
    assert paths.of(recipient) == verp.return_path(recipient, "2023-08", SECRET, DOMAIN,
                                                   prefix="korea-bounce")


@pytest.mark.parametrize(("mailing", "domain", "prefix", "message"), [
    ("2023.08", DOMAIN, "bounces", "the mailing '2023.08'"),
    ("", DOMAIN, "bounces", "the mailing ''"),
    ("2023-08", "localhost", "bounces", "not a domain name"),
    ("2023-08", "bad domain.org", "bounces", "not a domain name"),
    ("2023-08", DOMAIN, "Bounces", "the prefix 'Bounces'"),
])
def test_a_mailing_it_cannot_carry_is_refused_before_any_message(
        mailing: str, domain: str, prefix: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        verp.ReturnPaths(mailing, SECRET, domain, prefix=prefix)


@pytest.mark.parametrize(("recipient", "message"), [
    (-1, "not negative"), (True, "not a subscriber id"),
    ("홍길동@example.kr", "pass the subscriber's id"),
    ("a.rather.long.local.part@a-long-domain-name.example.org", "over 64"),
])
def test_a_recipient_it_cannot_carry_is_refused_still(recipient: int | str,
                                                     message: str) -> None:
    paths = verp.ReturnPaths("2023-08", SECRET, DOMAIN)
    with pytest.raises(ValueError, match=message):
        paths.of(recipient)
