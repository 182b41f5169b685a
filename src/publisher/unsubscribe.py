"""The one-click unsubscribe endpoint: a small WSGI application.

``<base_url>/unsubscribe?address=...&token=...`` is each subscriber's personal
link (built by :func:`publisher.tokens.unsubscribe_url`):

- ``POST`` (RFC 8058 one-click from the mail client, ``List-Unsubscribe=One-Click``,
  or the confirmation form below) with a valid token unsubscribes the address;
- ``GET`` with a valid token shows a confirmation form and changes nothing, so a
  link scanner that follows every URL in a message never unsubscribes anyone;
- a missing, forged or foreign token gets a clear page and changes nothing.

No cookie, no login.  Each request opens its own connection to the subscriber
store (SQLite in WAL mode), so it runs under any threaded or forking WSGI server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jinja2

from publisher import subscribers, tokens
from publisher.errors import PublisherError
from publisher.model import Publication

log = logging.getLogger(__name__)

MAX_BODY = 4096


class UnsubscribeApp:
    def __init__(self, db_path: Path, publication: Publication, secret: bytes, layouts: Path):
        self.db_path = db_path
        self.publication = publication
        self.secret = secret
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(layouts / "site"),
                                      autoescape=True, undefined=jinja2.StrictUndefined)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD", "POST"):
            return self._page(start_response, "405 Method Not Allowed", "invalid",
                              [("Allow", "GET, POST")])
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        address = (query.get("address") or [""])[0].strip()
        token = (query.get("token") or [""])[0].strip()
        if method == "POST":
            self._read_body(environ)  # "List-Unsubscribe=One-Click" or the form's button
        valid = bool(address and token) and tokens.verify(
            address, tokens.list_id(self.publication), token, self.secret)
        if not valid:
            log.info("unsubscribe: refused a request with an invalid token")
            return self._page(start_response, "400 Bad Request", "invalid")
        if method != "POST":
            return self._page(start_response, "200 OK", "confirm", address=address,
                              action=f"?{environ.get('QUERY_STRING', '')}")
        try:
            db = subscribers.connect(self.db_path)
        except PublisherError:
            log.exception("unsubscribe: the subscriber store cannot be opened")
            return self._page(start_response, "503 Service Unavailable", "unavailable")
        try:
            subscribers.unsubscribe(db, address)
        finally:
            db.close()
        return self._page(start_response, "200 OK", "done", address=address)

    @staticmethod
    def _read_body(environ: dict[str, Any]) -> bytes:
        try:
            length = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_BODY)
        except ValueError:
            length = 0
        return environ["wsgi.input"].read(length) if length > 0 else b""

    def _page(self, start_response: Any, status: str, state: str,
              headers: list[tuple[str, str]] | None = None, **values: str) -> list[bytes]:
        context = {"publication": self.publication, "state": state, "address": "",
                   "action": "", **values}
        body = self.env.get_template("unsubscribe.html").render(context).encode("utf-8")
        start_response(status, [("Content-Type", "text/html; charset=utf-8"),
                                ("Content-Length", str(len(body))),
                                ("Cache-Control", "no-store"),
                                ("X-Robots-Tag", "noindex"),
                                ("Referrer-Policy", "no-referrer"), *(headers or [])])
        return [body]
