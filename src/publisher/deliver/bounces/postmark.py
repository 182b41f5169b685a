"""Postmark's bounce and spam-complaint webhooks (JSON), read into a :class:`Report`.

Postmark sends one JSON object per event: ``RecordType`` ``Bounce`` (with ``Type``,
such as ``HardBounce``, ``SoftBounce``, ``Transient``...) or ``SpamComplaint``, the
address in ``Email``, the server's words in ``Details`` and ``Description``, and
Postmark's own message id in ``MessageID`` (not the message's ``Message-ID``: such a
report is matched by its address, see :mod:`publisher.deliver.bounces.record`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from publisher.deliver.bounces.report import Kind, Report, one_line, status_in

#: Postmark's bounce types (its API's "bounce types" list) and what they mean here.
TYPES = {
    "HardBounce": Kind.HARD, "BadEmailAddress": Kind.HARD, "ManuallyDeactivated": Kind.HARD,
    "SoftBounce": Kind.SOFT, "Transient": Kind.SOFT, "DnsError": Kind.SOFT,
    "Blocked": Kind.SOFT, "DMARCPolicy": Kind.SOFT, "SpamNotification": Kind.SOFT,
    "SpamComplaint": Kind.COMPLAINT,
    "AutoResponder": Kind.AUTO_REPLY,
}


def from_postmark(payload: Mapping[str, Any]) -> Report:
    record_type = str(payload.get("RecordType") or "")
    email = str(payload.get("Email") or "").strip()
    recipients = (email,) if "@" in email else ()
    if record_type == "SpamComplaint":
        return Report(Kind.COMPLAINT, recipients=recipients, feedback_type="abuse",
                      shape="postmark")
    if record_type != "Bounce":
        return Report(Kind.UNKNOWN, shape="postmark")
    details = one_line(str(payload.get("Details") or payload.get("Description") or ""))
    kind = TYPES.get(str(payload.get("Type") or ""), Kind.UNKNOWN)
    return Report(kind, recipients=recipients, status=status_in(details),
                  diagnostic=details, shape="postmark")
