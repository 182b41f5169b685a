"""Read a bounce, a complaint or an auto-reply into a :class:`Report`.

In order, the first that fits:

1. a feedback report (ARF, RFC 5965): a ``message/feedback-report`` part; and
   Outlook.com's older complaints, the returned message alone with its
   ``X-HmXmrOriginalRecipient`` header;
2. a delivery status notification (RFC 3464): a ``message/delivery-status`` part,
   per-recipient ``Action``, ``Status`` and ``Diagnostic-Code``;
3. an Amazon SES notification forwarded by SNS as email (its JSON, also read by
   :func:`from_ses` for the webhook);
4. the plain-text bounces of Exim, qmail, Yahoo, old Postfix, old Gmail, Exchange
   (:mod:`publisher.deliver.bounces.text`);
5. an automatic reply (RFC 3834 ``Auto-Submitted: auto-replied``, Exchange's and
   others' headers, the usual subjects);

and otherwise ``unknown``. Every shape also gives, when the message has them, the
return path it came back to (``verp``: the first address of ``X-Original-To``,
``Delivered-To``, ``Envelope-To``, ``To`` and the report's own fields whose local
part starts with ``bounces+``; :func:`publisher.deliver.verp.parse` checks it) and
the Message-ID of the message it is about.

Only the standard library's ``email`` package reads the MIME; nothing here
raises for a malformed message: what cannot be read is left empty.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import quopri
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from email import message_from_bytes, message_from_string
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr
from typing import Any

from publisher.deliver import verp as verp_module
from publisher.deliver.bounces import text as plain
from publisher.deliver.bounces.report import (
    Kind,
    Report,
    classify,
    one_line,
    status_in,
)

log = logging.getLogger(__name__)

#: Feedback types (RFC 5965 and IANA's registry) that mean "stop mailing me".
COMPLAINT_TYPES = frozenset({"abuse", "fraud", "virus", "other", "opt-out", ""})
_MESSAGE_ID = re.compile(r"(?im)^message-id:[ \t]*(<[^<>\s]+>)")
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|auto:|out of (the )?office|"
    r"away from (the office|my desk)|on vacation|vacation reply|abwesenheit|"
    r"r[ée]ponse automatique|respuesta autom[áa]tica)", re.IGNORECASE)


def parse(data: bytes, *, verp_prefix: str = verp_module.PREFIX) -> Report:
    """What the message ``data`` reports."""
    msg = message_from_bytes(data)
    prefix = verp_prefix.lower() + "+"
    for reader in (_arf, _dsn, _ses_email, _text, _auto_reply):
        report = reader(msg, prefix)
        if report is not None:
            return report
    return Report(Kind.UNKNOWN, verp=_verp(_outer_candidates(msg), prefix),
                  message_id=_in_reply_to(msg), shape="")


# -- 1. feedback reports --------------------------------------------------------------


def _arf(msg: Message, prefix: str) -> Report | None:
    report_part = _first(msg, "message/feedback-report")
    original = _original(msg)
    if report_part is None:
        return _hotmail_complaint(msg, original, prefix)
    fields = _report_fields(report_part)
    feedback_type = _field(fields, "Feedback-Type").lower()
    recipients = _addresses(_field_all(fields, "Original-Rcpt-To")
                            or _field_all(fields, "Removal-Recipient"))
    if not recipients and original is not None:
        recipients = _addresses(original.get_all("To", []))
    candidates = [*_outer_candidates(msg), *_field_all(fields, "Original-Mail-From")]
    if original is not None:
        candidates += original.get_all("Return-Path", [])
    return Report(
        Kind.COMPLAINT if feedback_type in COMPLAINT_TYPES else Kind.UNKNOWN,
        recipients=recipients,
        verp=_verp(candidates, prefix),
        message_id=_message_id(original) or _first_id(_field(fields, "Original-Message-ID")),
        feedback_type=feedback_type or "abuse",
        shape="arf",
    )


def _hotmail_complaint(msg: Message, original: Message | None, prefix: str) -> Report | None:
    """Outlook.com's complaint before ARF: the message alone, with the address it was
    delivered to in ``X-HmXmrOriginalRecipient``."""
    if original is None or not original.get("X-HmXmrOriginalRecipient"):
        return None
    recipients = _addresses(original.get_all("X-HmXmrOriginalRecipient", []))
    candidates = [*_outer_candidates(msg), *original.get_all("Return-Path", [])]
    return Report(Kind.COMPLAINT, recipients=recipients, verp=_verp(candidates, prefix),
                  message_id=_message_id(original), feedback_type="abuse", shape="arf-hotmail")


# -- 2. delivery status notifications -------------------------------------------------


def _dsn(msg: Message, prefix: str) -> Report | None:
    part = _first(msg, "message/delivery-status")
    if part is None:
        return None
    blocks = _dsn_blocks(part)
    per_message = blocks[0] if blocks else []
    found = []  # (kind, recipient, status, diagnostic, action)
    for block in blocks:
        recipient = _dsn_address(_field(block, "Original-Recipient")) or _dsn_address(
            _field(block, "Final-Recipient"))
        if not recipient:
            continue
        action = _field(block, "Action").lower().split(" ")[0]
        diagnostic = one_line(re.sub(r"^\s*[\w-]+\s*;\s*", "", _field(block, "Diagnostic-Code")))
        status = status_in(_field(block, "Status")) or status_in(diagnostic)
        found.append((classify(status, diagnostic, action or "failed"), recipient, status,
                      diagnostic, action))
    if not found:
        return None
    worst = min(found, key=lambda item: _SEVERITY[item[0]])
    kind, _recipient, status, diagnostic, action = worst
    original = _original(msg)
    candidates = [*_outer_candidates(msg), *_field_all(per_message, "X-Postfix-Sender")]
    if original is not None:
        candidates += original.get_all("Return-Path", [])
    return Report(
        kind,
        recipients=tuple(dict.fromkeys(item[1] for item in found if item[0] == kind)),
        status=status,
        diagnostic=diagnostic,
        action=action,
        verp=_verp(candidates, prefix),
        message_id=(_message_id(original) or _first_id(_field(per_message, "X-Original-Message-ID"))
                    or _in_reply_to(msg)),
        shape="dsn",
    )


_SEVERITY = {Kind.HARD: 0, Kind.SOFT: 1, Kind.COMPLAINT: 2, Kind.AUTO_REPLY: 3,
             Kind.UNKNOWN: 4}


def _dsn_address(value: str) -> str:
    """``rfc822; ann@example.org`` -> ``ann@example.org``."""
    kind, semicolon, address = value.partition(";")
    if not semicolon:
        address = kind
    elif kind.strip().lower() not in ("rfc822", "utf-8", "x-unknown", ""):
        return ""
    address = address.strip().strip("<>").strip()
    return address if "@" in address else ""


# -- 3. Amazon SES notifications --------------------------------------------------------


def _ses_email(msg: Message, prefix: str) -> Report | None:
    if msg.is_multipart() or not msg.get("x-amz-sns-message-id"):
        return None
    body = _text_of(msg)
    start = body.find("{")
    if start < 0:
        return None
    try:
        notification, _end = json.JSONDecoder().raw_decode(body[start:])
    except ValueError:
        return None
    if not isinstance(notification, dict):
        return None
    report = from_ses(notification, verp_prefix=prefix.removesuffix("+"))
    if report.shape and not report.verp:
        report = replace(report, verp=_verp(_outer_candidates(msg), prefix))
    return report if report.shape else None


def from_ses(notification: Mapping[str, Any], *, verp_prefix: str = verp_module.PREFIX
             ) -> Report:
    """An Amazon SES bounce or complaint notification (the JSON SES publishes to SNS;
    an SNS envelope around it is opened too)."""
    inner = notification.get("Message")
    if isinstance(inner, str) and notification.get("Type") == "Notification":
        try:
            notification = json.loads(inner)
        except ValueError:
            return Report(Kind.UNKNOWN)
    kind_name = str(notification.get("notificationType") or notification.get("eventType")
                    or "")
    mail = notification.get("mail") or {}
    headers = mail.get("commonHeaders") or {}
    message_id = str(headers.get("messageId") or "")
    source = str(mail.get("source") or "")
    verp = source if source.lower().startswith(verp_prefix.lower() + "+") else ""
    if kind_name == "Bounce":
        bounce = notification.get("bounce") or {}
        recipients = bounce.get("bouncedRecipients") or []
        first = recipients[0] if recipients else {}
        diagnostic = one_line(re.sub(r"^\s*smtp\s*;\s*", "", str(
            first.get("diagnosticCode") or ""), flags=re.IGNORECASE))
        status = status_in(str(first.get("status") or "")) or status_in(diagnostic)
        bounce_type = str(bounce.get("bounceType") or "")
        kind = {"Permanent": Kind.HARD, "Transient": Kind.SOFT}.get(bounce_type, Kind.UNKNOWN)
        if bounce.get("bounceSubType") == "MailboxFull":
            kind = Kind.SOFT
        return Report(kind, recipients=_ses_addresses(recipients), status=status,
                      diagnostic=diagnostic, action=str(first.get("action") or ""),
                      verp=verp, message_id=message_id, shape="ses-json")
    if kind_name == "Complaint":
        complaint = notification.get("complaint") or {}
        feedback_type = str(complaint.get("complaintFeedbackType") or "abuse").lower()
        kind = Kind.COMPLAINT if feedback_type in COMPLAINT_TYPES else Kind.UNKNOWN
        return Report(kind, recipients=_ses_addresses(complaint.get("complainedRecipients")
                                                      or []),
                      verp=verp, message_id=message_id, feedback_type=feedback_type,
                      shape="ses-json")
    return Report(Kind.UNKNOWN)


def _ses_addresses(items: list[Any]) -> tuple[str, ...]:
    return tuple(str(item.get("emailAddress")) for item in items
                 if isinstance(item, dict) and item.get("emailAddress"))


# -- 4. plain-text bounces --------------------------------------------------------------


def _text(msg: Message, prefix: str) -> Report | None:
    notice, copy = plain.split_copy(_text_of(msg))
    found = plain.read(notice)
    if found is None:
        return None
    recipients = found.recipients
    failed = _addresses(msg.get_all("X-Failed-Recipients", []))
    if failed and not set(failed) & set(recipients):
        recipients = failed
    original = _original(msg)
    in_copy = _MESSAGE_ID.search(copy)
    candidates = list(_outer_candidates(msg))
    if original is not None:
        candidates += original.get_all("Return-Path", [])
    return_path = re.search(r"(?im)^return-path:[ \t]*(.+)$", copy)
    if return_path:
        candidates.append(return_path.group(1))
    status = found.status
    if found.delayed and not status:
        status = "4.0.0"
    return Report(
        classify(status, found.diagnostic, "delayed" if found.delayed else "failed"),
        recipients=recipients,
        status=status,
        diagnostic=found.diagnostic,
        action="delayed" if found.delayed else "failed",
        verp=_verp(candidates, prefix),
        message_id=(_message_id(original) or (in_copy.group(1) if in_copy else "")
                    or _in_reply_to(msg)),
        shape=found.shape,
    )


# -- 5. automatic replies ---------------------------------------------------------------


def _auto_reply(msg: Message, prefix: str) -> Report | None:
    auto_submitted = _header(msg, "Auto-Submitted").lower()
    flagged = (auto_submitted.startswith("auto-replied")
               or any(msg.get(name) for name in ("X-Autoreply", "X-Autorespond",
                                                 "X-Auto-Response-Suppress", "X-Vacation"))
               or _header(msg, "Precedence").lower() == "auto_reply"
               or bool(_AUTO_SUBJECT.match(_subject(msg))))
    if not flagged:
        return None
    sender = parseaddr(_header(msg, "From"))[1]
    return Report(Kind.AUTO_REPLY, recipients=(sender,) if sender else (),
                  verp=_verp(_outer_candidates(msg), prefix),
                  message_id=_in_reply_to(msg), shape="auto-reply")


# -- helpers ------------------------------------------------------------------------------


def _walk(msg: Message) -> Iterator[Message]:
    """Every part, without going into attached messages (a bounce of a bounce reports
    on the outer one)."""
    yield msg
    if msg.get_content_maintype() == "multipart" and msg.is_multipart():
        for part in msg.get_payload():
            if isinstance(part, Message):
                yield from _walk(part)


def _first(msg: Message, content_type: str) -> Message | None:
    return next((p for p in _walk(msg) if p.get_content_type() == content_type), None)


def _original(msg: Message) -> Message | None:
    """The returned message or its headers, when attached."""
    for part in _walk(msg):
        kind = part.get_content_type()
        if kind == "message/rfc822" and part.is_multipart():
            inner = part.get_payload(0)
            return inner if isinstance(inner, Message) else None
        if kind in ("text/rfc822-headers", "text/rfc822-header"):
            return message_from_string(_decoded(part))
    return None


def _report_fields(part: Message) -> list[tuple[str, str]]:
    """The fields of a ``message/feedback-report`` part."""
    blocks = _dsn_blocks(part)
    return [field for block in blocks for field in block]


def _dsn_blocks(part: Message) -> list[list[tuple[str, str]]]:
    """The field blocks of a report part: the ``email`` package splits a delivery-status
    part into blocks itself, unless it is base64 or quoted-printable encoded (some MTAs
    do that), when it is read again from the decoded text."""
    encoding = _header(part, "Content-Transfer-Encoding").lower()
    payload = part.get_payload()
    if encoding not in ("base64", "quoted-printable") and isinstance(payload, list):
        blocks = [[(k, _unfold(v)) for k, v in block.items()] for block in payload
                  if isinstance(block, Message)]
        loose = [block.get_payload() for block in payload if isinstance(block, Message)
                 and isinstance(block.get_payload(), str) and block.get_payload().strip()]
        if any(blocks) and not loose:
            return [b for b in blocks if b]
    raw = _raw_report_text(part, encoding)
    return [b for b in (_fields(chunk) for chunk in re.split(r"\n[ \t]*\n", raw)) if b]


def _raw_report_text(part: Message, encoding: str) -> str:
    payload = part.get_payload()
    if isinstance(payload, list):  # the parser split it wrongly: put it back together
        text = "\n\n".join(
            "\n".join(f"{k}: {v}" for k, v in block.items())
            + ("\n" + block.get_payload() if isinstance(block.get_payload(), str) else "")
            for block in payload if isinstance(block, Message))
    else:
        text = str(payload)
    if encoding == "base64":
        try:
            return base64.b64decode("".join(text.split())).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return ""
    if encoding == "quoted-printable":
        return quopri.decodestring(text.encode("utf-8", "replace")).decode("utf-8", "replace")
    return text


def _fields(chunk: str) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    for line in chunk.replace("\r\n", "\n").split("\n"):
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + " " + line.strip())
            continue
        name, colon, value = line.partition(":")
        if colon and re.fullmatch(r"[A-Za-z0-9-]+", name.strip()):
            fields.append((name.strip(), value.strip()))
    return fields


def _field(fields: list[tuple[str, str]], name: str) -> str:
    return next((v for k, v in fields if k.lower() == name.lower()), "")


def _field_all(fields: list[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in fields if k.lower() == name.lower()]


def _unfold(value: object) -> str:
    return one_line(str(value))


def _header(msg: Message, name: str) -> str:
    return _unfold(msg.get(name, ""))


def _subject(msg: Message) -> str:
    raw = str(msg.get("Subject", ""))
    try:
        return str(make_header(decode_header(raw)))
    except (ValueError, LookupError, UnicodeError):
        return raw


def _message_id(msg: Message | None, name: str = "Message-ID") -> str:
    """The first ``<id>`` in the header ``name`` of ``msg``."""
    return _first_id(_header(msg, name)) if msg is not None else ""


def _first_id(text: str) -> str:
    found = re.search(r"<[^<>\s]+>", text)
    return found.group(0) if found else ""


def _in_reply_to(msg: Message) -> str:
    return _message_id(msg, "In-Reply-To")


def _addresses(values: list[Any]) -> tuple[str, ...]:
    found = []
    for value in values:
        for _name, address in getaddresses([str(value).replace("rfc822;", " ")]):
            if "@" in address and address not in found:
                found.append(address)
    return tuple(found)


def _outer_candidates(msg: Message) -> list[str]:
    names = ("X-Original-To", "Delivered-To", "Envelope-To", "To")
    return [str(value) for name in names for value in msg.get_all(name, [])]


def _verp(candidates: list[Any], prefix: str) -> str:
    for value in candidates:
        for _name, address in getaddresses([str(value).replace("rfc822;", " ")]):
            if address.lower().startswith(prefix) and "@" in address:
                return address
    return ""


def _text_of(msg: Message) -> str:
    """The first text/plain part's text (the notice), decoded; else the first text/html
    part's, with its tags dropped."""
    for wanted in ("text/plain", "text/html"):
        for part in _walk(msg):
            if part.get_content_type() == wanted and not part.is_multipart():
                text = _decoded(part)
                if wanted == "text/html":
                    text = re.sub(r"<[^>]+>", " ", text)
                return text.replace("\r\n", "\n")
    return ""


def _decoded(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return str(part.get_payload())
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, "replace")
    except LookupError:  # a charset Python does not know ("unicode-1-1-utf-7")
        return data.decode("utf-8", "replace")
