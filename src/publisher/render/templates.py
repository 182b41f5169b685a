"""The Jinja2 environment of a format's layouts.

A format's templates live in ``layouts/<format>/`` and may import the shared
semantic macros of ``layouts/_partials/``; model objects are turned into HTML
by the filters of :func:`publisher.render.html.html_filters`.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

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
