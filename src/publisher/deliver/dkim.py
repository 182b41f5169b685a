"""DKIM: sign each message as it is sent, and make the key pair to publish.

The settings come from the environment: ``PUBLISHER_DKIM_KEY`` (a PEM file with
the private key), ``PUBLISHER_DKIM_SELECTOR`` and ``PUBLISHER_DKIM_DOMAIN``.
None of them set: no signing. Some set and not the others, or a key that cannot
be read or used: one error naming the variable, before anything is sent.

The key's type chooses the algorithm: RSA (``rsa-sha256``, 1024 bits at least,
2048 advised) or Ed25519 (``ed25519-sha256``, RFC 8463). Canonicalization is
relaxed/relaxed; the signed headers are those of :data:`SIGNED` that the message
has, each signed once more than it occurs ("oversigned"), so that no second From,
Subject or List-Unsubscribe can be added without breaking the signature (RFC 6376
8.15). RFC 8058 wants List-Unsubscribe and List-Unsubscribe-Post covered by the
signature: they are in :data:`SIGNED`.

**Who computes the signature.** dkimpy (:mod:`dkim`) is the reference: it checks
every key when the settings are read (a probe message signed here must verify
with dkimpy against the record the key publishes) and the tests compare each
signature with dkimpy's, tag for tag, and verify it with dkimpy's verifier. The
send itself signs with :class:`Signer`: the same canonicalization (RFC 6376
3.4.2 and 3.4.4) done in a few passes of C-coded regular expressions that skip a
body with nothing to change, and the key's operation done by OpenSSL through the
``cryptography`` package. dkimpy signs in pure Python (its own RSA, about 10 ms a
message for 2048 bits, and about 2 ms of canonicalization for a newsletter, all
under the GIL). The send hands the signer each message in its template's pieces
(:meth:`Signer.signature_of`): what is the same for every subscriber (the header
lines but To, Message-ID, Date and List-Unsubscribe, which of them are signed, the
body's shared pieces, the tags up to ``h=``) is canonicalized once a mailing, so a
message costs its own few lines, the body's SHA-256 and the key's operation: about
0.5 ms for RSA 2048 (0.4 ms of it OpenSSL's private-key operation) and 0.1 ms for
Ed25519. Both are deterministic, so for the same ``t=`` both give the same ``b=``.
"""

from __future__ import annotations

import base64
import errno
import functools
import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import dkim
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from publisher.deliver import domains
from publisher.deliver.personalise import BASE64, SHARED, Rendered
from publisher.errors import PublisherError, disk_error, read_advice

log = logging.getLogger(__name__)

KEY_ENV = "PUBLISHER_DKIM_KEY"
SELECTOR_ENV = "PUBLISHER_DKIM_SELECTOR"
DOMAIN_ENV = "PUBLISHER_DKIM_DOMAIN"
ENV = (KEY_ENV, SELECTOR_ENV, DOMAIN_ENV)

RSA, ED25519 = "rsa", "ed25519"
ALGORITHMS = {RSA: b"rsa-sha256", ED25519: b"ed25519-sha256"}
RSA_BITS = 2048          # what keygen makes
MIN_RSA_BITS = 1024      # what verifiers accept (dkimpy's default minkey, Gmail's floor)

#: The headers signed when present, in this order (RFC 6376 5.4.1's list, those a
#: reader sees, and the list headers of RFC 2369, 2919 and 8058).
SIGNED = (
    "From", "Sender", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID",
    "In-Reply-To", "References", "MIME-Version", "Content-Type",
    "Content-Transfer-Encoding", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post",
    "List-Help", "List-Subscribe", "List-Post", "List-Owner", "List-Archive",
)
_ORDER = [name.lower().encode("ascii") for name in SIGNED]
_SIGNED_BYTES = frozenset(_ORDER)
TXT_CHUNK = 255  # the longest string in a TXT record (RFC 1035 3.3.14)

_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_SELECTOR = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


