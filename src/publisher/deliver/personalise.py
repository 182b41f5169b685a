"""Fill the per-subscriber placeholders into the finished ``email.eml``.

The message is parsed once per issue into a :class:`Template`: the bytes that
are the same for everyone (every header without a placeholder, every image,
every MIME boundary) are serialized once, and only the text parts and headers
that hold a placeholder are kept as decoded text, split at the placeholders.
For each subscriber :meth:`Template.render` joins the pieces with that
subscriber's values and re-encodes just those parts (quoted-printable or base64,
C-coded in :mod:`binascii`): no re-rendering, no re-inlining, no re-parsing.
For a signed send, :meth:`Template.render_signable` gives the same message in
the pieces a DKIM signer wants (:class:`Rendered`): what is the template's own,
the same bytes object for every recipient, is told apart from what was written
for this one, so that the signer canonicalizes the shared pieces once per
mailing, and the message dot-stuffed for SMTP comes out of the same pass.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, formataddr, parseaddr, quote
from pathlib import Path

from publisher.errors import PublisherError
from publisher.render.email import placeholders


def now_date() -> str:
    """The Date header for a message sent now: ``Mon, 30 Nov 2026 10:24:22 +0000``.

    ``+0000``, not ``GMT`` (``formatdate(usegmt=True)``): RFC 5322 keeps the
    named zones only as obsolete syntax that a sender must not generate (4.3)."""
    return format_datetime(datetime.now(UTC))


#: What stands for the name in a greeting when a subscriber gave none.
GENERIC_NAME = "reader"
#: Headers the sender writes itself (whatever the template has): To and Message-ID for
#: each subscriber; Date when the send starts (an issue's date weeks old is a spam sign).
PERSONAL_HEADERS = ("to", "message-id", "date")
_SPLIT = re.compile("(" + "|".join(re.escape(p) for p in placeholders.ALL) + ")")
_CRLF = b"\r\n"
_LEADING_DOT = re.compile(rb"(?m)^\.")


def dot_stuff(data: bytes) -> bytes:
    """SMTP transparency (RFC 5321 4.5.2): double a dot that starts a line."""
    return _LEADING_DOT.sub(b"..", data)


def _stuffed(line: bytes) -> bytes:
    """:func:`dot_stuff` of a few encoded lines, skipping the regex when no line starts
    with a dot (nearly always)."""
    return dot_stuff(line) if line[:1] == b"." or b"\n." in line else line


#: What a piece of a :class:`Rendered` body is, for the signer: the template's own bytes
#: (the same object for every recipient), text written for this recipient, or base64
#: (letters, digits, ``+/=`` and line ends only: nothing to canonicalize).
SHARED, PERSONAL, BASE64 = 0, 1, 2


@dataclass(frozen=True)
class Rendered:
    """One recipient's message, in the pieces a DKIM signer wants, and dot-stuffed.

    ``personal`` is the header lines written for this recipient and ``head`` the
    template's own header lines after them (each line with its CRLF; the blank line
    that ends the header is in neither); ``body`` is the body after that blank line
    as (piece, kind) pairs, each piece whole lines, with its CRLF (:data:`SHARED`,
    :data:`PERSONAL` or :data:`BASE64`); ``wire`` is the whole message with the
    leading dots of lines doubled, as SMTP ``DATA`` sends it.
    """

    personal: bytes
    head: bytes
    body: tuple[tuple[bytes, int], ...]
    wire: bytes

    @property
    def message(self) -> bytes:
        """The message itself: what :meth:`Template.render` gives."""
        return b"".join((self.personal, self.head, _CRLF, *(p for p, _ in self.body)))


@dataclass(frozen=True)
class Recipient:
    """One subscriber's values for the placeholders."""

    email: str
    name: str
    unsubscribe_url: str
    unsubscribe_mailto: str
    message_id: str
    preferences_url: str = ""

    def values(self, *, for_html: bool) -> dict[str, str]:
        found = {
            placeholders.RECIPIENT_NAME: self.name or GENERIC_NAME,
            placeholders.RECIPIENT_EMAIL: self.email,
            placeholders.UNSUBSCRIBE_URL: self.unsubscribe_url,
            placeholders.UNSUBSCRIBE_MAILTO: self.unsubscribe_mailto,
            placeholders.PREFERENCES_URL: self.preferences_url or self.unsubscribe_url,
        }
        if for_html:
            return {key: html.escape(value, quote=True) for key, value in found.items()}
        return found


