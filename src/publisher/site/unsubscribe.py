"""The one-click unsubscribe endpoint: a small WSGI application.

``<base_url>/unsubscribe?address=...&token=...`` is each subscriber's personal
link (built by :func:`publisher.deliver.tokens.unsubscribe_url`):

- ``POST`` (RFC 8058 one-click from the mail client, ``List-Unsubscribe=One-Click``,
  or the confirmation form below) with a valid token unsubscribes the address;
- ``GET`` with a valid token shows a confirmation form and changes nothing, so a
  link scanner that follows every URL in a message never unsubscribes anyone;
- a missing, forged or foreign token gets a clear page and changes nothing;
- a store kept busy by another process (a send, an import) beyond a few seconds
  gets a 503 "try again" page with ``Retry-After``, whose button repeats the request.

Served through :func:`publisher.site.app.site_application`, every response carries the
security headers of :mod:`publisher.site.security`.

No cookie, no login.  Each request takes a connection to the subscriber store: a new
one for SQLite (WAL mode), one from a pool for PostgreSQL
(:class:`publisher.deliver.db.Pool`), so the application runs under any threaded or
forking WSGI server, and on PostgreSQL in several processes on several hosts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from publisher.deliver import db as store_db
from publisher.deliver import subscribers, tokens
from publisher.errors import PublisherError
from publisher.model import Publication
from publisher.render.templates import environment
from publisher.site import security as websecurity
from publisher.site.body import read_body

log = logging.getLogger(__name__)

MAX_BODY = 4096


#: Seconds a POST waits for a busy store (another process writing) before a 503.
STORE_WAIT = 5.0
#: Seconds the client is then asked to wait before trying again.
RETRY_AFTER = 10


class UnsubscribeApp:
    """The endpoint.  ``store_wait``: how long a POST waits for a busy store (another
    process writing to it) before answering 503 with ``Retry-After``; the page asks
    to try again and its button repeats the request, which records the unsubscribe."""

    def __init__(self, db_path: store_db.Location | Path | str, publication: Publication,
                 secret: bytes, layouts: Path, *, store_wait: float | None = None):
        self.location = store_db.locate(db_path)
        self.publication = publication
        self.secret = secret
        self.store_wait = STORE_WAIT if store_wait is None else store_wait
        self.pool = store_db.Pool(self.location, timeout=self.store_wait)
        self.env = environment(layouts, "site", trim=False, trailing_newline=False)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD", "POST"):
            return self._page(start_response, "405 Method Not Allowed", "invalid",
                              [("Allow", "GET, HEAD, POST")])
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        address = (query.get("address") or [""])[0].strip()
        token = (query.get("token") or [""])[0].strip()
        if method == "POST":
            read_body(environ, MAX_BODY)  # "List-Unsubscribe=One-Click" or the form's button
        valid = bool(address and token) and tokens.verify(
            address, tokens.list_id(self.publication), token, self.secret)
        if valid:
            try:  # a token made for something that is not an address: refused alike
                subscribers.normalize_address(address)
            except ValueError:
                valid = False
        if not valid:
            log.info("unsubscribe: refused a request with an invalid token or address")
            return self._page(start_response, "400 Bad Request", "invalid")
        values = {"address": address, "action": f"?{environ.get('QUERY_STRING', '')}"}
        if method != "POST":
            return self._page(start_response, "200 OK", "confirm", **values)
        try:
            self._unsubscribe(address)
        except PublisherError as exc:  # said in one line, as the command line says it
            log.error("unsubscribe: %s", exc)
            return self._page(start_response, "503 Service Unavailable", "unavailable")
        except store_db.errors() as exc:  # busy beyond store_wait, a full disk...
            log.warning("unsubscribe: not recorded, the client is asked to try again: %s",
                        exc)
            return self._page(start_response, "503 Service Unavailable", "busy",
                              [("Retry-After", str(RETRY_AFTER))], **values)
        return self._page(start_response, "200 OK", "done", address=address)

    def _unsubscribe(self, address: str) -> None:
        """Record it; a busy store is waited for up to ``store_wait`` seconds."""
        with self.pool.connection() as db:
            subscribers.unsubscribe(db, address, how="unsubscribe")

    def _page(self, start_response: Any, status: str, state: str,
              headers: list[tuple[str, str]] | None = None, **values: str) -> list[bytes]:
        context = {"publication": self.publication, "state": state, "address": "",
                   "action": "", **values}
        body = self.env.get_template("unsubscribe.html").render(context).encode("utf-8")
        start_response(status, [("Content-Type", "text/html; charset=utf-8"),
                                ("Content-Length", str(len(body))),
                                ("Cache-Control", "no-store"),
                                ("X-Robots-Tag", "noindex"),
                                *websecurity.headers(websecurity.ENDPOINT_POLICY),
                                *(headers or [])])
        return [body]
