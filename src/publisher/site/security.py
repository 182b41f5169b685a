"""What every response of the site and the endpoint carries, and what none may show.

:class:`SecureHeaders` wraps a WSGI application: it adds the security headers
an application did not set itself, answers ``HEAD`` with the headers of ``GET``
and no body, and turns an exception into a plain 500 page (the traceback goes
to the server's log, never to the client).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

#: The site's HTML pages: their own images and stylesheets (the email's web version
#: keeps its inlined styles), no script, no plugin, never in a frame.
PAGE_POLICY = ("default-src 'none'; img-src 'self'; style-src 'self' 'unsafe-inline'; "
               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
#: The search page: Pagefind's script and its WebAssembly, from the site, reading the
#: index from the site; nothing else runs anywhere.
SEARCH_POLICY = ("default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                 "script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; base-uri 'none'; "
                 "form-action 'self'; frame-ancestors 'none'")
#: The endpoint's pages, which show an address from the request: its stylesheet only.
ENDPOINT_POLICY = ("default-src 'none'; img-src 'self'; style-src 'self'; base-uri 'none'; "
                   "form-action 'self'; frame-ancestors 'none'")
#: Downloads (PDF, EPUB, images, feed) and plain-text answers: nothing runs, nothing frames
#: them; a browser's own PDF viewer may still show a PDF.
FILE_POLICY = "default-src 'none'; object-src 'self'; frame-ancestors 'none'"



def headers(policy: str = FILE_POLICY) -> list[tuple[str, str]]:
    """The security headers, with ``policy`` as the Content-Security-Policy."""
    return [("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "no-referrer"),  # the unsubscribe URL carries a token
            ("Content-Security-Policy", policy)]


class SecureHeaders:
    """``app`` with the security headers on every response; HEAD without a body."""

    def __init__(self, app: WSGIApp):
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, given: list[tuple[str, str]], exc_info: Any = None) -> Any:
            present = {name.casefold() for name, _ in given}
            missing = [(name, value) for name, value in headers()
                       if name.casefold() not in present]
            return start_response(status, [*given, *missing], exc_info)

        try:
            body = self.app(environ, start)
            if environ.get("REQUEST_METHOD") != "HEAD":
                return body
            for _ in body:  # an application may start the response as it iterates
                pass
            close = getattr(body, "close", None)
            if close is not None:
                close()
            return [b""]
        except Exception:
            log.exception("%s %r failed", environ.get("REQUEST_METHOD"),
                          environ.get("PATH_INFO"))
            text = b"Internal error: it has been logged.\n"
            start("500 Internal Server Error", [("Content-Type", "text/plain; charset=utf-8"),
                                                ("Content-Length", str(len(text)))],
                  sys.exc_info())
            return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [text]