@dataclass(frozen=True)
class _Piece:
    """Decoded text split at placeholders: even items literal, odd items placeholders."""

    pieces: tuple[str, ...]
    html: bool

    def fill(self, values: Mapping[str, str]) -> str:
        parts = list(self.pieces)
        for i in range(1, len(parts), 2):
            parts[i] = values[parts[i]]
        return "".join(parts)


class _QuotedPrintablePart:
    """A quoted-printable text part with placeholders.

    Quoted-printable encodes each line on its own, so the runs of lines without a
    placeholder are encoded once, and only the lines with one for each recipient.
    """

    def __init__(self, text: str, *, html: bool):
        self.html = html
        self.items: list[bytes | _Piece] = []  # encoded bytes, or lines to fill and encode
        text = text.replace("\r\n", "\n")
        static: list[str] = []
        for line in text.splitlines(keepends=True):
            if _SPLIT.search(line):
                if static:
                    self.items.append(_encode("".join(static).encode("utf-8"), base64_=False))
                    static = []
                self.items.append(_split(line, html=html))
            else:
                static.append(line)
        if static:
            self.items.append(_encode("".join(static).encode("utf-8"), base64_=False))
        # the same, dot-stuffed for SMTP
        self.wire_items = [dot_stuff(i) if isinstance(i, bytes) else i for i in self.items]

    def encode_pieces(self, values: Mapping[str, str]) -> Iterator[tuple[bytes, bytes, int]]:
        """(piece, dot-stuffed piece, kind) of the part's body for these values: the
        runs of lines without a placeholder as they were encoded once (:data:`SHARED`),
        each line with one encoded now (:data:`PERSONAL`)."""
        for item, wire in zip(self.items, self.wire_items, strict=True):
            if isinstance(item, bytes):
                assert isinstance(wire, bytes)
                yield item, wire, SHARED
            else:
                encoded = _encode(item.fill(values).encode("utf-8"), base64_=False)
                yield encoded, _stuffed(encoded), PERSONAL

    def pieces(self) -> Iterator[_Piece]:
        return (item for item in self.items if isinstance(item, _Piece))

    def encode(self, values: Mapping[str, str], *, wire: bool = False) -> bytes:
        """The part's body for these values; ``wire``: dot-stuffed for SMTP ``DATA``."""
        out = []
        for item in self.wire_items if wire else self.items:
            if isinstance(item, bytes):
                out.append(item)
            else:
                encoded = _encode(item.fill(values).encode("utf-8"), base64_=False)
                out.append(dot_stuff(encoded) if wire else encoded)
        return b"".join(out)


class _Base64Part:
    """A base64 text part with placeholders.

    Base64 turns each group of 3 bytes into 4 characters on its own, and a line of
    the encoding may be shorter than 76 characters; so each literal run of text is
    encoded once for each of the 3 ways it can start within a group (after 0, 1 or 2
    bytes left over from the value before it), and only those few bytes and the
    values are encoded for each recipient.
    """

    def __init__(self, text: str, *, html: bool):
        self.html = html
        self.text = _split(text, html=html)
        self.literals: list[tuple[tuple[bytes, bytes, bytes], ...]] = []
        for literal in self.text.pieces[::2]:
            data = literal.encode("utf-8")
            variants = []
            for carried in range(3):
                need = (3 - carried) % 3
                if len(data) <= need:
                    variants.append((data, b"", b""))
                    continue
                whole = (len(data) - need) // 3 * 3
                variants.append((data[:need], _encode(data[need:need + whole], base64_=True),
                                 data[need + whole:]))
            self.literals.append(tuple(variants))

    def pieces(self) -> Iterator[_Piece]:
        yield self.text

    def encode(self, values: Mapping[str, str], *, wire: bool = False) -> bytes:
        """The part's body for these values (base64 lines never start with a dot)."""
        out: list[bytes] = []
        carry = b""
        names = self.text.pieces
        for i, variants in enumerate(self.literals):
            if i:  # the value before this literal
                data = carry + values[names[2 * i - 1]].encode("utf-8")
                whole = len(data) // 3 * 3
                if whole:
                    out.append(_encode(data[:whole], base64_=True))
                carry = data[whole:]
            head, encoded, tail = variants[len(carry)]
            carry += head
            if len(carry) == 3:
                out.append(_encode(carry, base64_=True))
                carry = b""
            out.append(encoded)  # non-empty only when carry is empty here
            carry += tail
        if carry:
            out.append(_encode(carry, base64_=True))
        return b"".join(out)

    def encode_pieces(self, values: Mapping[str, str]) -> Iterator[tuple[bytes, bytes, int]]:
        """The part's body as one :data:`BASE64` piece (no base64 line starts with a dot)."""
        encoded = self.encode(values)
        yield encoded, encoded, BASE64