@dataclass(frozen=True)
class DkimSettings:
    """Who signs (``d=`` and ``s=``) and with what key; the key is never shown."""

    selector: str
    domain: str
    algorithm: str                        # RSA or ED25519
    key: bytes = field(repr=False)        # in dkimpy's form: PEM (RSA), base64 seed (Ed25519)
    key_path: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DkimSettings | None:
        """The settings, or None when no ``PUBLISHER_DKIM_*`` variable is set."""
        env = os.environ if environ is None else environ
        values = {name: env.get(name, "").strip() for name in ENV}
        given = [name for name in ENV if values[name]]
        if not given:
            return None
        missing = [name for name in ENV if not values[name]]
        if missing:
            raise PublisherError(
                f"{_join(missing)} {'is' if len(missing) == 1 else 'are'} not set, but "
                f"{_join(given)} {'is' if len(given) == 1 else 'are'}: DKIM signing needs "
                f"all three ({KEY_ENV}: the private key's PEM file; {SELECTOR_ENV}; "
                f"{DOMAIN_ENV}), or none")
        return cls.from_key_file(Path(values[KEY_ENV]), values[SELECTOR_ENV],
                                 values[DOMAIN_ENV])

    @classmethod
    def from_key_file(cls, path: Path, selector: str, domain: str) -> DkimSettings:
        """Settings with the key in ``path``; an error naming what is wrong."""
        selector, domain = check_selector(selector), check_domain(domain)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PublisherError(f"{KEY_ENV}: {read_advice(exc, path)}", path) from None
        algorithm, key = load_key(data, path)
        settings = cls(selector, domain, algorithm, key, path)
        _probe(settings, path)  # found now, not at the first message
        return settings

    @property
    def dns_name(self) -> str:
        """Where the public key is published: ``<selector>._domainkey.<domain>``."""
        return f"{self.selector}._domainkey.{self.domain}"


def _probe(settings: DkimSettings, path: Path | None = None) -> None:
    """Sign a probe message and have dkimpy verify it against the record the key
    publishes: the signer and the reference agree on this key, or one error."""
    record = record_text(txt_record(settings.key, settings.selector, settings.domain))
    probe = (f"From: probe@{settings.domain}\r\nSubject: probe\r\n"
             f"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\nprobe\r\n").encode("ascii")
    try:
        signed = sign(probe, settings)
        ok = dkim.verify(signed, logger=log, dnsfunc=lambda name, timeout=5: record)
    except (dkim.DKIMException, ValueError) as exc:
        raise PublisherError(f"{KEY_ENV}: the key cannot sign: {exc}", path) from None
    if not ok:
        raise PublisherError(f"{KEY_ENV}: a message signed with the key does not verify "
                             "(dkimpy's verifier): report it as a bug", path)


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def check_selector(selector: str, what: str = SELECTOR_ENV) -> str:
    """A selector: DNS labels (letters, digits, hyphens), dot-separated; ``what`` names
    where it came from in the error."""
    selector = selector.strip()
    if not _SELECTOR.fullmatch(selector):
        raise PublisherError(f"{what} is {selector!r}: a selector is one or more DNS "
                             "labels (letters, digits, hyphens), such as 'news2024'")
    return selector.lower()


def check_domain(domain: str, what: str = DOMAIN_ENV) -> str:
    """The signing domain, in IDNA (``d=`` is ASCII); ``what`` names where it came from
    in the error."""
    try:
        return domains.ascii_domain(domain)
    except ValueError:
        raise PublisherError(f"{what} is {domain!r}: name the domain the messages are "
                             "signed for, such as 'example.org'") from None


