"""Domain names (publisher.deliver.domains): the one check that DKIM's signing domain, the
bounce domain and a return path's recipient domain go through, and the organizational
domain from the Public Suffix List the package ships."""

from __future__ import annotations

import pytest

from publisher.deliver import dkim, domains, verp
from publisher.errors import PublisherError


@pytest.mark.parametrize(("given", "expected"), [
    ("example.org", "example.org"),
    (" News.Example.CO.UK. ", "news.example.co.uk"),
    ("bücher.example", "xn--bcher-kva.example"),
    ("a-b.example.org", "a-b.example.org"),
])
def test_a_domain_in_idna_lower_case(given: str, expected: str) -> None:
    assert domains.ascii_domain(given) == expected


@pytest.mark.parametrize("given", ["localhost", "", "exa mple.org", "-a.example.org",
                                   "a-.example.org", "a..example.org", f"{'a' * 64}.org",
                                   "under_score.example.org", "\udcff.example.org"])
def test_not_a_domain(given: str) -> None:
    with pytest.raises(ValueError, match="not a domain name"):
        domains.ascii_domain(given)


def test_dkim_and_verp_check_alike() -> None:
    for good in ("Example.ORG.", "xn--bcher-kva.example", "bücher.example"):
        assert dkim.check_domain(good) == verp.bounce_domain_from_env(
            {verp.BOUNCE_DOMAIN_ENV: good}) == domains.ascii_domain(good)
    for bad in ("localhost", "exa mple.org", "-a.example.org"):
        with pytest.raises(PublisherError, match=dkim.DOMAIN_ENV):
            dkim.check_domain(bad)
        with pytest.raises(PublisherError, match=verp.BOUNCE_DOMAIN_ENV):
            verp.bounce_domain_from_env({verp.BOUNCE_DOMAIN_ENV: bad})
        with pytest.raises(ValueError, match="not a domain name"):
            verp.return_path(1, "2023-08", b"k" * 32, bad)


@pytest.mark.parametrize(("domain", "organizational"), [
    ("news.example.co.uk", "example.co.uk"),
    ("example.co.uk", "example.co.uk"),
    ("bounces.news.example.co.uk.", "example.co.uk"),
    ("webzine.example.org", "example.org"),
    ("Example.ORG", "example.org"),
    ("a.b.c.example.org", "example.org"),
    ("co.uk", "co.uk"),  # a public suffix is its own
    ("shop.example.kawasaki.jp", "shop.example.kawasaki.jp"),  # *.kawasaki.jp is public
])
def test_the_organizational_domain_follows_the_public_suffix_list(domain: str,
                                                                  organizational: str) -> None:
    assert domains.organizational(domain) == organizational
