"""``publisher serve``: the site and the unsubscribe endpoint, for previewing.

Both are plain WSGI applications, so they run under any WSGI server in
production; :func:`serve` runs them on 127.0.0.1 with the standard library's
server (threaded) for an editor's preview and for the tests.
"""

from __future__ import annotations

import errno
import logging
import mimetypes
import socketserver
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from publisher.build.builder import Paths
from publisher.errors import PublisherError
from publisher.site.security import FILE_POLICY, PAGE_POLICY, SEARCH_POLICY, SecureHeaders

if TYPE_CHECKING:
    from publisher.deliver.db import Pool

log = logging.getLogger(__name__)
progress = logging.getLogger("publisher.progress")

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

TYPES = {".epub": "application/epub+zip", ".pdf": "application/pdf",
         ".xml": "application/atom+xml", ".html": "text/html; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".txt": "text/plain; charset=utf-8",
         ".js": "text/javascript; charset=utf-8", ".wasm": "application/wasm",
         "sitemap.xml": "application/xml"}
#: The search page (Pagefind's interface): the one page whose scripts run.
SEARCH_PAGE = ("search", "index.html")
SEARCH_BUNDLE = "pagefind"  # publisher.site.search.BUNDLE


#: A longer path names no file of the site (a name is at most 255 bytes).
MAX_PATH = 1024


class StaticFiles:
    """Serves the files below ``root``; nothing outside it, no directory listings.

    A path that cannot name a file (a NUL or other control character, bytes that are
    not UTF-8) is a 400; one that names nothing here (``..``, too long) a 404.
    """

    def __init__(self, root: Path):
        self.root = root.resolve()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _plain(start_response, "405 Method Not Allowed", "Method not allowed",
                          [("Allow", "GET, HEAD")])
        try:
            path = _request_path(environ.get("PATH_INFO", "/"))
        except ValueError:
            return _plain(start_response, "400 Bad Request", "Bad request")
        target = self._find(path)
        try:
            data = target.read_bytes() if target is not None else None
        except OSError:
            data = None
        if target is None or data is None:
            return _plain(start_response, "404 Not Found", "Not found")
        media_type = (TYPES.get(target.name) or TYPES.get(target.suffix)
                      or mimetypes.guess_type(target.name)[0])
        policy = PAGE_POLICY if target.suffix == ".html" else FILE_POLICY
        if (target.parts[-2:] == SEARCH_PAGE and target.parent.parent == self.root) or (
                target.suffix == ".js" and target.parent == self.root / SEARCH_BUNDLE):
            policy = SEARCH_POLICY  # a worker's own policy is that of its script
        start_response("200 OK", [("Content-Type", media_type or "application/octet-stream"),
                                  ("Content-Length", str(len(data))),
                                  ("Content-Security-Policy", policy)])
        return [data]

    def _find(self, path: str) -> Path | None:
        parts = [part for part in path.split("/") if part not in ("", ".")]
        if ".." in parts or len(path) > MAX_PATH:
            return None
        try:
            target = self.root.joinpath(*parts).resolve()
            if not target.is_relative_to(self.root):  # a symbolic link out of the site
                return None
            if target.is_dir():
                target = target / "index.html"
            elif path.endswith("/"):  # a file asked for as a folder
                return None
            return target if target.is_file() else None
        except OSError:  # a name too long for the file system, and the like
            return None


def _request_path(path_info: str) -> str:
    """PATH_INFO (bytes as Latin-1, PEP 3333) as text; ``ValueError`` when it cannot be a
    file's path."""
    path = path_info.encode("latin-1").decode("utf-8")  # UnicodeError is a ValueError
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in path):
        raise ValueError("a control character in the path")
    return path


def _plain(start_response: StartResponse, status: str, text: str,
           headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    body = f"{text}\n".encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(body))), *(headers or [])])
    return [body]


