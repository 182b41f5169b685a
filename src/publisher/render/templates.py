"""The Jinja2 environment of a format's layouts.

A format's templates live in ``layouts/<format>/`` and may import the shared
semantic macros of ``layouts/_partials/``; model objects are turned into HTML
by the filters of :func:`publisher.render.html.html_filters`.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterator
from pathlib import Path

import jinja2

from publisher.errors import PublisherError
from publisher.render.html import HtmlOptions, html_filters


def environment(layouts: Path, fmt: str, options: HtmlOptions) -> jinja2.Environment:
    """A sandboxed-by-construction environment: autoescape on, undefined is an error."""
    loader = jinja2.ChoiceLoader([
        jinja2.FileSystemLoader(layouts / fmt),
        jinja2.PrefixLoader({"_partials": jinja2.FileSystemLoader(layouts / "_partials")}),
    ])
    env = jinja2.Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(html_filters(options))
    return env


@contextlib.contextmanager
def layout_errors() -> Iterator[None]:
    """A template error (syntax, a missing template, an undefined name) as one
    ``path:line: message`` naming the layout file, not a traceback.

    Use it in the process that renders: Jinja2 points the traceback at the
    template's lines, which is lost once the error crosses to another process.
    """
    try:
        yield
    except jinja2.TemplateSyntaxError as exc:
        where = Path(exc.filename) if exc.filename else None
        raise PublisherError(f"template error: {exc.message}", where, exc.lineno) from None
    except jinja2.TemplateError as exc:
        where, line = _template_frame(exc)
        message = (f"no template {exc.name!r} in the layout"
                   if isinstance(exc, jinja2.TemplateNotFound)
                   else exc.message or type(exc).__name__)
        raise PublisherError(f"template error: {message}", where, line) from None


def _template_frame(exc: BaseException) -> tuple[Path | None, int | None]:
    """The innermost frame of ``exc``'s traceback that is a template's line."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if not frame.filename.endswith(".py") and Path(frame.filename).is_file():
            return Path(frame.filename), frame.lineno
    return None, None
