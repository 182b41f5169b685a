"""``publisher send MONTH --check``: what would hurt delivery, found before the send.

Each check gives :class:`Finding`\\ s, one line each (``ok``, ``warning`` or
``error``); an error is something that makes receivers (Gmail's and Yahoo's bulk
sender rules, since 2024) refuse, spam-folder or clip the mail:

- **SPF** of the return path's domain (the bounce domain, else the sender's) covers
  the relay: its record includes the provider's SPF domain (Amazon SES, Postmark,
  SendGrid, Mailgun, Google), or, for another server, one of the SMTP host's addresses
  passes the record (``ip4``, ``ip6``, ``a``, ``mx``, ``include``, ``redirect``);
- **DKIM**: messages are signed, the record at ``<selector>._domainkey.<domain>``
  holds this key's public half, and a probe signed now verifies with dkimpy against it;
- **DMARC**: a record at ``_dmarc.`` of the sender's domain (or of its organizational
  domain, from the Public Suffix List: ``example.co.uk`` for ``news.example.co.uk``), and
  DKIM or SPF aligned with the From domain (relaxed: the same organizational domain;
  strict when the record says ``adkim=s`` / ``aspf=s``);
- the **SMTP server**: STARTTLS and the login, as the send opens it;
- the **one-click unsubscribe** endpoint answers a real RFC 8058 POST for a token of
  ``unsubscribe-check@<sender's domain>`` (that address is recorded as unsubscribed);
- the **size** of a message's HTML under Gmail's clipping point (102 KB);
- the **complaint and bounce rates** of the last mailing (given by the caller).

The resolver is the system's, or ``PUBLISHER_DNS_SERVER`` (``ADDRESS`` or
``ADDRESS:PORT``).
"""

from __future__ import annotations

import email
import email.policy
import ipaddress
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import dkim as dkimpy
import dns.exception
import dns.resolver

from publisher.deliver import db as store_db
from publisher.deliver import dkim, domains, smtp, subscribers
from publisher.deliver.bounces import record
from publisher.deliver.db import Location, migrate
from publisher.deliver.settings import number
from publisher.errors import PublisherError

log = logging.getLogger(__name__)

OK, WARNING, ERROR = "ok", "warning", "error"
CHECK_LOCAL = "unsubscribe-check"  # the one-click check's address, at the sender's domain
DNS_ENV = "PUBLISHER_DNS_SERVER"
DNS_TIMEOUT_ENV = "PUBLISHER_DNS_TIMEOUT"
GMAIL_CLIP = 102 * 1024  # bytes of HTML past which Gmail shows "[Message clipped]"
#: A relay's host name ends with -> the SPF domain its customers include.
PROVIDERS = {"amazonaws.com": "amazonses.com", "postmarkapp.com": "spf.mtasv.net",
             "sendgrid.net": "sendgrid.net", "mailgun.org": "mailgun.org",
             "gmail.com": "_spf.google.com", "google.com": "_spf.google.com"}
SPF_LOOKUPS = 10  # RFC 7208 4.6.4
COMPLAINT_ERROR, COMPLAINT_WARNING = 0.003, 0.001  # Gmail: under 0.3 %, ideally 0.1 %
BOUNCE_ERROR, BOUNCE_WARNING = 0.05, 0.02


@dataclass(frozen=True)
class Finding:
    level: str   # OK, WARNING, ERROR
    what: str
    text: str

    @property
    def line(self) -> str:
        return f"{self.level}: {self.what}: {self.text}"


