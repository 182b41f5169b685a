"""``send --check``'s DMARC finding (publisher.deliver.check.dmarc) against a local DNS zone
(tests/dns_support.py): the record looked up at the From domain, then at its
organizational domain from the Public Suffix List, never at a public suffix; and the
relaxed alignment of DKIM and SPF by organizational domain, under co.uk as under .org."""

from __future__ import annotations

import pytest

from dns_support import LocalDNS
from publisher.deliver import check

REJECT = "v=DMARC1; p=reject"


@pytest.fixture
def zone(dns_server: LocalDNS) -> LocalDNS:
    """The test's local DNS server (dns_support's fixture)."""
    return dns_server


def dmarc(zone: LocalDNS, from_domain: str, dkim_domain: str, spf_domain: str
          ) -> check.Finding:
    return check.dmarc(check.Dns(f"127.0.0.1:{zone.port}"), from_domain, dkim_domain,
                       spf_domain)


def asked(zone: LocalDNS) -> list[str]:
    return [name.rstrip(".") for name, rtype in zone.queries if rtype == "TXT"]


@pytest.mark.parametrize(("from_domain", "organizational", "dkim_domain", "spf_domain",
                          "aligned"), [
    ("news.example.co.uk", "example.co.uk", "example.co.uk", "bounces.news.example.co.uk",
     "DKIM and SPF"),
    ("news.example.org", "example.org", "mail.example.org", "bounces.example.net", "DKIM"),
])
def test_the_record_of_the_organizational_domain_is_found(
        zone: LocalDNS, from_domain: str, organizational: str, dkim_domain: str,
        spf_domain: str, aligned: str) -> None:
    zone.add(f"_dmarc.{organizational}", "TXT", REJECT)
    found = dmarc(zone, from_domain, dkim_domain, spf_domain)
    assert found == check.Finding(check.OK, "DMARC", f"_dmarc.{organizational}: {REJECT} "
                                  f"({aligned} aligned with {from_domain})")
    assert asked(zone) == [f"_dmarc.{from_domain}", f"_dmarc.{organizational}"]


def test_under_co_uk_another_registrant_is_not_aligned(zone: LocalDNS) -> None:
    """The last two labels would say co.uk for both, and call them aligned."""
    zone.add("_dmarc.news.example.co.uk", "TXT", REJECT)
    found = dmarc(zone, "news.example.co.uk", "other.co.uk", "bounces.another.co.uk")
    assert found.level == check.ERROR
    assert found.text == ("neither DKIM (d=other.co.uk) nor SPF (bounces.another.co.uk) is "
                          "aligned with the From domain news.example.co.uk: the messages fail "
                          "DMARC")
    assert asked(zone) == ["_dmarc.news.example.co.uk"]


def test_the_record_of_a_public_suffix_is_not_the_senders(zone: LocalDNS) -> None:
    zone.add("_dmarc.co.uk", "TXT", "v=DMARC1; p=none")
    found = dmarc(zone, "news.example.co.uk", "example.co.uk", "example.co.uk")
    assert found.level == check.ERROR
    assert found.text.startswith("no DMARC record at _dmarc.news.example.co.uk: ")
    assert "_dmarc.co.uk" not in asked(zone)


def test_under_org_strict_alignment_is_the_very_name(zone: LocalDNS) -> None:
    zone.add("_dmarc.news.example.org", "TXT", "v=DMARC1; p=reject; adkim=s")
    found = dmarc(zone, "news.example.org", "mail.example.org", "bounces.news.example.org")
    assert found == check.Finding(check.OK, "DMARC", "_dmarc.news.example.org: v=DMARC1; "
                                  "p=reject; adkim=s (SPF aligned with news.example.org)")
    found = dmarc(zone, "news.example.org", "example.org", "example.net")
    assert found.level == check.ERROR and "is aligned" in found.text
