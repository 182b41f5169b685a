"""The SES (through SNS) and Postmark webhooks, through the WSGI application the site
serves: genuine notifications are taken in, forged ones refused.  SNS's certificate is
made here and handed to the application's fetcher, so nothing is fetched from the
network; the URLs are still checked as SNS ones."""

from __future__ import annotations

import base64
import contextlib
import datetime
import io
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

import store_support
from mailroom import make_store
from publisher.build.builder import Paths
from publisher.site.app import site_application

SECRET = "webhook-test-secret-0123456789"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:korea-bounces"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123.pem"
SUBSCRIBE_URL = ("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
                 f"&TopicArn={TOPIC}&Token=abc")
MESSAGE_ID = "<2023-08.0123456789abcdef01234567@webzine.example.org>"


def certificate(key: rsa.RSAPrivateKey, *, days: int = 30,
                start: datetime.datetime | None = None) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    start = start or datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class Sns:
    """A stand-in for SNS: its signing key, and the fetcher the application is given."""

    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
    files: dict[str, bytes] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.files[CERT_URL] = certificate(self.key)
        self.files[SUBSCRIBE_URL] = b"<ConfirmSubscriptionResponse/>"

    def fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        if url not in self.files:
            raise OSError(f"no such file here: {url}")
        return self.files[url]

    def sign(self, message: dict[str, Any], *, version: str = "1",
             key: rsa.RSAPrivateKey | None = None) -> dict[str, Any]:
        """The message with its signature, as AWS documents the string to sign."""
        if message["Type"] == "Notification":
            names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        else:
            names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                     "Type"]
        text = "".join(f"{n}\n{message[n]}\n" for n in names if n in message)
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = (key or self.key).sign(text.encode(), padding.PKCS1v15(), algorithm)
        return {**message, "SignatureVersion": version, "SigningCertURL": CERT_URL,
                "Signature": base64.b64encode(signature).decode()}


def ses_bounce(address: str = "ann@example.org", bounce_type: str = "Permanent") -> str:
    return json.dumps({
        "notificationType": "Bounce",
        "bounce": {"bounceType": bounce_type, "bounceSubType": "General",
                   "bouncedRecipients": [{"emailAddress": address, "action": "failed",
                                          "status": "5.1.1",
                                          "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
                   "timestamp": "2023-08-01T06:00:00.000Z", "feedbackId": "0102-abc"},
        "mail": {"source": "newsletter@webzine.example.org", "messageId": "0102-ses-id",
                 "commonHeaders": {"messageId": MESSAGE_ID}},
    })


def notification(message: str, message_id: str = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
                 topic: str = TOPIC) -> dict[str, Any]:
    return {"Type": "Notification", "MessageId": message_id, "TopicArn": topic,
            "Message": message, "Timestamp": "2023-08-01T06:00:01.000Z"}


@dataclass
class Site:
    app: Callable[..., Any]
    db: Path | str

    def post(self, path: str, body: bytes | dict[str, Any], headers: dict[str, str] | None = None,
             method: str = "POST") -> tuple[int, dict[str, str], dict[str, Any]]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "",
                   "SERVER_NAME": "localhost", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
                   "wsgi.input": io.BytesIO(data), "wsgi.url_scheme": "https",
                   "CONTENT_LENGTH": str(len(data)), "CONTENT_TYPE": "application/json",
                   **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()}}
        found: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]],
                           exc_info: object = None) -> None:
            found["status"] = int(status.split()[0])
            found["headers"] = dict(response_headers)

        out = b"".join(self.app(environ, start_response))
        is_json = found["headers"].get("Content-Type") == "application/json"
        return found["status"], found["headers"], json.loads(out) if is_json else {}


@pytest.fixture
def sns() -> Sns:
    return Sns()


