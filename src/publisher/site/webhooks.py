"""The providers' bounce and complaint webhooks, as routes of the WSGI application.

- ``/webhooks/ses``: Amazon SES notifications through SNS. Served when
  ``PUBLISHER_SES_TOPIC_ARN`` names the topic(s) (comma-separated). Every message's
  SNS signature is checked (:mod:`publisher.deliver.bounces.sns`); a subscription
  confirmation that passes is confirmed.
- ``/webhooks/postmark``: Postmark's bounce and spam-complaint webhooks. Served when
  ``PUBLISHER_POSTMARK_USER`` and ``PUBLISHER_POSTMARK_PASSWORD`` are set: Postmark
  signs nothing, it sends the HTTP basic-auth credentials written in the webhook's
  URL (``https://USER:PASSWORD@host/webhooks/postmark``), so a request without them
  is refused (401).

Answers: 200 when taken in (or ignored: not a bounce), 400 for what is no
notification, 401/403 for missing credentials or a forged message, 503 with
``Retry-After`` when the store is busy (both providers retry), 405 for any method
but POST. No response carries a traceback.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from publisher.deliver.bounces.intake import Intake
from publisher.deliver.bounces.parse import from_ses
from publisher.deliver.bounces.postmark import from_postmark
from publisher.deliver.bounces.report import Report
from publisher.deliver.bounces.sns import Fetch, Forged, Verifier
from publisher.errors import PublisherError
from publisher.site.body import content_length

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
TOPIC_ENV = "PUBLISHER_SES_TOPIC_ARN"
POSTMARK_USER_ENV, POSTMARK_PASSWORD_ENV = "PUBLISHER_POSTMARK_USER", "PUBLISHER_POSTMARK_PASSWORD"
MIN_PASSWORD = 16

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


def _answer(start_response: StartResponse, status: str, text: str,
            headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    body = json.dumps({"result": text}).encode("utf-8")
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body))), ("Cache-Control", "no-store"),
                            *(headers or [])])
    return [body]


def _body(environ: Environ) -> bytes | None:
    """The request's body, whole, or None when it is too large or unreadable (a
    notification cut short is none: unlike a form's, it is not cut to the limit)."""
    length = content_length(environ)
    if not 0 < length <= MAX_BODY:
        return None
    data = environ["wsgi.input"].read(length)
    return data if isinstance(data, bytes) and len(data) == length else None


class _Webhook:
    name = ""

    def __init__(self, intake: Callable[[], Intake]):
        self.intake = intake

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return _answer(start_response, "405 Method Not Allowed", "POST only",
                           [("Allow", "POST")])
        denied = self.authorize(environ)
        if denied:
            return _answer(start_response, *denied)
        data = _body(environ)
        if data is None:
            return _answer(start_response, "400 Bad Request", "no body, or over 256 KB")
        try:
            payload = json.loads(data)
        except (ValueError, UnicodeError):
            return _answer(start_response, "400 Bad Request", "not JSON")
        if not isinstance(payload, dict):
            return _answer(start_response, "400 Bad Request", "not a JSON object")
        try:
            return self.take(payload, start_response)
        except Forged as exc:
            log.warning("%s webhook: refused a message: %s", self.name, exc)
            return _answer(start_response, "403 Forbidden", "not a genuine notification")
        except PublisherError as exc:  # the store busy, full or unreachable: retried
            log.warning("%s webhook: not recorded, the provider will try again: %s",
                        self.name, exc)
            return _answer(start_response, "503 Service Unavailable", "try again",
                           [("Retry-After", "60")])

    def authorize(self, environ: Environ) -> tuple[str, str, list[tuple[str, str]]] | None:
        return None

    def take(self, payload: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        raise NotImplementedError


class SesWebhook(_Webhook):
    name = "SES"

    def __init__(self, intake: Callable[[], Intake], topics: frozenset[str],
                 fetch: Fetch | None = None):
        super().__init__(intake)
        self.verifier = Verifier(topics, fetch)

    def take(self, payload: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        self.verifier.verify(payload)
        kind = payload.get("Type")
        if kind == "SubscriptionConfirmation":
            self.verifier.confirm(payload)
            log.info("SES webhook: confirmed the subscription to %s", payload.get("TopicArn"))
            return _answer(start_response, "200 OK", "subscription confirmed")
        if kind != "Notification":
            return _answer(start_response, "200 OK", "nothing to do")
        report = from_ses(payload)
        _take(self.intake(), report, "ses", f"sns:{payload.get('MessageId')}")
        return _answer(start_response, "200 OK", "taken in")


class PostmarkWebhook(_Webhook):
    name = "Postmark"

    def __init__(self, intake: Callable[[], Intake], user: str, password: str):
        super().__init__(intake)
        self.expected = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")

    def authorize(self, environ: Environ) -> tuple[str, str, list[tuple[str, str]]] | None:
        given = str(environ.get("HTTP_AUTHORIZATION") or "")
        scheme, _, credentials = given.partition(" ")
        ok = False
        if scheme.lower() == "basic":
            try:
                base64.b64decode(credentials.strip(), validate=True)
                ok = hmac.compare_digest(credentials.strip().encode(), self.expected.encode())
            except (binascii.Error, ValueError):
                ok = False
        if ok:
            return None
        log.warning("Postmark webhook: refused a request without the right credentials")
        return ("401 Unauthorized", "credentials needed",
                [("WWW-Authenticate", 'Basic realm="publisher webhooks"')])

    def take(self, payload: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        report = from_postmark(payload)
        key = f"postmark:{payload.get('RecordType')}:{payload.get('ID')}"
        _take(self.intake(), report, "postmark", key)
        return _answer(start_response, "200 OK", "taken in")


def _take(intake: Intake, report: Report, source: str, key: str) -> None:
    try:
        intake.report(report, source, key)
    finally:
        intake.close()


def routes(environ: Mapping[str, str], intake: Callable[[], Intake],
           fetch: Fetch | None = None) -> dict[str, Callable[..., Iterable[bytes]]]:
    """The webhooks the settings in ``environ`` ask for; an error naming a bad setting."""
    found: dict[str, Callable[..., Iterable[bytes]]] = {}
    topics = frozenset(t.strip() for t in environ.get(TOPIC_ENV, "").split(",") if t.strip())
    for topic in topics:
        if not topic.startswith("arn:aws") or topic.count(":") != 5:
            raise PublisherError(f"{TOPIC_ENV} has {topic!r}: give the topic's ARN, "
                                 "arn:aws:sns:REGION:ACCOUNT:NAME")
    if topics:
        found["/webhooks/ses"] = SesWebhook(intake, topics, fetch)
    user = environ.get(POSTMARK_USER_ENV, "").strip()
    password = environ.get(POSTMARK_PASSWORD_ENV, "")
    if user or password:
        if not user or ":" in user:
            raise PublisherError(f"{POSTMARK_USER_ENV} is not set or has a ':': the user name "
                                 "written in Postmark's webhook URL")
        if len(password) < MIN_PASSWORD:
            raise PublisherError(f"{POSTMARK_PASSWORD_ENV} is too short: use at least "
                                 f"{MIN_PASSWORD} random characters")
        found["/webhooks/postmark"] = PostmarkWebhook(intake, user, password)
    return found