def load_key(data: bytes, path: Path | None = None) -> tuple[str, bytes]:
    """(algorithm, key in dkimpy's form) from a private key file's bytes.

    Takes PEM (PKCS#1 or PKCS#8, RSA or Ed25519) and, for Ed25519, also the bare
    base64 seed that dkimpy's ``dknewkey`` writes.
    """
    text = data.strip()
    if re.fullmatch(rb"[A-Za-z0-9+/]{43}=", text):  # dknewkey's Ed25519 format
        return ED25519, text
    if b"ENCRYPTED" in text:
        raise PublisherError(f"{KEY_ENV}: the key is encrypted: give the key without a "
                             "passphrase (openssl pkey -in KEY -out PLAIN), readable only by "
                             "the sender", path)
    try:
        key = serialization.load_pem_private_key(text, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise PublisherError(f"{KEY_ENV}: not a private key in PEM form ({exc}); make one "
                             "with 'publisher dkim keygen'", path) from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
        return ED25519, base64.b64encode(seed)
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise PublisherError(f"{KEY_ENV}: the RSA key has {key.key_size} bits; receivers "
                                 f"ignore signatures by keys under {MIN_RSA_BITS} bits (make "
                                 f"one of {RSA_BITS})", path)
        if key.key_size < RSA_BITS:
            log.warning("%s: the RSA key has %d bits; %d are advised", KEY_ENV, key.key_size,
                        RSA_BITS)
        # dkimpy finds the key between "--\n" and "\n--": PKCS#8 with LF line ends, always
        return RSA, _pem(key)
    raise PublisherError(f"{KEY_ENV}: a {type(key).__name__.removeprefix('_')} key: DKIM "
                         "signs with RSA or Ed25519 keys", path)


def _pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def signed_headers(message: bytes) -> list[bytes]:
    """The ``h=`` list for ``message``: each header of :data:`SIGNED` it has, as many
    times as it occurs plus once more."""
    head = message.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    return _signed_names(_headers(head.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")))


def _signed_names(headers: list[tuple[bytes, bytes]]) -> list[bytes]:
    counts: dict[bytes, int] = {}
    for name, _value in headers:
        lower = name.lower()
        if lower in _SIGNED_BYTES:
            counts[lower] = counts.get(lower, 0) + 1
    return [name for name in _ORDER if name in counts for _ in range(counts[name] + 1)]


def signature(message: bytes, settings: DkimSettings, *, timestamp: int | None = None
              ) -> bytes:
    """The ``DKIM-Signature`` header line (with its line end) for ``message``: to go in
    front of it unchanged, or of its dot-stuffed form, which has the same signature.
    ``timestamp``: the ``t=`` tag (default: now)."""
    return signer_for(settings).signature(message, timestamp=timestamp)


def sign(message: bytes, settings: DkimSettings) -> bytes:
    """``message`` with its ``DKIM-Signature`` header in front."""
    return signature(message, settings) + message


@functools.lru_cache(maxsize=8)
def signer_for(settings: DkimSettings) -> Signer:
    """The :class:`Signer` of ``settings`` (the key is loaded once)."""
    return Signer(settings)


_TRAILING_WSP = re.compile(rb"[\t ]+(?=\r\n)")
_WSP_RUN = re.compile(rb"\t[\t ]*| [\t ]+")
_ANY_WSP = re.compile(rb"[\t ]+")
_FOLD = re.compile(rb"\r?\n")
_HEADER_LINE = re.compile(rb"([\x21-\x39\x3b-\x7e]+):")
_FOLD_AT = 76  # the longest line the signature header is folded to
_KEPT = 4096   # entries each of a Signer's caches keeps (a mailing needs a few dozen)


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 3.4.4 on a CRLF body: no white space at the ends of lines, every run of
    it one space, no empty lines at the end; an empty body stays empty."""
    return _body_end(_relaxed_lines(body))


def _relaxed_lines(body: bytes) -> bytes:
    """The line rules of :func:`relaxed_body` (white space), not the end's: applied to
    pieces that each end with a line end, their results joined are the body's."""
    # what it changes (a tab, two spaces, a space that ends a line) is looked for first
    # with plain substring searches: most bodies have none of it
    if (b"\t" in body or b"  " in body or b" \r\n" in body
            or body.endswith(b" ")):
        return _WSP_RUN.sub(b" ", _TRAILING_WSP.sub(b"", body))
    return body


def _body_end(body: bytes) -> bytes:
    """No empty lines at the end of a CRLF body, and one line end; empty stays empty."""
    if len(body) > 2 and body.endswith(b"\r\n") and not body.endswith(b"\r\n\r\n"):
        return body  # one line end at the end, as it should be: no copy
    end = len(body)
    while body.endswith(b"\r\n", 0, end):
        end -= 2
    return body[:end] + b"\r\n" if end else b""


def relaxed_header(name: bytes, value: bytes) -> bytes:
    """RFC 6376 3.4.2: ``name:value`` with the name in lower case and the value
    unfolded, its white space runs one space, none at either end; with CRLF."""
    if b"\n" in value or b"\t" in value or b"  " in value:
        value = _ANY_WSP.sub(b" ", _FOLD.sub(b"", value))
    # else nothing to unfold and every run of white space one space already
    return name.lower().rstrip() + b":" + value.strip() + b"\r\n"


def _headers(head: bytes) -> list[tuple[bytes, bytes]]:
    """(name, value with its continuation lines) of each header field of a CRLF head."""
    found: list[tuple[bytes, bytes]] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if found:
                name, value = found[-1]
                found[-1] = (name, value + b"\r\n" + line)
            continue
        match = _HEADER_LINE.match(line)
        if match:
            found.append((match.group(1), line[match.end():]))
    return found


class Signer:
    """Signs messages with one key: the key loaded once, by OpenSSL (``cryptography``).

    The tag list and its order are dkimpy's (v, a, c, d, i, q, s, t, h, bh, b), so
    that a signature made here and one made by dkimpy at the same second are the
    same, which the tests check.
    """

    def __init__(self, settings: DkimSettings):
        self.settings = settings
        self.algorithm = ALGORITHMS[settings.algorithm]
        if settings.algorithm == ED25519:
            self._ed25519: ed25519.Ed25519PrivateKey | None = (
                ed25519.Ed25519PrivateKey.from_private_bytes(base64.b64decode(settings.key)))
            self._rsa: rsa.RSAPrivateKey | None = None
        else:
            loaded = serialization.load_pem_private_key(settings.key, password=None)
            assert isinstance(loaded, rsa.RSAPrivateKey)
            self._rsa, self._ed25519 = loaded, None
        self._domain = settings.domain.encode("ascii")
        self._selector = settings.selector.encode("ascii")
        # what signature_of works out once (each kept to _KEPT entries)
        self._plans: dict[tuple[tuple[bytes, ...], bytes],
                          tuple[tuple[bytes, ...], list[int], list[bytes]]] = {}
        self._canonical: dict[bytes, bytes] = {}
        self._folded: dict[tuple[int, tuple[bytes, ...]],
                           tuple[bytes, tuple[list[bytes], bytes]]] = {}

    def signature(self, message: bytes, *, timestamp: int | None = None) -> bytes:
        """The ``DKIM-Signature`` header line for ``message`` (CRLF or LF line ends: the
        header's are the message's)."""
        linesep = b"\r\n"
        if b"\r\n" not in message:  # LF line ends: canonicalization is on CRLF
            linesep = b"\n"
            message = message.replace(b"\n", b"\r\n")
        head, blank, body = message.partition(b"\r\n\r\n")
        if not blank and head.endswith(b"\r\n"):  # no body at all
            head = head[:-2]
        headers = _headers(head)
        names = _signed_names(headers)
        if b"from" not in names:
            raise PublisherError("the message has no From header: it cannot be DKIM-signed")
        body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest())
        when = int(time.time()) if timestamp is None else timestamp
        unsigned = b"; ".join([*self._tags(when, names), b"bh=" + body_hash, b"b="])
        hashed = b"".join(relaxed_header(name, value)
                          for name, value in _select(headers, names))
        hashed += b"dkim-signature:" + _ANY_WSP.sub(b" ", unsigned).strip()
        return _fold(unsigned, self._sign(hashed), linesep)

    def _tags(self, when: int, names: list[bytes]) -> list[bytes]:
        """The tags before ``bh=``."""
        return [
            b"v=1", b"a=" + self.algorithm, b"c=relaxed/relaxed", b"d=" + self._domain,
            b"i=@" + self._domain, b"q=dns/txt", b"s=" + self._selector,
            b"t=" + str(when).encode("ascii"), b"h=" + b" : ".join(names),
        ]

    def _sign(self, hashed: bytes) -> bytes:
        """The ``b=`` value (base64) over the canonical headers ``hashed``."""
        if self._rsa is not None:
            value = self._rsa.sign(hashed, padding.PKCS1v15(), hashes.SHA256())
        else:
            assert self._ed25519 is not None  # RFC 8463: Ed25519 over the SHA-256 digest
            value = self._ed25519.sign(hashlib.sha256(hashed).digest())
        return base64.b64encode(value)

    def signature_of(self, rendered: Rendered, *, timestamp: int | None = None) -> bytes:
        """The ``DKIM-Signature`` header line of ``rendered.message``, the same as
        :meth:`signature` gives, for a message in a template's pieces
        (:meth:`publisher.deliver.personalise.Template.render_signable`).

        What the template's own pieces contribute is worked out once and kept: the
        header lines' canonical form, which of them are signed, the canonical form of
        the body's shared pieces, the folded tags up to ``h=`` (for one ``t=``). Each
        message then costs its own header lines, its own body pieces, the body's
        SHA-256 and the key's operation.
        """
        if rendered.head[:1] in (b" ", b"\t"):  # not a header line of its own: the long way
            return self.signature(rendered.message, timestamp=timestamp)
        personal = _headers(rendered.personal)
        plan = self._plan(tuple(name for name, _ in personal), rendered.head)
        if plan is None:
            raise PublisherError("the message has no From header: it cannot be DKIM-signed")
        names, chosen, shared_lines = plan
        pieces: list[bytes] = []
        canonical, last = self._canonical, len(rendered.body) - 1
        for i, (piece, kind) in enumerate(rendered.body):
            if i < last and piece and not piece.endswith(b"\r\n"):
                # not whole lines: white space may run across pieces, the long way
                return self.signature(rendered.message, timestamp=timestamp)
            if kind == BASE64:
                pieces.append(piece)  # nothing in base64 to canonicalize
            elif kind == SHARED:
                done = canonical.get(piece)
                if done is None:
                    if len(canonical) >= _KEPT:
                        canonical.clear()
                    done = canonical[piece] = _relaxed_lines(piece)
                pieces.append(done)
            else:
                pieces.append(_relaxed_lines(piece))
        body = _body_end(b"".join(pieces))
        body_hash = base64.b64encode(hashlib.sha256(body).digest())
        when = int(time.time()) if timestamp is None else timestamp
        key = (when, names)
        folded = self._folded.get(key)
        if folded is None:  # the tags up to h=, folded once a second
            if len(self._folded) >= _KEPT:
                self._folded.clear()
            prefix = b"; ".join(self._tags(when, list(names))) + b";"
            folded = self._folded[key] = (prefix, _fold_words(prefix.split(b" ")))
        prefix, (lines, line) = folded
        unsigned = prefix + b" bh=" + body_hash + b"; b="
        hashed = b"".join([relaxed_header(*personal[j]) if j >= 0 else shared_lines[~j]
                           for j in chosen])
        # the tags are single-spaced already: what relaxed canonicalization makes of them
        hashed += b"dkim-signature:" + unsigned
        lines, line = _fold_words([b"bh=" + body_hash + b";", b"b="], list(lines), line)
        return _fold_value(lines, line, self._sign(hashed), b"\r\n")

    def _plan(self, personal: tuple[bytes, ...], head: bytes
              ) -> tuple[tuple[bytes, ...], list[int], list[bytes]] | None:
        """For a message of these personal header names followed by the template's
        ``head``: the ``h=`` names, the fields they choose (``j`` for personal field
        ``j``, ``~k`` for the head's field ``k``), the head's canonical lines; None when
        no From is signed."""
        key = (personal, head)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) >= _KEPT:
                self._plans.clear()
            shared = _headers(head)
            headers = [(name, b"") for name in personal] + shared
            names = _signed_names(headers)
            if b"from" not in names:
                return None
            chosen = [j if j < len(personal) else ~(j - len(personal))
                      for j in _select_indices(headers, names)]
            lines = [relaxed_header(name, value) for name, value in shared]
            plan = self._plans[key] = (tuple(names), chosen, lines)
        return plan


def _select(headers: list[tuple[bytes, bytes]], names: list[bytes]
            ) -> list[tuple[bytes, bytes]]:
    """The header fields ``names`` signs, in its order: for each name the last one not
    taken yet, from the bottom up (RFC 6376 5.4.2); none when they run out."""
    return [headers[i] for i in _select_indices(headers, names)]


def _select_indices(headers: list[tuple[bytes, bytes]], names: list[bytes]) -> list[int]:
    """Where in ``headers`` the fields of :func:`_select` are."""
    taken: dict[bytes, int] = {}
    chosen = []
    for name in names:
        i = taken.get(name, len(headers))
        while i > 0:
            i -= 1
            if headers[i][0].lower() == name:
                chosen.append(i)
                break
        taken[name] = i
    return chosen


def _fold(unsigned: bytes, value: bytes, linesep: bytes) -> bytes:
    """``DKIM-Signature: <unsigned><value>``, folded at spaces (which relaxed header
    canonicalization reads as the spaces they stand for), the ``b=`` value on lines of
    its own (verifiers ignore white space in it)."""
    lines, line = _fold_words(unsigned.split(b" "))
    return _fold_value(lines, line, value, linesep)


def _fold_words(words: list[bytes], lines: list[bytes] | None = None,
                line: bytes = b"DKIM-Signature:") -> tuple[list[bytes], bytes]:
    """The lines full so far and the line being filled, after ``words``: each goes on
    the line unless it would pass :data:`_FOLD_AT`.  The words that come later change
    nothing before them, so a fold can go on from where another stopped."""
    lines = [] if lines is None else lines
    for word in words:
        if len(line) + 1 + len(word) > _FOLD_AT and line.strip():
            lines.append(line)
            line = b""
        line += b" " + word
    return lines, line


def _fold_value(lines: list[bytes], line: bytes, value: bytes, linesep: bytes) -> bytes:
    width = _FOLD_AT - 1
    return linesep.join([*lines, line, *(b" " + value[i:i + width]
                                        for i in range(0, len(value), width))]) + linesep


# -- new keys -------------------------------------------------------------------------


@dataclass(frozen=True)
class NewKey:
    """A key made by :func:`keygen`: where the private key is, and the DNS record."""

    path: Path
    record: str       # the zone file line: <selector>._domainkey.<domain>. IN TXT "..."
    algorithm: str


def keygen(directory: Path, selector: str, domain: str, algorithm: str = RSA) -> NewKey:
    """Make a key pair: the private key goes to ``<directory>/<selector>._domainkey.
    <domain>.pem`` (mode 0600, written whole or not at all, never over another file);
    the public key is the TXT record to publish."""
    selector = check_selector(selector, "the selector")
    domain = check_domain(domain, "the domain")
    if algorithm == RSA:
        key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey = rsa.generate_private_key(
            public_exponent=65537, key_size=RSA_BITS)
    elif algorithm == ED25519:
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise PublisherError(f"unknown key algorithm {algorithm!r}: use {RSA} or {ED25519}")
    path = directory / f"{selector}._domainkey.{domain}.pem"
    _write_private(path, _pem(key))
    log.info("wrote the private key %s", path)
    return NewKey(path, txt_record(_pem(key), selector, domain), algorithm)


def txt_record(private_pem: bytes, selector: str, domain: str) -> str:
    """The DNS TXT record that publishes the public half of ``private_pem``, as a zone
    file line, its text split into strings of at most 255 characters."""
    algorithm, key = load_key(private_pem)
    if algorithm == ED25519:
        public = ed25519.Ed25519PrivateKey.from_private_bytes(
            base64.b64decode(key)).public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        loaded = serialization.load_pem_private_key(key, password=None)
        assert isinstance(loaded, rsa.RSAPrivateKey)
        public = loaded.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    text = f"v=DKIM1; k={algorithm}; p={base64.b64encode(public).decode('ascii')}"
    strings = " ".join(f'"{text[i:i + TXT_CHUNK]}"' for i in range(0, len(text), TXT_CHUNK))
    return f"{check_selector(selector)}._domainkey.{check_domain(domain)}. IN TXT {strings}"


def record_text(record: str) -> bytes:
    """The TXT record's value as a resolver returns it: its strings joined."""
    return "".join(re.findall(r'"([^"]*)"', record)).encode("ascii")


def _write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read, whole or not at all, never over another."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise disk_error(exc, path) from None
    tmp = Path(name)  # mkstemp made it 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)  # unlike a rename, fails when the name is taken
    except FileExistsError:
        raise PublisherError("a key is there already: keep it (it may be the published one), "
                             "or remove it or choose another selector", path) from None
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            _rename_unless_taken(tmp, path)  # a file system without hard links
        else:
            raise disk_error(exc, path) from None
    finally:
        tmp.unlink(missing_ok=True)


def _rename_unless_taken(tmp: Path, path: Path) -> None:
    if path.exists():
        raise PublisherError("a key is there already: keep it (it may be the published one), "
                             "or remove it or choose another selector", path)
    try:
        os.replace(tmp, path)
    except OSError as exc:
        raise disk_error(exc, path) from None
