"""Bounces and complaints: what comes back after a send, read into :class:`Report`\\ s.

:func:`parse` reads one message (from IMAP, a Maildir, an mbox or an SMTP listener
alike); :func:`from_ses` reads Amazon SES's JSON notification.
"""

from __future__ import annotations

from publisher.deliver.bounces.parse import from_ses, parse
from publisher.deliver.bounces.report import Kind, Report, classify

__all__ = ["Kind", "Report", "classify", "from_ses", "parse"]
