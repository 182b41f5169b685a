"""``email.eml``: the finished MIME message, built with the standard ``email`` package.

Structure: ``multipart/alternative`` holding the text part, then the HTML
part; with embedded images the HTML part is a ``multipart/related`` of the
HTML and its images (``cid:``), so a text-only reader never downloads them.

Both text parts are UTF-8 with ``Content-Transfer-Encoding: 8bit`` and short
lines (the text wrapped at 76 columns, the HTML folded at 78 where a line
break changes nothing): the serialized message holds every placeholder
literally and whole, where quoted-printable could split one across a soft
line break and base64 would hide it.  A line that cannot be broken and is
longer than the 998 octets 8bit allows (RFC 5322 2.1.1; an editor's 2 KB map
link, in the ``href`` and in the text's ``<URL>``) makes that part
quoted-printable instead, at most 76 characters a line (RFC 2045 6.7), soft
line breaks inside the long line: the decoded text is the same.  See
:mod:`publisher.render.email.placeholders` for what the sender fills in.

Everything is derived from the issue, so rebuilding gives the same
bytes: the Date is the issue's date, the Message-ID and the MIME boundaries
are digests of the content.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from publisher.model import Issue
from publisher.render.email import placeholders
from publisher.render.email.images import EncodedImage

#: RFC 5322 2.1.1 (and RFC 2045 for 8bit): a line holds at most 998 octets and its CRLF.
MAX_LINE_OCTETS = 998
#: RFC 2045 6.7: an encoded line of a quoted-printable body, soft line break included.
QP_LINE = 76
#: What the parts' bodies are encoded with: as the default policy, but quoted-printable
#: lines of RFC 2045's 76 characters (the default's 78 is its header width). Headers are
#: folded when the message is serialized, with the default policy.
_BODY_POLICY = policy.default.clone(max_line_length=QP_LINE)


def transfer_encoding(text: str) -> str:
    """``8bit`` when every line fits in it (placeholders stay whole and literal), else
    ``quoted-printable``."""
    longest = max((len(line.encode()) for line in text.splitlines()), default=0)
    return "8bit" if longest <= MAX_LINE_OCTETS else "quoted-printable"


def build_message(issue: Issue, subject: str, text: str, html: str,
                  embedded: Sequence[EncodedImage] = ()) -> bytes:
    """The serialized message (LF line ends; ``smtplib`` sends them as CRLF)."""
    pub = issue.publication
    digest = hashlib.sha256()
    for part in (subject, text, html):
        digest.update(part.encode() + b"\0")
    for image in embedded:
        digest.update(image.data)
    content_id = digest.hexdigest()
    domain = pub.sender_address.rpartition("@")[2] or "localhost"

    msg = EmailMessage(policy=_BODY_POLICY)
    msg["Subject"] = subject
    msg["From"] = Address(pub.sender_name, addr_spec=pub.sender_address)
    msg["To"] = placeholders.RECIPIENT_EMAIL
    msg["Date"] = format_datetime(dt.datetime.combine(issue.date, dt.time(0, 0), dt.UTC))
    msg["Message-ID"] = f"<{pub.file_stem}-{issue.month}.{content_id[:20]}@{domain}>"
    msg["List-Id"] = f"{pub.title} <{pub.file_stem}.{domain}>"
    msg["List-Unsubscribe"] = (f"<{placeholders.UNSUBSCRIBE_URL}>, "
                               f"<{placeholders.UNSUBSCRIBE_MAILTO}>")
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Content-Language"] = pub.language

    msg.set_content(text, subtype="plain", charset="utf-8", cte=transfer_encoding(text))
    msg.add_alternative(html, subtype="html", charset="utf-8", cte=transfer_encoding(html))
    if embedded:
        html_part = msg.get_payload()[1]  # type: ignore[index]
        for image in embedded:
            html_part.add_related(image.data, "image", image.subtype, cid=f"<{image.cid}>",
                                  disposition="inline", filename=image.name)
    # Deterministic boundaries; MIME-Version belongs on the top level only.
    for n, part in enumerate(msg.walk()):
        if part is not msg:
            del part["MIME-Version"]
        if part.is_multipart():
            part.set_boundary(f"=_{content_id[:24]}_{n}")
    return msg.as_bytes(policy=policy.default)