@dataclass(frozen=True)
class _Header:
    name: str
    text: _Piece


class Template:
    """A finished message, ready to be personalised many times over."""

    def __init__(self, data: bytes, source: Path | None = None):
        msg = BytesParser(policy=policy.default).parsebytes(data)
        if msg.defects or not msg.get("From") or not msg.get("Subject"):
            raise PublisherError("not a finished email message (no From or Subject, or "
                                 "malformed MIME)", source)
        assert isinstance(msg, EmailMessage)
        self.source = source
        self.sender = parseaddr(str(msg["From"]))[1]
        #: The Date header sent: the built one unless the sender sets the time it sends.
        self.date = str(msg.get("Date", "")) or now_date()
        self.headers: list[_Header] = []
        for name, value in list(msg.items()):
            if name.lower() in PERSONAL_HEADERS:
                continue
            if _SPLIT.search(str(value)):
                self.headers.append(_Header(name, _split(str(value), html=False)))
        for name in {h.name for h in self.headers} | set(PERSONAL_HEADERS):
            del msg[name]
        self.parts: list[_QuotedPrintablePart | _Base64Part] = []
        markers: list[bytes] = []
        for part in msg.walk():
            if part.is_multipart() or part.get_content_maintype() != "text":
                continue
            text = part.get_content()
            if not _SPLIT.search(text):
                continue
            cte = part.get("Content-Transfer-Encoding", "7bit").lower()
            if cte != "base64":
                cte = "quoted-printable"
                del part["Content-Transfer-Encoding"]
                part["Content-Transfer-Encoding"] = cte
            part.set_param("charset", "utf-8")
            marker = f"@@publisher-part-{secrets.token_hex(12)}@@"
            part.set_payload(marker)
            markers.append(marker.encode("ascii"))
            kind = _Base64Part if cte == "base64" else _QuotedPrintablePart
            self.parts.append(kind(text, html=part.get_content_subtype() == "html"))
        whole = msg.as_bytes(policy=policy.SMTP)
        self.chunks: list[bytes] = []
        for marker in markers:
            before, found, whole = whole.partition(marker)
            assert found, "a placeholder part went missing in serialization"
            self.chunks.append(before)
        self.chunks.append(whole)
        if not any(placeholders.UNSUBSCRIBE_URL in "".join(p.pieces) for p in self._pieces()):
            raise PublisherError("the email has no personal unsubscribe link "
                                 f"({placeholders.UNSUBSCRIBE_URL}) in its body", source)
        if not any(h.name.lower() == "list-unsubscribe" for h in self.headers):
            raise PublisherError("the email has no personal List-Unsubscribe header", source)
        self.wire_chunks = [dot_stuff(chunk) for chunk in self.chunks]
        self.eight_bit = not all(chunk.isascii() for chunk in self.chunks)
        # the template's own header lines, and the start of its body (after the blank line)
        first = self.chunks[0]
        end = 0 if first.startswith(_CRLF) else first.find(b"\r\n\r\n") + 2
        assert end >= 0 and first.startswith(_CRLF, end), "the message has no body"
        self.head, self.body_start = first[:end], first[end + 2:]
        self.wire_head, self.wire_body_start = dot_stuff(self.head), dot_stuff(self.body_start)

    def _pieces(self) -> Iterator[_Piece]:
        for part in self.parts:
            yield from part.pieces()

    def _personal_headers(self, recipient: Recipient, plain: Mapping[str, str]) -> bytes:
        lines = [
            _to_header(recipient.name, recipient.email),
            _fold("Message-ID", recipient.message_id),
            _fold("Date", self.date),
        ]
        for header in self.headers:
            lines.append(_fold(header.name, header.text.fill(plain)))
        return b"".join(lines)

    def render(self, recipient: Recipient, *, wire: bool = False) -> bytes:
        """The complete message for one recipient, with CRLF line ends; ``wire``: with
        the leading dots of lines doubled, as SMTP ``DATA`` sends it."""
        plain = recipient.values(for_html=False)
        out = [self._personal_headers(recipient, plain)]
        html_values = recipient.values(for_html=True)
        chunks = self.wire_chunks if wire else self.chunks
        for chunk, part in zip(chunks, self.parts, strict=False):
            out.append(chunk)
            out.append(part.encode(html_values if part.html else plain, wire=wire))
        out.append(chunks[-1])
        return b"".join(out)

    def render_signable(self, recipient: Recipient) -> Rendered:
        """The message for one recipient in the pieces a signer wants, and dot-stuffed:
        one pass for both (:class:`Rendered`)."""
        plain = recipient.values(for_html=False)
        html_values = recipient.values(for_html=True)
        personal = self._personal_headers(recipient, plain)  # no header line starts with .
        body: list[tuple[bytes, int]] = [(self.body_start, SHARED)]
        wire = [personal, self.wire_head, _CRLF, self.wire_body_start]
        for i, part in enumerate(self.parts):
            if i:
                body.append((self.chunks[i], SHARED))
                wire.append(self.wire_chunks[i])
            for piece, stuffed, kind in part.encode_pieces(
                    html_values if part.html else plain):
                body.append((piece, kind))
                wire.append(stuffed)
        if len(self.chunks) > 1:
            body.append((self.chunks[-1], SHARED))
            wire.append(self.wire_chunks[-1])
        return Rendered(personal, self.head, tuple(body), b"".join(wire))