class Dns:
    """Questions to the resolver; ``None`` for a name with no such record."""

    def __init__(self, server: str = "", timeout: float = 5.0):
        if server:
            self.resolver = dns.resolver.Resolver(configure=False)
            host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
            self.resolver.nameservers = [host]
            self.resolver.port = int(port) if port else 53
        else:
            self.resolver = dns.resolver.Resolver()
        self.resolver.timeout = self.resolver.lifetime = timeout

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Dns:
        env = os.environ if environ is None else environ
        timeout = number(env, DNS_TIMEOUT_ENV, 5.0, float, 0.1, 120,
                                  unit="a number of seconds")
        text = env.get(DNS_ENV, "").strip()
        if text:
            host, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
            try:
                ipaddress.ip_address(host.strip("[]"))
                if port and not 0 < int(port) < 65536:
                    raise ValueError(port)
            except ValueError:
                raise PublisherError(f"{DNS_ENV} is {text!r}: give the resolver's address, "
                                     "and a port if not 53 (192.0.2.53 or 127.0.0.1:5353)"
                                     ) from None
        return cls(text, timeout)

    def _ask(self, name: str, rtype: str) -> Any:
        try:
            return self.resolver.resolve(name, rtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            raise PublisherError(f"the resolver did not answer for {name} {rtype}: {exc}"
                                 ) from None
        except dns.exception.DNSException as exc:
            raise PublisherError(f"{name} {rtype}: {exc}") from None

    def txt(self, name: str) -> list[str]:
        answer = self._ask(name, "TXT")
        return [b"".join(r.strings).decode("utf-8", "replace") for r in answer] if answer else []

    def addresses(self, host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
        for rtype in ("A", "AAAA"):
            answer = self._ask(host, rtype)
            found += [ipaddress.ip_address(r.address) for r in answer] if answer else []
        return found

    def mx(self, domain: str) -> list[str]:
        answer = self._ask(domain, "MX")
        return [str(r.exchange).rstrip(".") for r in answer] if answer else []

    def txt_for_dkimpy(self, name: bytes, timeout: float = 5) -> bytes | None:
        records = self.txt(name.decode("ascii").rstrip("."))
        return records[0].encode("ascii", "replace") if records else None


# -- SPF ----------------------------------------------------------------------------------


def spf(resolver: Dns, domain: str, relay: str) -> Finding:
    """Whether the SPF record of ``domain`` lets ``relay`` send for it."""
    try:
        records = [r for r in resolver.txt(domain) if r.lower().startswith("v=spf1")]
        if not records:
            return Finding(ERROR, "SPF", f"{domain} has no SPF record (TXT \"v=spf1 ...\"): "
                                         f"publish one that includes {_spf_hint(relay)}")
        if len(records) > 1:
            return Finding(ERROR, "SPF", f"{domain} has {len(records)} SPF records: receivers "
                                         "treat that as an error (keep one)")
        provider = next((spf_domain for suffix, spf_domain in PROVIDERS.items()
                         if relay.lower().rstrip(".").endswith(suffix)), "")
        addresses = [] if provider else resolver.addresses(relay)
        covered = _Spf(resolver, provider, addresses).covers(domain, records[0])
    except PublisherError as exc:
        return Finding(ERROR, "SPF", str(exc))
    if covered:
        return Finding(OK, "SPF", f"{domain}'s record covers the relay {relay}: {records[0]}")
    return Finding(ERROR, "SPF", f"{domain}'s record does not cover the relay {relay} "
                                 f"({records[0]}): add {_spf_hint(relay)}")


def _spf_hint(relay: str) -> str:
    for suffix, spf_domain in PROVIDERS.items():
        if relay.lower().rstrip(".").endswith(suffix):
            return f"include:{spf_domain}"
    return f"the relay's addresses (ip4:... or a:{relay})"


class _Spf:
    def __init__(self, resolver: Dns, provider: str,
                 addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address]):
        self.resolver = resolver
        self.provider = provider
        self.addresses = addresses
        self.lookups = 0

    def _count(self) -> None:
        self.lookups += 1
        if self.lookups > SPF_LOOKUPS:
            raise PublisherError("the SPF record needs more than 10 DNS lookups: receivers "
                                 "give up (flatten some includes)")

    def covers(self, domain: str, record: str) -> bool:
        redirect = ""
        for term in record.split()[1:]:
            qualifier = term[0] if term[0] in "+-~?" else "+"
            mechanism = term.lstrip("+-~?").lower()
            name, _, value = mechanism.partition(":")
            if mechanism.startswith("redirect="):
                redirect = mechanism.split("=", 1)[1]
                continue
            if name == "include":
                self._count()
                if self.provider and value.rstrip(".") == self.provider:
                    return qualifier == "+"
                found = [r for r in self.resolver.txt(value) if r.lower().startswith("v=spf1")]
                if found and self.covers(value, found[0]) and qualifier == "+":
                    return True
            elif name in ("ip4", "ip6"):
                network = ipaddress.ip_network(value, strict=False)
                if any(a in network for a in self.addresses if a.version == network.version):
                    return qualifier == "+"
            elif name.split("/")[0] in ("a", "mx"):
                self._count()
                target = value.split("/")[0] or domain
                hosts = [target] if name.startswith("a") else self.resolver.mx(target)
                found_addresses = [a for host in hosts for a in self.resolver.addresses(host)]
                if set(found_addresses) & set(self.addresses):
                    return qualifier == "+"
            elif name == "all":
                return qualifier == "+"
        if redirect:
            self._count()
            found = [r for r in self.resolver.txt(redirect) if r.lower().startswith("v=spf1")]
            return bool(found) and self.covers(redirect, found[0])
        return False


# -- DKIM and DMARC -----------------------------------------------------------------------


def dkim_record(resolver: Dns, settings: dkim.DkimSettings | None) -> Finding:
    if settings is None:
        return Finding(ERROR, "DKIM", "messages are not signed: Gmail and Yahoo require DKIM "
                                      "of bulk senders (publisher dkim keygen; then set "
                                      "PUBLISHER_DKIM_KEY, _SELECTOR and _DOMAIN)")
    name = settings.dns_name
    wanted = dkim.record_text(dkim.txt_record(settings.key, settings.selector, settings.domain))
    try:
        records = [r for r in resolver.txt(name) if "p=" in r]
    except PublisherError as exc:
        return Finding(ERROR, "DKIM", str(exc))
    if not records:
        return Finding(ERROR, "DKIM", f"no key is published at {name}: publish the TXT record "
                                      "'publisher dkim keygen' printed")
    if _tags(records[0]).get("p", "") != _tags(wanted.decode())["p"]:
        return Finding(ERROR, "DKIM", f"the key published at {name} is not the key of "
                                      f"{settings.key_path or dkim.KEY_ENV}: publish its record")
    probe = (f"From: check@{settings.domain}\r\nSubject: check\r\n\r\ncheck\r\n").encode()
    if not dkimpy.verify(dkim.sign(probe, settings), logger=log,
                         dnsfunc=resolver.txt_for_dkimpy):
        return Finding(ERROR, "DKIM", f"a message signed now does not verify against {name}")
    return Finding(OK, "DKIM", f"{name} publishes this key ({settings.algorithm}); a signed "
                               "probe verifies")


def _tags(record: str) -> dict[str, str]:
    found = {}
    for part in record.split(";"):
        key, eq, value = part.partition("=")
        if eq:
            found[key.strip().lower()] = "".join(value.split())
    return found


def _aligned(domain: str, from_domain: str, strict: bool) -> bool:
    a, b = domain.lower().rstrip("."), from_domain.lower().rstrip(".")
    return a == b if strict else domains.organizational(a) == domains.organizational(b)


def dmarc(resolver: Dns, from_domain: str, dkim_domain: str, spf_domain: str) -> Finding:
    """The DMARC record of ``from_domain``, else of its organizational domain (RFC 7489
    6.6.3, from the Public Suffix List), and whether DKIM or SPF is aligned with it."""
    try:
        record, where = "", ""
        name = from_domain.lower().rstrip(".")
        for candidate in dict.fromkeys([name, domains.organizational(name)]):
            found = [r for r in resolver.txt(f"_dmarc.{candidate}")
                     if r.replace(" ", "").lower().startswith("v=dmarc1")]
            if found:
                record, where = found[0], candidate
                break
    except PublisherError as exc:
        return Finding(ERROR, "DMARC", str(exc))
    if not record:
        return Finding(ERROR, "DMARC", f"no DMARC record at _dmarc.{from_domain}: Gmail and "
                                       "Yahoo require one of bulk senders (at least "
                                       "\"v=DMARC1; p=none\")")
    tags = _tags(record)
    if "p" not in tags:
        return Finding(ERROR, "DMARC", f"_dmarc.{where} has no policy (p=): {record}")
    dkim_ok = bool(dkim_domain) and _aligned(dkim_domain, from_domain, tags.get("adkim") == "s")
    spf_ok = _aligned(spf_domain, from_domain, tags.get("aspf") == "s")
    if not (dkim_ok or spf_ok):
        return Finding(ERROR, "DMARC", f"neither DKIM (d={dkim_domain or 'none'}) nor SPF "
                                       f"({spf_domain}) is aligned with the From domain "
                                       f"{from_domain}: the messages fail DMARC")
    aligned = " and ".join(n for n, ok in (("DKIM", dkim_ok), ("SPF", spf_ok)) if ok)
    return Finding(OK, "DMARC", f"_dmarc.{where}: {record} ({aligned} aligned with "
                                f"{from_domain})")


# -- the server, the endpoint, the message --------------------------------------------------


def smtp_server(settings: smtp.SmtpSettings, eight_bit: bool) -> Finding:
    conn = smtp.Connection(settings, eight_bit=eight_bit)
    try:
        conn.open()
    except PublisherError as exc:
        return Finding(ERROR, "SMTP", exc.message)
    finally:
        conn.close()
    login = f"the login of {settings.user!r}" if settings.user else "no login"
    if settings.tls == "none":
        return Finding(WARNING, "SMTP", f"{settings.where} answers, {login}, without TLS "
                                        "(PUBLISHER_SMTP_TLS=none): only on a trusted network")
    return Finding(OK, "SMTP", f"{settings.where}: {settings.tls.upper()} and {login}")


UrlOpen = Callable[[urllib.request.Request], Any]


def one_click(url: str, urlopen: UrlOpen | None = None) -> Finding:
    """POST ``List-Unsubscribe=One-Click`` to ``url``, as a mail client does."""
    request = urllib.request.Request(url, data=b"List-Unsubscribe=One-Click", method="POST",
                                     headers={"Content-Type":
                                              "application/x-www-form-urlencoded"})
    opener = urlopen or (lambda r: urllib.request.urlopen(r, timeout=10))
    try:
        with opener(request) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Finding(ERROR, "one-click", f"the unsubscribe endpoint did not answer a POST: "
                                           f"{reason} ({url.split('?')[0]})")
    if status != 200:
        return Finding(ERROR, "one-click", f"the unsubscribe endpoint answered a one-click POST "
                                           f"with {status} ({url.split('?')[0]})")
    return Finding(OK, "one-click", f"{url.split('?')[0]} answers a one-click POST (200)")


def size(message: bytes) -> Finding:
    msg = email.message_from_bytes(message, policy=email.policy.default)
    html = next((p for p in msg.walk() if p.get_content_type() == "text/html"), None)
    if html is None:
        return Finding(WARNING, "size", "the message has no HTML part")
    payload = html.get_payload(decode=True)
    n = len(payload) if isinstance(payload, bytes) else 0
    kb = n / 1024
    if n > GMAIL_CLIP:
        return Finding(ERROR, "size", f"the HTML is {kb:.0f} KB: Gmail clips it past 102 KB "
                                      "(the unsubscribe link with it): make the issue shorter")
    if n > GMAIL_CLIP * 0.9:
        return Finding(WARNING, "size", f"the HTML is {kb:.0f} KB, close to Gmail's 102 KB clip")
    return Finding(OK, "size", f"the HTML is {kb:.0f} KB, under Gmail's 102 KB clip "
                               f"(the message {len(message) / 1024:.0f} KB)")


def store_rates(where: Location) -> list[Finding]:
    """The complaint and hard-bounce rates of the last mailing sent from the store at
    ``where``; a store that is not there yet, or has no subscribers, said as it is."""
    first = "import a CSV first ('publisher subscribers import FILE.csv')"
    if where.is_sqlite and not where.file.exists():
        return [Finding(WARNING, "store", f"no subscriber store at {where} yet, so no mailing "
                                          f"was sent from it: {first}")]
    with subscribers.store_errors(where):
        db = store_db.connect(where, upgrade=False)
        try:
            if migrate.blank(db):
                return [Finding(WARNING, "store", f"{where} holds no subscriber store yet, "
                                                  "so no mailing was sent from it: "
                                                  f"{first}, or create it with 'publisher db "
                                                  "upgrade'")]
            migrate.ensure(db)
            last = record.last_mailing(db)
            subscribed = subscribers.count(db)[0]
        finally:
            db.close()
    if not last.mailing and not subscribed:
        return [Finding(WARNING, "store", f"no one is subscribed in {where}, and no mailing "
                                          f"was sent from it yet: {first}")]
    return list(rates(last.mailing, last.sent, last.complaints, last.hard_bounces))


def rates(mailing: str, sent: int, complaints: int, bounces: int) -> Iterable[Finding]:
    """The complaint and hard-bounce rates of the last mailing."""
    if not mailing or not sent:
        yield Finding(OK, "complaints", "no mailing sent yet")
        return
    for what, n, error, warning in (("complaints", complaints, COMPLAINT_ERROR,
                                     COMPLAINT_WARNING),
                                    ("bounces", bounces, BOUNCE_ERROR, BOUNCE_WARNING)):
        rate = n / sent
        text = f"{n} of {sent} message(s) of {mailing}: {rate:.2%}"
        if rate >= error:
            yield Finding(ERROR, what, f"{text}, at or over {error:.1%}: find out why before "
                                       "sending again")
        elif rate >= warning:
            yield Finding(WARNING, what, f"{text}, over {warning:.1%}")
        else:
            yield Finding(OK, what, text)
