"""A URL fetcher for WeasyPrint that reads only what a build may read.

WeasyPrint's default fetcher follows ``file://`` anywhere and goes to the network.
This one serves ``data:`` URLs and files under a few allowed folders (the issue
folder and ``layouts/``); anything else stops the build with a
:class:`~publisher.errors.PublisherError` naming the source that asked for it.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from publisher.errors import PublisherError
from publisher.render.templates import Traced

_TEXT_SUFFIXES = {".html", ".css", ".md", ".toml", ".txt"}

#: The host of the location-independent URLs the layout is rendered with (``.invalid``
#: is reserved, RFC 2606: it never names a real host).  WeasyPrint names images in the
#: PDF after their URL, so ``file:`` URLs would make the bytes depend on where the
#: project is checked out; these make them the same in every checkout.
VIRTUAL_HOST = "publisher.invalid"


class ForbiddenURL(FatalURLFetchingError):
    """Raised inside WeasyPrint (a ``BaseException`` there, so it is never swallowed)."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class ConfinedFetcher(URLFetcher):
    """Serve ``data:`` URLs and ``file:`` URLs inside ``roots``; refuse everything else."""

    def __init__(self, roots: Sequence[Path]):
        super().__init__(allowed_protocols=("data", "file"), fail_on_errors=True)
        self.roots = tuple(root.resolve() for root in roots)

    def base_url(self, folder: Path) -> str:
        """The location-independent URL of ``folder`` (inside one of the roots), ending in /."""
        real = folder.resolve()
        for n, root in enumerate(self.roots):
            if real.is_relative_to(root):
                rest = real.relative_to(root).as_posix()
                return f"https://{VIRTUAL_HOST}/{n}/" + ("" if rest == "." else f"{rest}/")
        raise ValueError(f"{folder} is outside the folders a build may read")

    def fetch(self, url: str, headers: object = None) -> URLFetcherResponse:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "https" and parts.netloc == VIRTUAL_HOST:
            path = self.resolve(self._file_url(url))
            mime, _ = mimetypes.guess_type(path.name)
            return URLFetcherResponse(url, path.read_bytes(), {
                "Content-Type": mime or "application/octet-stream"})
        if scheme != "file":
            raise ForbiddenURL(url, f"'{scheme}:' URLs are not fetched: the build never "
                                    "uses the network")
        path = self.resolve(url)
        mime, _ = mimetypes.guess_type(path.name)
        body = path.read_bytes()
        return URLFetcherResponse(path.as_uri(), body, {"Content-Type": mime or
                                                        "application/octet-stream"})

    def _file_url(self, url: str) -> str:
        """The ``file:`` URL a location-independent URL stands for."""
        number, _, rest = urlsplit(url).path.lstrip("/").partition("/")
        if not number.isdigit() or int(number) >= len(self.roots):
            raise ForbiddenURL(url, "no such folder")
        return (self.roots[int(number)] / unquote(rest)).as_uri()

    def resolve(self, url: str) -> Path:
        """The file a ``file:`` URL names, when it lies inside one of the roots."""
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise ForbiddenURL(url, "file URLs on another host are not read")
        path = Path(url2pathname(unquote(parts.path)))
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise ForbiddenURL(url, "no such file") from None
        if not any(real.is_relative_to(root) for root in self.roots):
            allowed = ", ".join(f"{root}/" for root in self.roots)
            raise ForbiddenURL(url, f"outside the folders a build may read ({allowed})")
        if not real.is_file():
            raise ForbiddenURL(url, "not a file")
        return real


def forbidden_error(exc: ForbiddenURL, searched: Iterable[Path], fallback: Path,
                    traces: Sequence[Traced] = ()) -> PublisherError:
    """A one-line error naming the source file and line that refers to ``exc.url``: where
    it is written, else the template expression that printed it (``traces``)."""
    needles = {exc.url, unquote(exc.url)}
    parts = urlsplit(exc.url)
    shown = exc.url
    if parts.scheme == "file":
        needles.add(unquote(parts.path))
    elif parts.netloc == VIRTUAL_HOST:  # a relative reference, resolved in a root folder
        number, _, rest = unquote(parts.path).lstrip("/").partition("/")
        shown = rest if number.isdigit() else f"{number}/{rest}"
        needles = {shown}
    for path in searched:
        if path.suffix not in _TEXT_SUFFIXES or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for needle in sorted(needles, key=len, reverse=True):
            at = text.find(needle)
            if at >= 0:
                line = text.count("\n", 0, at) + 1
                return PublisherError(f"refers to {shown}: {exc.reason}", path, line)
    for trace in traces:
        printed = trace.where(shown)
        if printed is not None:
            return PublisherError(f"refers to {shown}: {exc.reason}", *printed)
    return PublisherError(f"refers to {shown}: {exc.reason}", fallback)