class Router:
    """Sends ``prefix`` paths to their application, everything else to ``default``."""

    def __init__(self, default: WSGIApp, routes: dict[str, WSGIApp] | None = None):
        self.default = default
        self.routes = routes or {}

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        for prefix, app in self.routes.items():
            if path == prefix or path.startswith(prefix + "/"):
                return app(environ, start_response)
        return self.default(environ, start_response)


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 256


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


def site_application(paths: Paths, db: Path | str, environ: Mapping[str, str], *,
                     store_wait: float | None = None,
                     fetch: Callable[[str], bytes] | None = None) -> WSGIApp:
    """``dist/site/`` with the unsubscribe endpoint at ``/unsubscribe`` and the bounce
    webhooks the settings ask for (:mod:`publisher.site.webhooks`).

    The endpoint and the webhooks need the token secret (``PUBLISHER_SECRET``);
    without it the site is served alone, with a warning, so a preview never needs
    the secret. Every response carries the security headers
    (:mod:`publisher.site.security`). ``store_wait``: how long the endpoint waits for
    a busy store before a 503 (default :data:`publisher.site.unsubscribe.STORE_WAIT`);
    ``fetch``: how the SES webhook fetches SNS's certificates (default: HTTPS).
    """
    from publisher.deliver.tokens import SECRET_ENV, secret_from_env
    from publisher.diagnostics import Diagnostics
    from publisher.source.config import load_publication

    site = paths.dist / "site"
    if not (site / "index.html").is_file():
        raise PublisherError(f"{site}/ has no index.html: run 'publisher site' first")
    routes: dict[str, WSGIApp] = {}
    if environ.get(SECRET_ENV):
        from publisher.site.signup import signup_routes
        from publisher.site.unsubscribe import UnsubscribeApp

        diag = Diagnostics()
        publication = load_publication(paths.issues, diag)
        diag.raise_if_errors()
        assert publication is not None
        secret = secret_from_env(dict(environ))
        unsubscribe = UnsubscribeApp(db, publication, secret, paths.layouts,
                                     store_wait=store_wait)
        routes["/unsubscribe"] = unsubscribe
        routes.update(signup_routes(db, publication, secret, paths.layouts, environ,
                                    store_wait=store_wait))
        routes.update(_webhooks(unsubscribe.pool, secret, environ, fetch))
    else:
        log.warning("%s is not set: serving the site without the unsubscribe endpoint",
                    SECRET_ENV)
    return SecureHeaders(Router(StaticFiles(site), routes))


def _webhooks(pool: Pool, secret: bytes, environ: Mapping[str, str],
              fetch: Callable[[str], bytes] | None) -> dict[str, WSGIApp]:
    """The webhooks the settings ask for; each report is recorded through a connection of
    ``pool`` (the unsubscribe endpoint's: one per request, so a busy store waits as long
    as the endpoint does)."""
    from publisher.deliver.bounces import record
    from publisher.deliver.bounces.intake import Intake
    from publisher.site import webhooks

    rules = record.Rules.from_env(environ)  # checked now, not at the first report

    def intake() -> Intake:
        return Intake(secret, record.Recorder(pool.location, rules, pool=pool))

    found = webhooks.routes(environ, intake, fetch)
    for path in found:
        progress.info("serving the %s webhook at %s", path.rsplit("/", 1)[1], path)
    return found


def make_preview_server(app: WSGIApp, port: int = 8000):  # type: ignore[no-untyped-def]
    """A threaded server on 127.0.0.1 (port 0 picks a free one); a port that cannot be
    listened on (another program has it, it needs privileges) is one line."""
    try:
        return make_server("127.0.0.1", port, app, server_class=_ThreadingServer,
                           handler_class=_QuietHandler)
    except OSError as exc:
        advice = _LISTEN_ADVICE.get(exc.errno or 0, "choose another --port")
        raise PublisherError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc} "
                             f"({advice})") from None


#: What to do when a port cannot be listened on, by errno.
_LISTEN_ADVICE = {
    errno.EADDRINUSE: "another program is listening there: stop it or choose another --port",
    errno.EACCES: "a port below 1024 needs privileges: choose another --port",
}
