"""What the signup and preference endpoints share: the form body, the origin check, the
client's address, and their pages (rendered from ``layouts/site/``)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from publisher.model import Publication
from publisher.render.templates import environment
from publisher.site import security as websecurity
from publisher.site.body import read_body

#: A form's body is small: a longer one is cut here (and then fails its checks).
MAX_BODY = 8192


def read_form(environ: dict[str, Any]) -> dict[str, str]:
    """The fields of a ``application/x-www-form-urlencoded`` body (first value each)."""
    try:
        text = read_body(environ, MAX_BODY).decode("utf-8")
    except UnicodeDecodeError:
        return {}
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def query(environ: dict[str, Any]) -> dict[str, str]:
    raw = environ.get("QUERY_STRING", "")
    return {k: v[0].strip() for k, v in parse_qs(raw, keep_blank_values=True).items()}


def same_origin(environ: dict[str, Any], publication: Publication) -> bool:
    """Whether a POST may come from where it says it comes from.

    A browser that sends ``Sec-Fetch-Site`` is believed: ``cross-site`` is refused.
    Otherwise ``Origin`` must be this server's own or the public site's, or absent or
    ``null`` (an old browser, a mail client's one-click; and the site's pages send no
    referrer, so a browser may say ``null`` for its own form)."""
    fetch_site = environ.get("HTTP_SEC_FETCH_SITE", "").strip().lower()
    if fetch_site:
        return fetch_site != "cross-site"
    origin = environ.get("HTTP_ORIGIN", "").strip()
    if origin in ("", "null"):
        return True
    own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
    public = urlsplit(publication.base_url)
    return origin in (own, f"{public.scheme}://{public.netloc}")


def client_address(environ: dict[str, Any]) -> str:
    return str(environ.get("REMOTE_ADDR", "") or "")


class Pages:
    """The endpoints' pages: ``layouts/site/<template>`` with the publication."""

    def __init__(self, layouts: Path, publication: Publication):
        self.publication = publication
        self.env = environment(layouts, "site", trim=True, trailing_newline=False)

    def render(self, template: str, **values: Any) -> bytes:
        context = {"publication": self.publication, **values}
        return self.env.get_template(template).render(context).encode("utf-8")

    def answer(self, start_response: Any, status: str, template: str,
               headers: Iterable[tuple[str, str]] = (), **values: Any) -> list[bytes]:
        body = self.render(template, **values)
        start_response(status, [("Content-Type", "text/html; charset=utf-8"),
                                ("Content-Length", str(len(body))),
                                ("Cache-Control", "no-store"),
                                ("X-Robots-Tag", "noindex"),
                                *websecurity.headers(websecurity.ENDPOINT_POLICY),
                                *headers])
        return [body]