@pytest.fixture
def site(project_copy: Paths, tmp_path: Path, sns: Sns, request: pytest.FixtureRequest
         ) -> Iterator[Site]:
    """The application with both webhooks, over an SQLite store, or a PostgreSQL one
    (``parametrize("site", store_support.BOTH, indirect=True)``): its reports recorded
    through the unsubscribe endpoint's pool."""
    (project_copy.dist / "site").mkdir(parents=True)
    (project_copy.dist / "site" / "index.html").write_text("<!doctype html><title>x</title>")
    db = store_support.target(request, tmp_path / "subscribers.sqlite")
    make_store(db, ["ann@example.org", "bob@example.org", "carol@example.org",
                    "dave@example.org", "erin@example.org"], tmp_path / "subscribers.csv")
    environ = {"PUBLISHER_SECRET": SECRET, "PUBLISHER_SES_TOPIC_ARN": TOPIC,
               "PUBLISHER_POSTMARK_USER": "postmark",
               "PUBLISHER_POSTMARK_PASSWORD": "a-long-postmark-password"}
    yield Site(site_application(project_copy, db, environ, fetch=sns.fetch, store_wait=0.2), db)


def state(db: Path | str) -> dict[str, tuple[str, str]]:
    """address -> (status, why it was stopped) of every subscriber (either backend)."""
    from publisher.deliver import db as store_db

    with contextlib.closing(store_db.connect(db)) as conn:
        return {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT s.email, s.status, coalesce(p.reason, '') FROM subscribers s "
            "LEFT JOIN suppressions p ON p.subscriber_id = s.id")}


def taken_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "publisher.deliver.bounces.intake" and r.levelno == logging.INFO]


# -- SES through SNS --------------------------------------------------------------------------


@pytest.mark.parametrize("site", store_support.BOTH, indirect=True)
@pytest.mark.parametrize("version", ["1", "2"])
def test_a_genuine_ses_bounce_is_taken_in(site: Site, sns: Sns, version: str,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    status, headers, body = site.post("/webhooks/ses",
                                      sns.sign(notification(ses_bounce()), version=version))
    assert (status, body) == (200, {"result": "taken in"}), body
    assert headers["X-Content-Type-Options"] == "nosniff"  # the site's headers, as everywhere
    assert taken_in(caplog) == ["ses: hard bounce of ann@example.org: suppressed"]
    assert state(site.db)["ann@example.org"] == ("unsubscribed", "hard")
    assert state(site.db)["bob@example.org"] == ("subscribed", "")
    assert sns.fetched == [CERT_URL]
    site.post("/webhooks/ses", sns.sign(notification(ses_bounce("bob@example.org"))))
    assert sns.fetched == [CERT_URL]  # the certificate is kept


@pytest.mark.parametrize("site", store_support.BOTH, indirect=True)
def test_a_ses_complaint_is_taken_in(site: Site, sns: Sns,
                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    complaint = json.dumps({
        "notificationType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": "carol@example.org"}],
                      "complaintFeedbackType": "abuse", "feedbackId": "0102-c"},
        "mail": {"source": "newsletter@webzine.example.org",
                 "commonHeaders": {"messageId": MESSAGE_ID}}})
    status, _, _ = site.post("/webhooks/ses", sns.sign(notification(complaint)))
    assert status == 200
    assert taken_in(caplog) == ["ses: complaint report of carol@example.org: unsubscribed"]
    assert state(site.db)["carol@example.org"] == ("unsubscribed", "complaint")
    status, _, _ = site.post("/webhooks/ses", sns.sign(notification(complaint)))
    assert status == 200  # delivered again by SNS: recorded once
    assert taken_in(caplog)[-1] == "ses: complaint report of carol@example.org: already recorded"


def test_a_busy_store_asks_the_provider_to_try_again(site: Site, sns: Sns) -> None:
    hold = sqlite3.connect(site.db, isolation_level=None)
    hold.execute("BEGIN IMMEDIATE")  # another process writing, for longer than we wait
    try:
        status, headers, _ = site.post("/webhooks/ses", sns.sign(notification(ses_bounce())))
        assert (status, headers["Retry-After"]) == (503, "60")
        auth = basic("postmark", "a-long-postmark-password")
        assert site.post("/webhooks/postmark", POSTMARK_BOUNCE, auth)[0] == 503
    finally:
        hold.execute("ROLLBACK")
        hold.close()
    assert state(site.db)["ann@example.org"] == ("subscribed", "")
    status, _, _ = site.post("/webhooks/ses", sns.sign(notification(ses_bounce())))
    assert status == 200 and state(site.db)["ann@example.org"] == ("unsubscribed", "hard")


