"""Layout confinement: every format's layout refers only to files the build may read.

Each format declares a :class:`Policy`: the folders its layout's references may
lead into, whether ``data:`` URLs are allowed, and whether it *carries* the files
referred to (the print PDF fetches them through its confined URL fetcher; the
EPUB packs them; an email cannot carry layout files at all).  :func:`check`
reads every layout file of the format (its folder, the shared partials, and the
stylesheets they import) and refuses, each as one ``path:line: what to fix``:

* a URL with a scheme (``file:``, ``http(s):``, ``ftp:``…) or a network path
  (``//host/…``): the build never uses the network, and a reader's program
  would fetch it (a tracking pixel in an email);
* ``data:`` where the format does not allow it;
* an absolute path, a path that climbs out of the allowed folders with ``..``,
  a symlink that leads outside them, a file that is not there;
* a layout file that is itself a symlink leading outside ``layouts/``;
* whatever its address, markup that makes a reader's program send a request of
  its own (``ping``, a form's ``action``, ``<meta http-equiv=refresh>``,
  ``<base href>``, ``<link rel=preconnect>``…: see :mod:`.layoutrefs`).

Hyperlinks (``<a href>``: the unsubscribe link, the web version, downloads) are
not resources and are never checked.  Template code in a value cannot be judged
in the template: :func:`check_output` judges the rendered page against the
resources its renderer made, and names the layout file and line that wrote the
address when it can be found there.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from publisher.errors import PublisherError, SourceErrors, display_path
from publisher.render.base import Format
from publisher.render.layoutrefs import (
    CSS_SUFFIXES,
    MARKUP_SUFFIXES,
    Reference,
    css_references,
    markup_references,
)
from publisher.render.templates import Traced
from publisher.source.files import URL_SCHEME

PARTIALS = "_partials"
_SHARED_KEY = "layout-confined-{}"
_URL_NOISE = re.compile(r"[\t\n\r]")  # browsers drop these from a URL before reading it


@dataclass(frozen=True)
class Carried:
    """A layout file a reference leads to, as the format will carry it."""

    path: Path  # the file (resolved)
    href: str  # where the output refers to it (the EPUB: its path in the package)
    source: Path  # the layout file that refers to it
    line: int


@dataclass(frozen=True)
class Policy:
    """Where one format's layout may refer to.

    ``fmt`` is the format's folder in ``layouts/``; ``roots`` the folders a
    reference may lead into (resolved on use).  ``template_base`` is what a
    template's relative references are relative to (the print HTML's base URL is
    the issue folder); a stylesheet's are relative to the stylesheet.
    ``carries`` is false when the format cannot carry a layout file at all (an
    email); ``output_dir`` gives a layout file's folder in the output (the EPUB
    packs ``style.css`` as ``css/style.css``), to place the files it refers to.
    """

    fmt: str
    layouts: Path
    roots: tuple[Path, ...]
    template_base: Path
    data_urls: bool
    fix: str  # how to refer to a file instead (one clause)
    carries: bool = True
    suffixes: frozenset[str] | None = None  # the kinds of file it carries (None: any)
    output_dir: Callable[[Path], str] | None = None


def keyed_folders(layouts: Path, fmt: Format) -> tuple[Path, ...]:
    """The folders of ``layouts/`` a format reads, which its outputs are keyed on in the
    build cache (its declaration's :attr:`~publisher.render.base.Format.layout_folders`):
    the only ones its layout may refer into, so that a changed file always rebuilds what
    shows it."""
    return tuple(layouts / name for name in fmt.layout_folders)


def checked(shared: dict[str, Any], policy: Policy) -> list[Carried]:
    """:func:`check`, once per build (the result kept in the build's ``shared``)."""
    key = _SHARED_KEY.format(policy.fmt)
    if key not in shared:
        shared[key] = check(policy)
    return shared[key]


def check(policy: Policy) -> list[Carried]:
    """Check every layout file of ``policy.fmt``; the files they refer to, to carry.

    Raises :class:`~publisher.errors.SourceErrors` listing every problem found.
    """
    problems: list[PublisherError] = []
    carried: dict[tuple[str, Path], Carried] = {}
    layouts = policy.layouts.resolve()
    place = policy.output_dir or (lambda _path: "")
    queue = [(path, place(path)) for path in layout_files(policy.layouts, policy.fmt)]
    seen: set[Path] = set()
    while queue:
        path, out_dir = queue.pop(0)
        real = path.resolve()
        if real in seen:
            continue
        seen.add(real)
        if not real.is_relative_to(layouts):
            problems.append(PublisherError(
                f"is a symlink to {real}, outside {display_path(policy.layouts)}/: "
                "copy the file into the layout instead", path))
            continue
        for ref in references(path):
            outcome = _judge(policy, path, ref, out_dir)
            if isinstance(outcome, PublisherError):
                problems.append(outcome)
            elif outcome is not None:
                carried.setdefault((outcome.href, outcome.path), outcome)
                if outcome.path.suffix.lower() in CSS_SUFFIXES:  # an imported stylesheet
                    queue.append((outcome.path, posixpath.dirname(outcome.href)))
    if problems:
        raise SourceErrors(problems)
    return sorted(carried.values(), key=lambda c: c.href)


def layout_files(layouts: Path, fmt: str) -> list[Path]:
    """The CSS and markup files of a format's layout and of the shared partials."""
    found = []
    for folder in (layouts / fmt, layouts / PARTIALS):
        if folder.is_dir():
            found += sorted(p for p in folder.rglob("*")
                            if p.suffix.lower() in CSS_SUFFIXES | MARKUP_SUFFIXES
                            and (p.is_file() or p.is_symlink()))
    return found


def references(path: Path) -> list[Reference]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PublisherError(f"cannot read the layout file: {exc}", path) from None
    if path.suffix.lower() in CSS_SUFFIXES:
        return css_references(text)
    return markup_references(text)


def _judge(policy: Policy, path: Path, ref: Reference,
           out_dir: str) -> PublisherError | Carried | None:
    """A reference's problem, the file it carries, or ``None`` (nothing to carry)."""
    if ref.refused:
        return _refused(ref, path, ref.line)
    url = _URL_NOISE.sub("", ref.literal_prefix).strip()
    if ref.dynamic and not (URL_SCHEME.match(url) or url.startswith(("/", "\\"))):
        return None  # decided by the template code: judged on the rendered output
    if ref.what.startswith("a malformed"):
        return _error(policy, path, ref, "is not a readable address")
    if not url or url.startswith("#"):
        return None  # the page itself (an SVG filter, a fragment)
    scheme = URL_SCHEME.match(url)
    if scheme and scheme.group(1).lower() == "data":
        if policy.data_urls:
            return None
        return _error(policy, path, ref, "is a data: URL, which this format does not allow")
    if scheme or url.startswith(("//", "\\\\")):
        return _error(policy, path, ref, "is a URL, not a layout file")
    if url.startswith(("/", "\\")):
        return _error(policy, path, ref, "is an absolute path")
    parts = urlsplit(url)
    relative = unquote(parts.path)
    if not relative:
        return None  # only a query or a fragment: the page itself
    base = path.parent if path.suffix.lower() in CSS_SUFFIXES else policy.template_base
    target = (base / relative).resolve()
    roots = [root.resolve() for root in policy.roots]
    if not any(target.is_relative_to(root) for root in roots):
        allowed = ", ".join(f"{display_path(root)}/" for root in policy.roots)
        return _error(policy, path, ref, f"leads outside the folders it may use ({allowed})")
    if not target.is_file():
        return _error(policy, path, ref, "names no file")
    if not policy.carries:
        return _error(policy, path, ref, "is a layout file, which this format cannot carry")
    if policy.suffixes is not None and target.suffix.lower() not in policy.suffixes:
        kinds = ", ".join(sorted(policy.suffixes))
        return _error(policy, path, ref, f"is not a kind of file this format carries ({kinds})")
    href = posixpath.normpath(posixpath.join(out_dir, relative))
    if policy.output_dir is not None and href.startswith("../"):
        return _error(policy, path, ref, "would lie outside the output")
    return Carried(target, href, path, ref.line)


def _refused(ref: Reference, path: Path, line: int | None) -> PublisherError:
    return PublisherError(f"{ref.what} '{_shown(ref.url)}' {ref.refused}: remove it from "
                          "the layout", path, line)


def _error(policy: Policy, path: Path, ref: Reference, problem: str) -> PublisherError:
    return PublisherError(f"{ref.what} '{_shown(ref.url)}' {problem}: {policy.fix}",
                          path, ref.line)


def _shown(url: str) -> str:
    return url if len(url) <= 80 else url[:77] + "..."


# -- the rendered output ------------------------------------------------------------------


def check_output(policy: Policy, markup: str, allowed: Callable[[str], bool],
                 blame: Path, traces: Sequence[Traced] = ()) -> None:
    """Refuse a resource in rendered ``markup`` that its renderer did not make.

    ``allowed(url)`` says whether the renderer made (or carries) ``url``; anything
    else came from the layout's template code.  The error names the layout file and
    line that hold the address when it is written there, else the template file and
    line of the expression that printed it (``traces``: the renders that made
    ``markup``), else ``blame``.
    """
    problems = []
    for ref in markup_references(markup):
        url = _URL_NOISE.sub("", ref.url).strip()
        if ref.refused:  # made by template code (the template itself was checked)
            problems.append(_refused(ref, *_find(ref.url, layout_files(
                policy.layouts, policy.fmt), blame, traces)))
            continue
        if not url or url.startswith("#") or allowed(url):
            continue
        if policy.data_urls and url.lower().startswith("data:"):
            continue
        where, line = _find(url, layout_files(policy.layouts, policy.fmt), blame, traces)
        problems.append(PublisherError(
            f"{ref.what} '{_shown(url)}' is not a file of this {policy.fmt} layout or issue: "
            f"{policy.fix}", where, line))
    if problems:
        raise SourceErrors(_unique(problems))


def _find(url: str, files: Sequence[Path], fallback: Path,
          traces: Sequence[Traced] = ()) -> tuple[Path, int | None]:
    """Where ``url`` comes from: the first layout file and line holding it as written
    (a ``{% set %}`` of it); else the template and line of the expression that printed
    it (a URL joined by template code: ``{{ "ht" ~ "tp://…" }}``, in an extended or
    included template too); else the longest start of it (up to a ``/``) that names a
    host at least, as written; else ``fallback``."""
    found = _written(url, files)
    if found is not None:
        return found
    for trace in traces:
        printed = trace.where(url)
        if printed is not None:
            return printed
    scheme = URL_SCHEME.match(url)
    if scheme:
        shortest = scheme.end() + (3 if url[scheme.end():].startswith("//") else 1)
        cut = len(url)
        while (cut := url.rfind("/", 0, cut)) >= shortest - 1:
            found = _written(url[: cut + 1], files)
            if found is not None:
                return found
    return fallback, None


def _written(needle: str, files: Sequence[Path]) -> tuple[Path, int] | None:
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        at = text.find(needle)
        if at >= 0:
            return path, text.count("\n", 0, at) + 1
    return None


def _unique(problems: Iterable[PublisherError]) -> Iterator[PublisherError]:
    seen: set[str] = set()
    for problem in problems:
        if str(problem) not in seen:
            seen.add(str(problem))
            yield problem
