"""Domain names: the one check of a name the mail carries (the DKIM signing domain, the
bounce domain, a recipient's domain in a return path), and a name's organizational
domain (DMARC's alignment), from the Public Suffix List.

The list is the one the ``publicsuffixlist`` package ships: it is read from the
installed package and never fetched; a newer list comes with a newer release.
"""

from __future__ import annotations

import functools
import re

from publicsuffixlist import PublicSuffixList

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")


def ascii_domain(domain: str) -> str:
    """``domain`` in IDNA (ASCII), lower case, without a final dot: two labels or more,
    each of letters, digits and inner hyphens; else a ``ValueError``."""
    text = domain.strip().rstrip(".")
    try:
        name = text.encode("idna").decode("ascii").lower()
    except UnicodeError:
        name = ""
    if not _DOMAIN.fullmatch(name):
        raise ValueError(f"not a domain name: {domain!r}")
    return name


@functools.cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()


def organizational(domain: str) -> str:
    """The organizational domain (RFC 7489 3.2): the public suffix of ``domain`` and one
    label more (``news.example.co.uk`` -> ``example.co.uk``); a name that is itself a
    public suffix is its own."""
    name = domain.strip().rstrip(".").lower()
    return _suffixes().privatesuffix(name) or name
