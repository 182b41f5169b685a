"""DKIM: sign each message as it is sent, and make the key pair to publish.

The settings come from the environment: ``PUBLISHER_DKIM_KEY`` (a PEM file with
the private key), ``PUBLISHER_DKIM_SELECTOR`` and ``PUBLISHER_DKIM_DOMAIN``.
None of them set: no signing. Some set and not the others, or a key that cannot
be read or used: one error naming the variable, before anything is sent.

The key's type chooses the algorithm: RSA (``rsa-sha256``, 1024 bits at least,
2048 advised) or Ed25519 (``ed25519-sha256``, RFC 8463). Signing and the key
formats it takes are dkimpy's (:mod:`dkim`); the ``cryptography`` package only
reads the PEM file (any of PKCS#1, PKCS#8, CRLF line ends) into the form dkimpy
wants, and makes new keys. Canonicalization is relaxed/relaxed; the signed
headers are those of :data:`SIGNED` that the message has, each signed once more
than it occurs ("oversigned"), so that no second From, Subject or
List-Unsubscribe can be added without breaking the signature (RFC 6376 8.15).
RFC 8058 wants List-Unsubscribe and List-Unsubscribe-Post covered by the
signature: they are in :data:`SIGNED`.
"""

from __future__ import annotations

import base64
import errno
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import dkim
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

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
_SIGNED = {name.lower() for name in SIGNED}
TXT_CHUNK = 255  # the longest string in a TXT record (RFC 1035 3.3.14)

_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_SELECTOR = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
_HEADER_NAME = re.compile(rb"([!-9;-~]+)[ \t]*:")


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
        try:  # what dkimpy will make of the key: found now, not at the first message
            signature(b"From: a@example.org\r\nSubject: -\r\n\r\n-\r\n", settings)
        except dkim.DKIMException as exc:
            raise PublisherError(f"{KEY_ENV}: the key cannot sign: {exc}", path) from None
        return settings

    @property
    def dns_name(self) -> str:
        """Where the public key is published: ``<selector>._domainkey.<domain>``."""
        return f"{self.selector}._domainkey.{self.domain}"


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
    text = domain.strip().rstrip(".")
    try:
        ascii_domain = text.encode("idna").decode("ascii").lower()
    except UnicodeError:
        ascii_domain = ""
    if not _DOMAIN.fullmatch(ascii_domain):
        raise PublisherError(f"{what} is {domain!r}: name the domain the messages are "
                             "signed for, such as 'example.org'")
    return ascii_domain


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
    counts: dict[bytes, int] = {}
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t"):
            continue  # a folded continuation
        found = _HEADER_NAME.match(line)
        if found and found.group(1).lower().decode("ascii") in _SIGNED:
            name = found.group(1).lower()
            counts[name] = counts.get(name, 0) + 1
    order = [name.lower().encode("ascii") for name in SIGNED]
    return [name for name in order if name in counts for _ in range(counts[name] + 1)]


def signature(message: bytes, settings: DkimSettings) -> bytes:
    """The ``DKIM-Signature`` header line (with its line end) for ``message``: to go in
    front of it unchanged, or of its dot-stuffed form, which has the same signature."""
    headers = signed_headers(message)
    if b"from" not in headers:
        raise PublisherError("the message has no From header: it cannot be DKIM-signed")
    linesep = b"\r\n" if message.split(b"\n", 1)[0].endswith(b"\r") else b"\n"
    signer = dkim.DKIM(message, signature_algorithm=ALGORITHMS[settings.algorithm],
                       linesep=linesep, logger=log)
    return signer.sign(settings.selector.encode("ascii"), settings.domain.encode("ascii"),
                       settings.key, canonicalize=(b"relaxed", b"relaxed"),
                       include_headers=headers)


def sign(message: bytes, settings: DkimSettings) -> bytes:
    """``message`` with its ``DKIM-Signature`` header in front."""
    return signature(message, settings) + message


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
