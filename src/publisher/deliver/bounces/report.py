"""What a bounce or a complaint says, and how bad it is for the address.

:class:`Report` is what :func:`publisher.deliver.bounces.parse.parse` makes of a
message, whatever its shape; :func:`classify` turns a status code and the
server's words into a :class:`Kind`:

* **hard**: the address is gone: ``5.1.x`` (bad mailbox or domain, but not 5.1.7
  and 5.1.8, which are about the sender), ``5.2.1`` (mailbox disabled), ``5.4.4``
  (no route to the domain), or a generic permanent ``5.0.0`` whose text says the
  user is unknown or says nothing of a passing cause;
* **soft**: it may work later: every ``4.x.x``, a delay, a full mailbox (``5.2.2``,
  whatever its class), a message refused for its size, content or the sender's
  reputation (``5.7.x``, ``5.3.x``, ``5.6.x``...);
* **complaint**: a feedback report (ARF) of the kinds that mean "this is spam",
  or an unsubscribe request sent the same way (``opt-out``);
* **auto-reply**: a vacation or out-of-office answer (RFC 3834), no failure;
* **unknown**: anything else (a success notice, a DMARC failure report, a reply
  written by a person, a shape nobody knows).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Kind(enum.StrEnum):
    HARD = "hard"
    SOFT = "soft"
    COMPLAINT = "complaint"
    AUTO_REPLY = "auto-reply"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Report:
    """One bounce, complaint or auto-reply, as far as the message tells."""

    kind: Kind
    recipients: tuple[str, ...] = ()  # the addresses it is about, as the report gives them
    status: str = ""                  # the enhanced status code (RFC 3463), "5.1.1"
    diagnostic: str = ""              # the remote server's words, on one line
    action: str = ""                  # a DSN's Action: failed, delayed, delivered...
    verp: str = ""                    # the return path the report came back to, if VERP
    message_id: str = ""              # the Message-ID of the message it is about
    feedback_type: str = ""           # an ARF report's Feedback-Type (abuse, opt-out...)
    shape: str = ""                   # what read it: dsn, arf, exim, qmail, ses-json...


STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
_BASIC = re.compile(r"(?<![\d.])([45])\d\d(?=[\s-])")

_HARD = re.compile(
    r"user unknown|unknown user|unknown (recipient|address)|no such (user|mailbox|recipient|"
    r"address|account|domain)|(mailbox|address|recipient|user|account)\b[^.;]{0,40}?\b("
    r"does not exist|doesn'?t exist|not found|is unknown|invalid|is disabled|has been "
    r"disabled|deactivated|no longer (exists|active|available))|invalid (recipient|mailbox|"
    r"address)|recipient address rejected|recipientnotfound|not our customer|no mailbox here|"
    r"doesn'?t have an? \S+ account|address couldn'?t be found|does not exist|"
    r"unrouteable address|host or domain name not found|domain (name )?not found|"
    r"mailbox unavailable", re.IGNORECASE)
_SOFT = re.compile(
    r"mailbox (is )?full|over ?quota|quota (exceeded|full)|exceed(s|ed)? (the |their |his |"
    r"her )?(storage|quota|mailbox size)|insufficient (system )?storage|out of storage|"
    r"try (again )?later|temporar(y|ily)|rate limit|too many|greylist|spam|blocked|"
    r"block ?list|black ?list|listed (at|on|in|by)|reputation|policy|message (is )?too "
    r"(large|big)|size limit|not accepting (mail|messages)|delayed|will be retried",
    re.IGNORECASE)


def status_in(text: str) -> str:
    """The first enhanced status code in ``text``; else the class of a basic SMTP reply
    code (``550`` -> ``5.0.0``); else ""."""
    found = STATUS.search(text)
    if found:
        return ".".join(found.groups())
    basic = _BASIC.search(text + " ")
    return f"{basic.group(1)}.0.0" if basic else ""


def classify(status: str, diagnostic: str = "", action: str = "failed") -> Kind:
    """How bad a failure is for the address (see the module's docstring)."""
    action = action.lower()
    if action in ("delivered", "relayed", "expanded"):
        return Kind.UNKNOWN
    if action == "delayed":
        return Kind.SOFT
    found = STATUS.fullmatch(status.strip()) if status else None
    if not found:
        if _HARD.search(diagnostic):
            return Kind.HARD
        return Kind.SOFT if _SOFT.search(diagnostic) else Kind.UNKNOWN
    klass, subject, detail = found.groups()
    if klass == "2":
        return Kind.UNKNOWN
    if klass == "4" or (subject, detail) == ("2", "2"):
        return Kind.SOFT
    if subject == "1" and detail not in ("7", "8"):
        return Kind.HARD
    if (subject, detail) in (("2", "1"), ("4", "4")):
        return Kind.HARD
    if subject == "0":  # "permanent failure", nothing more: the words decide
        if _HARD.search(diagnostic):
            return Kind.HARD
        return Kind.SOFT if _SOFT.search(diagnostic) else Kind.HARD
    return Kind.SOFT


def one_line(text: str) -> str:
    """Folded or multi-line text as one line, spaces squeezed."""
    return " ".join(text.split())