def test_a_subscription_is_confirmed_once_verified(site: Site, sns: Sns) -> None:
    message = {"Type": "SubscriptionConfirmation", "MessageId": "165545c9",
               "Token": "abc", "TopicArn": TOPIC, "Message": "You have chosen to subscribe",
               "SubscribeURL": SUBSCRIBE_URL, "Timestamp": "2023-08-01T06:00:00.000Z"}
    status, _, body = site.post("/webhooks/ses", sns.sign(message))
    assert (status, body["result"]) == (200, "subscription confirmed")
    assert sns.fetched == [CERT_URL, SUBSCRIBE_URL]
    elsewhere = {**message, "SubscribeURL": "https://evil.example.net/confirm"}
    status, _, _ = site.post("/webhooks/ses", sns.sign(elsewhere))
    assert status == 403
    assert sns.fetched == [CERT_URL, SUBSCRIBE_URL]  # nothing fetched from elsewhere


FORGERIES: dict[str, Callable[[Sns], dict[str, Any]]] = {
    "another key": lambda sns: sns.sign(notification(ses_bounce()), key=rsa.generate_private_key(
        public_exponent=65537, key_size=2048)),
    "changed after signing": lambda sns: {**sns.sign(notification(ses_bounce())),
                                          "Message": ses_bounce("mallory@example.net")},
    "no signature": lambda sns: {k: v for k, v in sns.sign(notification(ses_bounce())).items()
                                 if k != "Signature"},
    "garbled signature": lambda sns: {**sns.sign(notification(ses_bounce())),
                                      "Signature": "not base64!"},
    "unknown version": lambda sns: {**sns.sign(notification(ses_bounce())),
                                    "SignatureVersion": "3"},
    "certificate over http": lambda sns: {**sns.sign(notification(ses_bounce())),
                                          "SigningCertURL": CERT_URL.replace("https", "http")},
    "certificate elsewhere": lambda sns: {
        **sns.sign(notification(ses_bounce())),
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com.evil.example.net/x.pem"},
    "certificate at a user@host": lambda sns: {
        **sns.sign(notification(ses_bounce())),
        "SigningCertURL": "https://evil.example.net@sns.eu-west-1.amazonaws.com/x.pem"},
    "another topic": lambda sns: sns.sign(notification(
        ses_bounce(), topic="arn:aws:sns:eu-west-1:666666666666:someone-elses")),
}


@pytest.mark.parametrize("case", list(FORGERIES))
def test_forged_ses_notifications_are_refused(site: Site, sns: Sns, case: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    status, _, body = site.post("/webhooks/ses", FORGERIES[case](sns))
    assert (status, body) == (403, {"result": "not a genuine notification"})
    assert taken_in(caplog) == []
    assert all(url == CERT_URL for url in sns.fetched)
    assert all(v == ("subscribed", "") for v in state(site.db).values())


def test_an_expired_certificate_is_refused(site: Site, sns: Sns) -> None:
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=400)
    sns.files[CERT_URL] = certificate(sns.key, start=old)
    status, _, _ = site.post("/webhooks/ses", sns.sign(notification(ses_bounce())))
    assert status == 403


@pytest.mark.parametrize(("body", "method", "status"), [
    (b"", "POST", 400), (b"{not json", "POST", 400), (b"[1, 2]", "POST", 400),
    (b"x" * 300_000, "POST", 400), (b"{}", "GET", 405), (b"{}", "PUT", 405),
])
def test_what_is_no_notification(site: Site, body: bytes, method: str, status: int) -> None:
    for path in ("/webhooks/ses", "/webhooks/postmark"):
        auth = {"Authorization": "Basic " + base64.b64encode(
            b"postmark:a-long-postmark-password").decode()}
        assert site.post(path, body, auth, method=method)[0] == status, path


# -- Postmark ---------------------------------------------------------------------------------


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


POSTMARK_BOUNCE = {"RecordType": "Bounce", "ID": 4323372036854775807, "Type": "HardBounce",
                   "TypeCode": 1, "Name": "Hard bounce", "MessageID": "883953f4-6105-42a2",
                   "Description": "The server was unable to deliver your message",
                   "Details": "smtp;550 5.1.1 The email account that you tried to reach "
                              "does not exist", "Email": "dave@example.org",
                   "From": "newsletter@webzine.example.org",
                   "BouncedAt": "2023-08-01T06:00:00Z"}
POSTMARK_COMPLAINT = {"RecordType": "SpamComplaint", "ID": 42, "Type": "SpamComplaint",
                      "TypeCode": 512, "Email": "erin@example.org",
                      "MessageID": "00000000-0000-0000-0000-000000000000"}


def test_postmark_bounces_and_complaints_with_the_credentials(
        site: Site, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    auth = basic("postmark", "a-long-postmark-password")
    assert site.post("/webhooks/postmark", POSTMARK_BOUNCE, auth)[0] == 200
    assert site.post("/webhooks/postmark", POSTMARK_COMPLAINT, auth)[0] == 200
    assert site.post("/webhooks/postmark", {**POSTMARK_BOUNCE, "Type": "AutoResponder"},
                     auth)[0] == 200  # read, and nothing to record
    assert taken_in(caplog) == ["postmark: hard bounce of dave@example.org: suppressed",
                                "postmark: complaint report of erin@example.org: unsubscribed"]
    assert state(site.db)["dave@example.org"] == ("unsubscribed", "hard")
    assert state(site.db)["erin@example.org"] == ("unsubscribed", "complaint")


@pytest.mark.parametrize("headers", [
    {}, basic("postmark", "wrong-password-0123456789"),
    basic("someone", "a-long-postmark-password"),
    {"Authorization": "Bearer a-long-postmark-password"}, {"Authorization": "Basic !!!"},
])
def test_postmark_without_the_credentials_is_refused(
        site: Site, headers: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    status, response, _ = site.post("/webhooks/postmark", POSTMARK_BOUNCE, headers)
    assert status == 401 and response["WWW-Authenticate"].startswith("Basic")
    assert taken_in(caplog) == []
    assert state(site.db)["dave@example.org"] == ("subscribed", "")


def test_webhooks_only_when_set_up(project_copy: Paths, tmp_path: Path) -> None:
    (project_copy.dist / "site").mkdir(parents=True)
    (project_copy.dist / "site" / "index.html").write_text("<!doctype html><title>x</title>")
    app = site_application(project_copy, tmp_path / "s.sqlite", {"PUBLISHER_SECRET": SECRET})
    site = Site(app, tmp_path / "s.sqlite")
    assert site.post("/webhooks/ses", b"{}", method="GET")[0] == 404


@pytest.mark.parametrize(("environ", "error"), [
    ({"PUBLISHER_SES_TOPIC_ARN": "korea-bounces"}, "PUBLISHER_SES_TOPIC_ARN has 'korea-bounces'"),
    ({"PUBLISHER_POSTMARK_USER": "pm", "PUBLISHER_POSTMARK_PASSWORD": "short"},
     "PUBLISHER_POSTMARK_PASSWORD is too short"),
    ({"PUBLISHER_POSTMARK_PASSWORD": "a-long-postmark-password"},
     "PUBLISHER_POSTMARK_USER is not set"),
])
def test_bad_webhook_settings(project_copy: Paths, tmp_path: Path, environ: dict[str, str],
                              error: str) -> None:
    from publisher.errors import PublisherError

    (project_copy.dist / "site").mkdir(parents=True)
    (project_copy.dist / "site" / "index.html").write_text("<!doctype html><title>x</title>")
    with pytest.raises(PublisherError, match=error):
        site_application(project_copy, tmp_path / "s.sqlite",
                         {"PUBLISHER_SECRET": SECRET, **environ})