def _split(text: str, *, html: bool) -> _Piece:
    return _Piece(tuple(_SPLIT.split(text)), html)


def _encode(data: bytes, *, base64_: bool) -> bytes:
    if base64_:
        encoded = base64.encodebytes(data)
    else:
        encoded = binascii.b2a_qp(data, istext=True)
        if encoded and not encoded.endswith(b"\n"):
            encoded += b"=\n"  # a soft line break: the text ends without a newline
    return encoded.replace(b"\n", _CRLF)


def _to_header(name: str, address: str) -> bytes:
    """The To header; for an address with a non-ASCII local part, in UTF-8 (RFC 6532):
    such a message goes out with SMTPUTF8, and an encoded word may not hold an address."""
    if address.isascii():
        return _fold("To", formataddr((name, address), charset="utf-8"))
    value = f'"{quote(name)}" <{address}>' if name else address
    return f"To: {value}".encode() + _CRLF


def _fold(name: str, value: str) -> bytes:
    """One header line, folded at spaces; non-ASCII text RFC 2047-encoded by the policy."""
    if not value.isascii():
        return policy.SMTP.fold_binary(name, value)
    words = value.strip().split(" ")
    lines, line = [], f"{name}:"
    for word in words:
        if len(line) + 1 + len(word) > 78 and line != f"{name}:":
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    return "\r\n".join(lines).encode("ascii") + _CRLF


def message_id(issue: str, address_key: str, list_name: str, domain: str) -> str:
    """A Message-ID that is the same every time for one (issue, subscriber)."""
    digest = hashlib.sha256(f"{list_name}\n{issue}\n{address_key}".encode()).hexdigest()
    return f"<{issue}.{digest[:24]}@{domain}>"


def load(path: Path) -> Template:
    """The template of a built ``email.eml``; a clear error when missing or unusable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PublisherError("not built yet: run 'publisher build MONTH' first", path) from None
    except OSError as exc:
        raise PublisherError(f"cannot read: {exc.strerror}", path) from None
    return Template(data, path)
