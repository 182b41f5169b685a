"""Amazon SNS messages: is this one really from SNS, and from our topic?

SES publishes its bounce and complaint notifications to an SNS topic, which POSTs
them to the webhook. Anyone can POST to it, so each message is checked as AWS's
documentation says ("Verifying the signatures of Amazon SNS messages"):

1. ``SigningCertURL`` is an ``https`` URL on an SNS host (``sns.<region>.amazonaws.com``,
   or ``.amazonaws.com.cn``) and names a ``.pem`` file; nothing else is fetched.
2. The certificate is fetched over HTTPS (the server's certificate checked against the
   trust store), cached by its URL, and must be in its validity period.
3. The signature (``SignatureVersion`` 1: SHA1withRSA, 2: SHA256withRSA) over the
   message's fields, in the order AWS gives for its ``Type``, verifies with the
   certificate's public key.
4. The ``TopicArn`` is one of ours (``PUBLISHER_SES_TOPIC_ARN``): a valid signature says
   only that SNS sent it, and anyone can make a topic.

A ``SubscriptionConfirmation`` that passes is confirmed by fetching its
``SubscribeURL`` (checked like the certificate's).  ``fetch`` is any function from
an URL to its bytes; the default uses the system's trust store.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import logging
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from publisher.errors import PublisherError

log = logging.getLogger(__name__)

Fetch = Callable[[str], bytes]

_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
#: The fields signed, in order, for each type of message.
SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp",
                                 "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp",
                                "Token", "TopicArn", "Type"),
}
MAX_CERTIFICATE = 64 * 1024


class Forged(Exception):
    """The message is not one SNS sent for our topic (the reason, for the log)."""


def sns_url(url: str) -> bool:
    """Whether ``url`` is an https URL on an SNS host (no user, no port but 443)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (parts.scheme == "https" and parts.username is None and port in (None, 443)
            and bool(parts.hostname) and bool(_HOST.fullmatch(parts.hostname or "")))


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    kind = str(message.get("Type") or "")
    if kind not in SIGNED:
        raise Forged(f"unknown message type {kind!r}")
    lines = []
    for name in SIGNED[kind]:
        value = message.get(name)
        if value is None:
            if name == "Subject":
                continue  # signed only when the message has one
            raise Forged(f"no {name}")
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode("utf-8")


def default_fetch(url: str) -> bytes:
    """GET ``url`` (https, the system's trust store), at most 64 KB."""
    request = urllib.request.Request(url, headers={"User-Agent": "publisher"})
    with urllib.request.urlopen(request, timeout=10) as response:  # https only: checked
        return bytes(response.read(MAX_CERTIFICATE + 1))


class Verifier:
    """Checks SNS messages for the topics ``topics``; certificates cached by URL."""

    def __init__(self, topics: frozenset[str], fetch: Fetch | None = None):
        self.topics = topics
        self.fetch = fetch or default_fetch
        self.certificates: dict[str, x509.Certificate] = {}
        self.lock = threading.Lock()

    def verify(self, message: Mapping[str, Any]) -> None:
        """Return if the message is genuine and ours; else raise :class:`Forged`."""
        if not isinstance(message, Mapping):
            raise Forged("not a JSON object")
        url = str(message.get("SigningCertURL") or message.get("SigningCertUrl") or "")
        if not (sns_url(url) and urlsplit(url).path.endswith(".pem")):
            raise Forged(f"the certificate URL {url[:200]!r} is not an SNS one")
        version = str(message.get("SignatureVersion") or "")
        algorithm: hashes.HashAlgorithm
        if version == "1":
            algorithm = hashes.SHA1()  # SNS's version 1 is SHA1withRSA
        elif version == "2":
            algorithm = hashes.SHA256()
        else:
            raise Forged(f"unknown signature version {version!r}")
        try:
            signature = base64.b64decode(str(message.get("Signature") or ""), validate=True)
        except (binascii.Error, ValueError):
            raise Forged("the signature is not base64") from None
        data = string_to_sign(message)
        key = self._certificate(url).public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise Forged("the certificate's key is not RSA")
        try:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        except InvalidSignature:
            raise Forged("the signature does not verify") from None
        topic = str(message.get("TopicArn") or "")
        if topic not in self.topics:
            raise Forged(f"the topic {topic!r} is not PUBLISHER_SES_TOPIC_ARN")

    def _certificate(self, url: str) -> x509.Certificate:
        with self.lock:
            found = self.certificates.get(url)
        if found is None:
            try:
                data = self.fetch(url)
            except (OSError, urllib.error.URLError, ValueError) as exc:
                raise Forged(f"the certificate could not be fetched: {exc}") from None
            if len(data) > MAX_CERTIFICATE:
                raise Forged("the certificate is too large")
            try:
                found = x509.load_pem_x509_certificate(data)
            except ValueError:
                raise Forged("the certificate is not PEM") from None
            with self.lock:
                self.certificates[url] = found
        now = datetime.datetime.now(datetime.UTC)
        if not found.not_valid_before_utc <= now <= found.not_valid_after_utc:
            raise Forged("the certificate is outside its validity period")
        return found

    def confirm(self, message: Mapping[str, Any]) -> None:
        """Confirm a verified subscription by fetching its ``SubscribeURL``."""
        url = str(message.get("SubscribeURL") or "")
        if not sns_url(url):
            raise Forged(f"the subscribe URL {url[:200]!r} is not an SNS one")
        try:
            self.fetch(url)
        except (OSError, urllib.error.URLError, ValueError) as exc:  # SNS sends it again
            raise PublisherError(f"the subscription could not be confirmed: {exc}") from None
