"""A request's body, read within bounds: what the endpoints and the webhooks share.

The body is read as long as ``Content-Length`` says, and never past a limit: a
longer one is cut there (the rest is left unread), a missing, malformed or negative
length reads nothing.  A slow client is waited for, in its own thread of the server,
until it has sent what it announced or closed the connection.
"""

from __future__ import annotations

from typing import Any


def content_length(environ: dict[str, Any]) -> int:
    """The length the request announces; 0 when it is missing, not a whole number, or
    negative."""
    try:
        return max(int(environ.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The body, cut at ``limit`` bytes; fewer when the client closed before sending
    all it announced."""
    length = min(content_length(environ), limit)
    return environ["wsgi.input"].read(length) if length > 0 else b""
