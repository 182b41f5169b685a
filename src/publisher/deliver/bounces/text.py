"""Bounces written for people only: no RFC 3464 report, just text.

Each reader knows one family by its fixed sentences, and picks out the failed
addresses, the server's reply and whether the failure is final:

* ``exim``: "This message was created automatically by mail delivery software"
  (and its 24-hour delay warning);
* ``qmail``: "Hi. This is the qmail-send program"; ``yahoo``: Yahoo's "Failure
  Notice", the same layout (``<address>:`` then the reply);
* ``postfix``: "This is the mail system at host", from a Postfix too old or set
  up to send no report (``<address>: host ... said: ...``);
* ``gmail``: "Delivery to the following recipient failed permanently" (and "has
  been delayed"), Google's notices before they carried reports;
* ``exchange``: "Delivery has failed to these recipients or groups", Office 365
  and Exchange notices whose report part is missing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from publisher.deliver.bounces.report import one_line, status_in

_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
#: Where the copy of the returned message starts, in the texts that include it.
COPY_MARKERS = (
    "------ This is a copy of the message, including all the headers. ------",
    "------ This is a copy of the message's headers. ------",
    "--- Below this line is a copy of the message.",
    "----- Original message -----",
    "Original message headers:",
)


@dataclass(frozen=True)
class TextBounce:
    shape: str
    recipients: tuple[str, ...]
    diagnostic: str
    status: str
    delayed: bool = False


def split_copy(text: str) -> tuple[str, str]:
    """(the notice, the copy of the returned message after it, or "")."""
    cut = [(text.find(marker), marker) for marker in COPY_MARKERS if marker in text]
    if not cut:
        return text, ""
    at, marker = min(cut)
    return text[:at], text[at + len(marker):]


def read(text: str) -> TextBounce | None:
    """The first reader that knows ``text`` (the notice, without the copy); None when
    none does."""
    for reader in READERS:
        found = reader(text)
        if found is not None and found.recipients:
            return found
    return None


def _exim(text: str) -> TextBounce | None:
    if "created automatically by mail delivery software" not in text:
        return None
    delayed = "has not yet been delivered" in text
    heading = re.search(r"(?:address\(es\) failed|has not yet been delivered is|addresses to "
                        r"which the message has not yet been delivered are):\s*\n", text)
    if heading is None:
        return None
    recipients, details = [], []
    for line in text[heading.end():].splitlines():
        if not line.strip():
            if recipients and details:
                break
            continue
        if re.match(r"  \S", line) and _ADDRESS.fullmatch(line.strip()):
            recipients.append(line.strip())
        elif line.startswith("    ") and recipients:
            details.append(line.strip())
        elif recipients:
            break
    diagnostic = one_line(" ".join(details))
    return TextBounce("exim", tuple(recipients), diagnostic, status_in(diagnostic), delayed)


def _qmail(text: str) -> TextBounce | None:
    if "This is the qmail-send program" in text:
        shape = "qmail"
    elif "unable to deliver your message to the following address" in text:
        shape = "yahoo"
    else:
        return None
    recipients, diagnostics = [], []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        found = re.fullmatch(r"<([^<>\s]+@[^<>\s]+)>:\s*", line)
        if not found:
            continue
        recipients.append(found.group(1))
        reply = []
        for follow in lines[i + 1:]:
            if not follow.strip() or follow.startswith("<"):
                break
            reply.append(follow)
        diagnostics.append(one_line(" ".join(reply)))
    diagnostic = diagnostics[0] if diagnostics else ""
    qmail_code = re.search(r"\(#([245]\.\d{1,3}\.\d{1,3})\)", diagnostic)
    status = qmail_code.group(1) if qmail_code else status_in(diagnostic)
    if not status and "This is a permanent error" in text:
        status = "5.0.0"
    return TextBounce(shape, tuple(recipients), diagnostic, status)


def _postfix(text: str) -> TextBounce | None:
    if "This is the mail system at host" not in text:
        return None
    delayed = "THIS IS A WARNING ONLY" in text
    entries: list[str] = []
    for line in text.splitlines():
        if line.startswith("<"):
            entries.append(line)
        elif line[:1] in (" ", "\t") and entries and line.strip():
            entries[-1] += " " + line.strip()
        elif entries and not line.strip():
            entries.append("")  # an entry ends at a blank line
    recipients, diagnostics = [], []
    for entry in filter(None, entries):
        found = re.match(r"<([^<>\s]+@[^<>\s]+)>(?:\s*\(expanded from\s*<([^<>\s]+)>\))?:\s*"
                         r"(.*)", entry)
        if found:
            recipients.append(found.group(2) or found.group(1))
            diagnostics.append(one_line(found.group(3)))
    diagnostic = diagnostics[0] if diagnostics else ""
    return TextBounce("postfix", tuple(recipients), diagnostic, status_in(diagnostic), delayed)


def _gmail(text: str) -> TextBounce | None:
    heading = re.search(r"Delivery to the following recipients? (failed permanently|"
                        r"has been delayed|failed temporarily):\s*\n", text)
    if heading is None:
        return None
    recipients = []
    for line in text[heading.end():].splitlines():
        if not line.strip():
            if recipients:
                break
            continue
        if _ADDRESS.fullmatch(line.strip()):
            recipients.append(line.strip())
        else:
            break
    reply = re.search(r"The error that the other server returned was:\s*\n(.*?)(?:\n\s*\n|$)",
                      text, re.DOTALL)
    details = re.search(r"Technical details of \w+ failure:\s*(.*?)(?:\n\s*\n|$)", text,
                        re.DOTALL)
    diagnostic = one_line((reply or details).group(1)) if (reply or details) else ""
    status = status_in(diagnostic)
    if heading.group(1) == "failed permanently" and not status.startswith("5"):
        status = "5.0.0"
    delayed = heading.group(1) != "failed permanently"
    return TextBounce("gmail", tuple(recipients), diagnostic, status, delayed)


def _exchange(text: str) -> TextBounce | None:
    heading = re.search(r"Delivery has failed to these recipients or groups:\s*\n", text)
    if heading is None:
        return None
    recipients: list[str] = []
    for line in text[heading.end():].splitlines():
        if not line.strip():
            if recipients:
                break
            continue
        found = _ADDRESS.search(line)
        if not found:
            break
        if found.group(0) not in recipients:
            recipients.append(found.group(0))
    returned = re.search(r"Remote [Ss]erver returned '([^']*)'", text)
    if returned is None:
        returned = re.search(r"Remote [Ss]erver returned (.*)", text)
    diagnostic = one_line(returned.group(1)) if returned else ""
    return TextBounce("exchange", tuple(recipients), diagnostic, status_in(diagnostic))


READERS: tuple[Callable[[str], TextBounce | None], ...] = (
    _exim, _qmail, _postfix, _gmail, _exchange)
