"""A local authoritative DNS server for the tests: dnslib on 127.0.0.1, UDP and TCP.

It serves the records it is given (TXT, MX, A) and nothing else: a name it has
no record for is NXDOMAIN, a name with records of other types an empty answer.
:meth:`LocalDNS.txt_lookup` is a ``dnsfunc`` for dkimpy that asks this server
over UDP with dnspython's resolver, as a receiving MTA asks its resolver: the
published record is read off the wire, not out of a dict.

    with LocalDNS() as dns_server:
        dns_server.add("s1._domainkey.example.org", "TXT", "v=DKIM1; k=ed25519; p=...")
        dkim.verify(message, dnsfunc=dns_server.txt_lookup)

It is also a pytest plugin (conftest's ``pytest_plugins``): the fixture ``dns_server``
(a server of the test's own) and ``dkim_keys`` (keygen's keys, made once a session), with
:func:`publish` to serve a key's record as keygen printed it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from types import TracebackType

import dkim
import dns.exception
import dns.resolver
import pytest
from dnslib import QTYPE, RCODE, RR, DNSLabel, DNSRecord
from dnslib.dns import MX, TXT, A
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

from publisher.deliver import dkim as signer

log = logging.getLogger(__name__)

TTL = 60


class _ZoneResolver(BaseResolver):
    """Answers from a dict of records; safe to add to while the server runs."""

    def __init__(self) -> None:
        self.records: dict[DNSLabel, list[RR]] = {}
        self.lock = threading.Lock()
        self.queries: list[tuple[str, str]] = []  # (name, type) asked, in order

    def add(self, rr: RR) -> None:
        with self.lock:
            self.records.setdefault(rr.rname, []).append(rr)

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()  # aa=1: this server is the authority for what it serves
        name, qtype = request.q.qname, request.q.qtype
        with self.lock:
            self.queries.append((str(name), QTYPE[qtype]))
            found = self.records.get(name)
            if found is None:
                reply.header.rcode = RCODE.NXDOMAIN
                return reply
            for rr in found:
                if qtype in (rr.rtype, QTYPE.ANY):
                    reply.add_answer(rr)
        return reply


class LocalDNS:
    """dnslib's server on a free port of 127.0.0.1, UDP and TCP, in threads."""

    def __init__(self) -> None:
        self.resolver = _ZoneResolver()
        self.port = 0
        self._servers: list[DNSServer] = []

    def add(self, name: str, rtype: str, value: str | list[str] | tuple[str, int]) -> None:
        """Serve a record: TXT (one string, or a list: a record of several strings),
        MX ((host, preference)) or A (an address)."""
        label = DNSLabel(name if name.endswith(".") else name + ".")
        if rtype == "TXT":
            strings = [value] if isinstance(value, str) else list(value)
            rdata: TXT | MX | A = TXT([s.encode("ascii") for s in strings])
        elif rtype == "MX":
            assert isinstance(value, tuple)
            rdata = MX(value[0], value[1])
        elif rtype == "A":
            assert isinstance(value, str)
            rdata = A(value)
        else:
            raise ValueError(f"unsupported record type {rtype}")
        self.resolver.add(RR(label, getattr(QTYPE, rtype), rdata=rdata, ttl=TTL))

    @property
    def queries(self) -> list[tuple[str, str]]:
        return list(self.resolver.queries)

    def start(self) -> LocalDNS:
        quiet = DNSLogger(log="-recv,-send,-request,-reply,-truncated,-data",
                          logf=lambda text: log.debug("%s", text))
        for _ in range(20):  # a free UDP port whose TCP twin is free too
            udp = DNSServer(self.resolver, address="127.0.0.1", port=0, logger=quiet)
            port = udp.server.server_address[1]
            try:
                tcp = DNSServer(self.resolver, address="127.0.0.1", port=port, tcp=True,
                                logger=quiet)
            except OSError:
                udp.server.server_close()
                continue
            self.port = port
            self._servers = [udp, tcp]
            for server in self._servers:  # DNSServer.start_thread, with a shorter poll
                server.thread = threading.Thread(target=server.server.serve_forever,
                                                 kwargs={"poll_interval": 0.02},
                                                 daemon=True)
                server.thread.start()
            return self
        raise RuntimeError("no free port pair on 127.0.0.1 for the DNS server")

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
            server.server.server_close()
        self._servers = []

    def __enter__(self) -> LocalDNS:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- clients ----------------------------------------------------------------------

    def resolver_for(self) -> dns.resolver.Resolver:
        """dnspython's stub resolver, asking only this server."""
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = self.port
        resolver.timeout = resolver.lifetime = 5.0
        return resolver

    def txt_lookup(self, name: bytes, timeout: float = 5) -> bytes | None:
        """dkimpy's ``dnsfunc``: the TXT record of ``name`` (its strings joined), asked of
        this server over UDP; None when there is none."""
        resolver = self.resolver_for()
        try:
            answer = resolver.resolve(name.decode("ascii"), "TXT", lifetime=timeout,
                                      search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        except dns.exception.Timeout as exc:
            # dkimpy turns this one into a failed verification, not a crash
            raise dkim.DnsTimeoutError(str(exc)) from exc
        return b"".join(next(iter(answer)).strings)


def tcp_query(port: int, name: str, rtype: str) -> DNSRecord:
    """One query over TCP (the server answers there too, as large answers need)."""
    packet = DNSRecord.question(name, rtype).send("127.0.0.1", port, tcp=True, timeout=5)
    return DNSRecord.parse(packet)


# -- the fixtures: a server, and DKIM keys to publish on it ----------------------------

#: The domain the keys of ``dkim_keys`` sign for.
DKIM_DOMAIN = "webzine.example.org"


@pytest.fixture
def dns_server() -> Iterator[LocalDNS]:
    """A local DNS server of the test's own, empty."""
    with LocalDNS() as server:
        yield server


@pytest.fixture(scope="session")
def dkim_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, signer.NewKey]:
    """Keys made by keygen for DKIM_DOMAIN, by selector: ``news-rsa`` (RSA 2048),
    ``news-ed25519``, and the Ed25519 ``news`` and ``other``; made once a session (an RSA
    key takes a moment), shared: read them, never change them."""
    folder = tmp_path_factory.mktemp("dkim-keys")
    return {selector: signer.keygen(folder, selector, DKIM_DOMAIN, algorithm)
            for selector, algorithm in (("news-rsa", signer.RSA),
                                        ("news-ed25519", signer.ED25519),
                                        ("news", signer.ED25519), ("other", signer.ED25519))}


def publish(server: LocalDNS, record: str, name: str = "") -> None:
    """Serve a zone file line as keygen prints it, ``name. IN TXT "..." "..."`` (at
    ``name`` instead of its own, if given)."""
    own, klass, rtype, strings = record.split(" ", 3)
    assert (klass, rtype) == ("IN", "TXT"), record
    server.add(name or own, "TXT", re.findall(r'"([^"]*)"', strings))
