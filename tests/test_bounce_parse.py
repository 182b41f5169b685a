"""Reading bounces, complaints and auto-replies (publisher.deliver.bounces).

Every sample in tests/data/bounces/ (their README says what each one's shape is and
where it was studied) must be read as EXPECTED says: kind, recipients, status, the VERP
address it came back to (checked with the corpus's secret) and the original Message-ID.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.deliver import verp
from publisher.deliver.bounces import Kind, Report, classify, from_ses, parse

DATA = Path(__file__).resolve().parent / "data" / "bounces"
#: The secret the corpus's return paths were made with (see its README).
SECRET = b"bounce-corpus-secret-not-for-production"
MAILING = "2023-08"
HARD, SOFT, COMPLAINT, AUTO, UNKNOWN = (Kind.HARD, Kind.SOFT, Kind.COMPLAINT,
                                        Kind.AUTO_REPLY, Kind.UNKNOWN)


@dataclass(frozen=True)
class Expected:
    kind: Kind
    recipients: tuple[str, ...]
    shape: str
    status: str = ""
    verp_id: int | None = None  # the subscriber id in the return path; None: no VERP
    message_id: str = ""        # the part before @korea.example.org; "" for none
    action: str = "failed"
    feedback_type: str = ""


EXPECTED = {
    "postfix-dsn-user-unknown.eml": Expected(
        HARD, ("ann@example.org",), "dsn", "5.1.1", 101, "2023-08.3f9c1e0a7b2d4c5e6f708192"),
    "postfix-dsn-delayed.eml": Expected(
        SOFT, ("bob@example.org",), "dsn", "4.4.1", 102, "2023-08.a1b2c3d4e5f60718293a4b5c",
        action="delayed"),
    "postfix-text-mailbox-full.eml": Expected(
        SOFT, ("carol@example.org",), "postfix", "5.2.2", 103,
        "2023-08.0c1d2e3f405162738495a6b7"),
    "exim-failed.eml": Expected(
        HARD, ("dave@example.org",), "exim", "5.1.1", 104, "2023-08.5e6f708192a3b4c5d6e7f809"),
    "exim-delayed.eml": Expected(
        SOFT, ("erin@example.org",), "exim", "4.7.1", 105, action="delayed"),
    "qmail-failure.eml": Expected(
        HARD, ("frank@example.org",), "qmail", "5.1.1", 106, "2023-08.9a8b7c6d5e4f30211f2e3d4c"),
    "yahoo-failure-notice.eml": Expected(
        HARD, ("grace@example.org",), "yahoo", "5.0.0", 107, "2023-08.77e1c0d2b3a4958677e6f5a4"),
    "gmail-legacy-text.eml": Expected(
        HARD, ("heidi@example.org",), "gmail", "5.1.1", 108, "2023-08.c0ffee00112233445566778a"),
    "gmail-dsn.eml": Expected(
        HARD, ("ivan@example.org",), "dsn", "5.1.1", 109, "2023-08.9f8e7d6c5b4a392817160504"),
    "outlook-dsn-mailbox-full.eml": Expected(
        SOFT, ("judy@example.org",), "dsn", "5.2.2", 110, "2023-08.4b3a29180706f5e4d3c2b1a0"),
    "office365-ndr-text.eml": Expected(
        HARD, ("mallory@example.org",), "exchange", "5.1.10", 111,
        "2023-08.e5d4c3b2a1908f7e6d5c4b3a"),
    "ses-dsn.eml": Expected(
        HARD, ("niaj@example.org",), "dsn", "5.1.1", None, "2023-08.1a2b3c4d5e6f708192a3b4c5"),
    "ses-sns-bounce-json.eml": Expected(
        HARD, ("olivia@example.org",), "ses-json", "5.1.1", None,
        "2023-08.0a9b8c7d6e5f4a3b2c1d0e9f"),
    "arf-yahoo.eml": Expected(
        COMPLAINT, ("peggy@example.org",), "arf", "", 114, "2023-08.fedcba98765432100f1e2d3c",
        action="", feedback_type="abuse"),
    "arf-ses-complaint.eml": Expected(
        COMPLAINT, ("rupert@example.org",), "arf", "", None,
        "2023-08.13579bdf02468ace13579bdf", action="", feedback_type="abuse"),
    "arf-hotmail-jmrp.eml": Expected(
        COMPLAINT, ("sybil@example.org",), "arf-hotmail", "", 116,
        "2023-08.2468ace013579bdf2468ace0", action="", feedback_type="abuse"),
    "arf-dmarc-auth-failure.eml": Expected(
        UNKNOWN, ("trent@example.org",), "arf", "", 117, "2023-08.0f0e0d0c0b0a09080706050403",
        action="", feedback_type="auth-failure"),
    "autoreply-exchange.eml": Expected(
        AUTO, ("victor@example.org",), "auto-reply", "", None,
        "2023-08.aabbccddeeff001122334455", action=""),
    "autoreply-vacation.eml": Expected(
        AUTO, ("walter@example.org",), "auto-reply", "", 119, "2023-08.5566778899aabbccddeeff00",
        action=""),
    "sendmail-dsn.eml": Expected(
        HARD, ("yuki@example.org",), "dsn", "5.1.1", 120, "2023-08.8899aabbccddeeff00112233"),
    "human-reply.eml": Expected(
        UNKNOWN, (), "", "", None, "2023-08.ffeeddccbbaa998877665544", action=""),
}


def test_every_sample_has_an_expectation() -> None:
    assert sorted(p.name for p in DATA.glob("*.eml")) == sorted(EXPECTED)
    assert len({e.shape for e in EXPECTED.values()}) >= 12
    readme = (DATA / "README.md").read_text()
    for name in EXPECTED:
        assert f"`{name}`" in readme, f"{name} is not described in the README"


def check(report: Report, expected: Expected) -> None:
    assert report.kind == expected.kind
    assert report.recipients == expected.recipients
    assert report.shape == expected.shape
    assert report.status == expected.status
    assert report.action == expected.action
    assert report.feedback_type == expected.feedback_type
    wanted_id = f"<{expected.message_id}@korea.example.org>" if expected.message_id else ""
    assert report.message_id == wanted_id
    if expected.verp_id is None:
        assert report.verp == ""
    else:
        assert verp.parse(report.verp, SECRET) == (expected.verp_id, MAILING)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample(name: str) -> None:
    data = (DATA / name).read_bytes()
    report = parse(data)
    check(report, EXPECTED[name])
    if report.kind in (HARD, SOFT):
        assert report.diagnostic, "the server's words are kept"
    # as an SMTP listener gets it (CRLF), and as an mbox holds it ("From " line first)
    assert parse(data.replace(b"\n", b"\r\n")) == report
    assert parse(b"From MAILER-DAEMON Tue Aug  1 06:00:00 2023\n" + data) == report


def test_diagnostics() -> None:
    read = {name: parse((DATA / name).read_bytes()).diagnostic for name in EXPECTED}
    assert read["postfix-dsn-user-unknown.eml"] == (
        "550 5.1.1 <ann@example.org>: Recipient address rejected: User unknown in virtual "
        "mailbox table")
    assert read["qmail-failure.eml"] == "Sorry, no mailbox here by that name. (#5.1.1)"
    assert "RESOLVER.ADR.RecipientNotFound" in read["office365-ndr-text.eml"]
    assert "This mailbox is disabled (554.30)" in read["yahoo-failure-notice.eml"]
    assert read["exim-failed.eml"].endswith("550 5.1.1 <dave@example.org>: no such user here")


def test_another_verp_prefix() -> None:
    data = (DATA / "postfix-dsn-user-unknown.eml").read_bytes()
    assert parse(data, verp_prefix="returns").verp == ""
    mine = data.replace(b"bounces+101.", b"returns+101.")
    assert parse(mine, verp_prefix="returns").verp.startswith("returns+101.")


# -- shapes built here -------------------------------------------------------------------


def dsn(status_part: bytes, *, cte: str = "7bit") -> bytes:
    return (b"From: MAILER-DAEMON@mx.example.org\r\nTo: bounces+1.2023-08.x@b.example.org\r\n"
            b"Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/report; report-type=delivery-status; boundary=BB\r\n\r\n"
            b"--BB\r\nContent-Type: text/plain\r\n\r\nIt failed.\r\n"
            b"--BB\r\nContent-Type: message/delivery-status\r\n"
            b"Content-Transfer-Encoding: " + cte.encode() + b"\r\n\r\n"
            + status_part + b"\r\n--BB--\r\n")


FIELDS = (b"Reporting-MTA: dns; mx.example.org\r\n\r\n"
          b"Final-Recipient: rfc822; kim@example.org\r\nAction: failed\r\n"
          b"Status: 5.1.2\r\nDiagnostic-Code: smtp; 550 5.1.2 Host unknown\r\n")


@pytest.mark.parametrize("cte", ["7bit", "base64", "quoted-printable"])
def test_a_delivery_status_part_in_any_transfer_encoding(cte: str) -> None:
    """Some MTAs base64-encode the report part: the email package then cannot split its
    blocks, and the parser reads them again from the decoded text."""
    body = {"7bit": FIELDS, "base64": base64.encodebytes(FIELDS).replace(b"\n", b"\r\n"),
            "quoted-printable": FIELDS.replace(b"=", b"=3D")}[cte]
    report = parse(dsn(body, cte=cte))
    assert (report.kind, report.recipients, report.status) == (
        HARD, ("kim@example.org",), "5.1.2")
    assert report.diagnostic == "550 5.1.2 Host unknown"


def test_several_recipients_the_worst_wins() -> None:
    fields = (b"Reporting-MTA: dns; mx.example.org\r\n\r\n"
              b"Final-Recipient: rfc822; a@example.org\r\nAction: delayed\r\nStatus: 4.2.2\r\n\r\n"
              b"Final-Recipient: rfc822; b@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
              b"Final-Recipient: rfc822; c@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n")
    report = parse(dsn(fields))
    assert (report.kind, report.recipients, report.action) == (
        HARD, ("b@example.org", "c@example.org"), "failed")


def test_a_success_notice_is_no_bounce() -> None:
    fields = (b"Reporting-MTA: dns; mx.example.org\r\n\r\n"
              b"Final-Recipient: rfc822; a@example.org\r\nAction: delivered\r\nStatus: 2.0.0\r\n")
    assert parse(dsn(fields)).kind == UNKNOWN


def ses(kind: str, body: dict[str, object]) -> dict[str, object]:
    return {"notificationType": kind, **body, "mail": {
        "source": "bounces+9.2023-08.aaaaaaaaaaaaaaaa@bounces.example.org",
        "commonHeaders": {"messageId": "<2023-08.1@korea.example.org>"}}}


def test_ses_notifications() -> None:
    complaint = from_ses(ses("Complaint", {"complaint": {
        "complainedRecipients": [{"emailAddress": "kim@example.org"}],
        "complaintFeedbackType": "abuse"}}))
    assert (complaint.kind, complaint.recipients, complaint.feedback_type) == (
        COMPLAINT, ("kim@example.org",), "abuse")
    assert complaint.message_id == "<2023-08.1@korea.example.org>"
    assert complaint.verp.startswith("bounces+9.")
    transient = from_ses(ses("Bounce", {"bounce": {
        "bounceType": "Transient", "bounceSubType": "MailboxFull",
        "bouncedRecipients": [{"emailAddress": "lee@example.org", "status": "4.2.2"}]}}))
    assert (transient.kind, transient.status) == (SOFT, "4.2.2")
    full = from_ses(ses("Bounce", {"bounce": {
        "bounceType": "Permanent", "bounceSubType": "MailboxFull",
        "bouncedRecipients": [{"emailAddress": "lee@example.org"}]}}))
    assert full.kind == SOFT
    undetermined = from_ses(ses("Bounce", {"bounce": {"bounceType": "Undetermined"}}))
    assert undetermined.kind == UNKNOWN
    # the same inside SNS's envelope, as an HTTP subscription receives it
    wrapped = {"Type": "Notification", "Message": json.dumps(ses("Complaint", {"complaint": {
        "complainedRecipients": [{"emailAddress": "kim@example.org"}]}}))}
    assert from_ses(wrapped).kind == COMPLAINT
    assert from_ses({"notificationType": "Delivery"}).kind == UNKNOWN


@pytest.mark.parametrize(("status", "diagnostic", "action", "kind"), [
    ("5.1.1", "", "failed", HARD),
    ("5.1.10", "RecipientNotFound", "failed", HARD),
    ("5.1.2", "", "failed", HARD),
    ("5.1.7", "bad sender address", "failed", SOFT),
    ("5.2.1", "mailbox disabled", "failed", HARD),
    ("5.2.2", "mailbox full", "failed", SOFT),
    ("5.4.4", "unable to route", "failed", HARD),
    ("5.7.1", "blocked by policy", "failed", SOFT),
    ("5.7.1", "", "failed", SOFT),
    ("5.3.4", "message too big", "failed", SOFT),
    ("5.0.0", "550 User unknown", "failed", HARD),
    ("5.0.0", "552 over quota", "failed", SOFT),
    ("5.0.0", "", "failed", HARD),
    ("4.2.2", "", "failed", SOFT),
    ("5.1.1", "", "delayed", SOFT),
    ("2.0.0", "", "delivered", UNKNOWN),
    ("", "no such user", "failed", HARD),
    ("", "quota exceeded", "failed", SOFT),
    ("", "", "failed", UNKNOWN),
])
def test_classify(status: str, diagnostic: str, action: str, kind: Kind) -> None:
    assert classify(status, diagnostic, action) == kind


@pytest.mark.parametrize(("data", "kind"), [
    (b"", UNKNOWN), (b"\r\n\r\n", UNKNOWN), (b"garbage without headers", UNKNOWN),
    (b"Content-Type: multipart/report\r\n\r\n", UNKNOWN),
    (b"Content-Type: multipart/report; boundary=x\r\n\r\n--x\r\nContent-Type: "
     b"message/delivery-status\r\n\r\n\r\n--x--", UNKNOWN),
    # a feedback report without its fields: still a feedback loop's complaint
    (b"Content-Type: multipart/report; boundary=x\r\n\r\n--x\r\nContent-Type: "
     b"message/feedback-report\r\n\r\n--x--", COMPLAINT),
    (b"x-amz-sns-message-id: 1\r\n\r\n{not json", UNKNOWN),
    (b"x-amz-sns-message-id: 1\r\n\r\n[1, 2]", UNKNOWN),
    (b"Subject: =?x-unknown?q?abc?=\r\n\r\nhi", UNKNOWN),
])
def test_malformed_messages_are_read_not_errors(data: bytes, kind: Kind) -> None:
    assert parse(data).kind == kind


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_parse_never_raises(data: bytes) -> None:
    assert isinstance(parse(data), Report)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(EXPECTED)), st.integers(min_value=0), st.binary(max_size=40))
def test_parse_never_raises_on_damaged_samples(name: str, at: int, junk: bytes) -> None:
    data = (DATA / name).read_bytes()
    at %= len(data)
    assert isinstance(parse(data[:at] + junk + data[at + len(junk):]), Report)
