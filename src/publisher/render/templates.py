"""The Jinja2 environment of the layouts: the project's one (:func:`environment`).

A format's templates live in ``layouts/<format>/`` (the download site's in
``layouts/site/``) and may import the shared semantic macros of
``layouts/_partials/``; model objects are turned into HTML by the filters of
:func:`publisher.render.html.html_filters`.
"""

from __future__ import annotations

import contextlib
import html
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jinja2
from jinja2.loaders import split_template_path

from publisher.errors import PublisherError, read_error
from publisher.render.base import PARTIALS
from publisher.render.html import HtmlOptions, html_filters
from publisher.source.files import URL_SCHEME


class _Folder(jinja2.FileSystemLoader):
    """The templates of one folder of ``layouts/``; a name that is there but is no file
    (a folder named ``style.css``) or cannot be read is an error naming it."""

    def __init__(self, folder: Path):
        super().__init__(folder)
        self.folder = folder

    def path(self, template: str) -> Path:
        return self.folder.joinpath(*split_template_path(template))

    def get_source(self, environment: jinja2.Environment, template: str,
                   ) -> tuple[str, str, Callable[[], bool]]:
        try:
            return super().get_source(environment, template)
        except jinja2.TemplateNotFound:
            path = self.path(template)
            if path.is_dir():
                raise PublisherError("is a folder, not a template file: put the file "
                                     "there", path) from None
            if os.path.lexists(path) and not path.is_file():
                raise PublisherError("is not a regular file (a broken symlink?): put the "
                                     "template file there", path) from None
            raise
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8"
            raise PublisherError(f"cannot read the layout file: {reason}",
                                 self.path(template)) from None


class _Layout(jinja2.ChoiceLoader):
    """A format's folder, then ``_partials/…``; a template found in neither is a
    :class:`jinja2.TemplateNotFound` carrying the path it was looked for at (``path``)."""

    def __init__(self, layouts: Path, fmt: str):
        self.own = _Folder(layouts / fmt)
        super().__init__([self.own, jinja2.PrefixLoader({PARTIALS: _Folder(
            layouts / PARTIALS)})])
        self.layouts = layouts

    def get_source(self, environment: jinja2.Environment, template: str,
                   ) -> tuple[str, str | None, Callable[[], bool] | None]:
        with self._placed(template):
            return super().get_source(environment, template)

    def load(self, environment: jinja2.Environment, name: str,
             globals: Any = None) -> jinja2.Template:
        with self._placed(name):
            return super().load(environment, name, globals)

    @contextlib.contextmanager
    def _placed(self, template: str) -> Iterator[None]:
        try:
            yield
        except jinja2.TemplateNotFound as exc:
            prefix, _, rest = template.partition("/")
            folder = self.layouts / PARTIALS if prefix == PARTIALS and rest else None
            with contextlib.suppress(jinja2.TemplateNotFound):  # a name that climbs out
                exc.path = (folder.joinpath(*split_template_path(rest))  # type: ignore[attr-defined]
                            if folder else self.own.path(template))
            raise


class _CompileTime(Exception):
    """Raised by :class:`_Recorder` when Jinja would fold a constant output at compile
    time: Jinja then evaluates it when rendering (see ``_output_child_to_const``), where
    its template line is known."""


class _Recorder:
    """The environment's ``finalize``: notes each ``{{ … }}`` value that may hold an
    address, with the template and line of the expression, during :func:`render_traced`."""

    def __init__(self) -> None:
        self.records: list[tuple[str, Any, int]] | None = None

    def __call__(self, value: Any) -> Any:
        frame = sys._getframe(1)
        template = frame.f_globals.get("__jinja_template__")
        if template is None:
            raise _CompileTime
        if self.records is not None and isinstance(value, str):
            self.records.append((value, template, frame.f_lineno))
        return value


class Traced:
    """A rendered template and the ``{{ … }}`` values it printed, each with the template
    file and line of its expression (in an included, extended or imported template too)."""

    def __init__(self, text: str, records: list[tuple[str, Any, int]]):
        self.text = text
        self._records = records

    def where(self, url: str) -> tuple[Path, int] | None:
        """The template file and line of the expression that printed ``url`` (or its
        start, with the scheme: template code may join it from pieces), or ``None``."""
        forms = {url, html.escape(url), html.escape(url, quote=False)}
        found = [(len(value), n) for n, (value, _, _) in enumerate(self._records)
                 if any(form in value for form in forms)
                 or (URL_SCHEME.match(value) and url.startswith(value))]
        if not found:
            return None
        _, n = min(found)  # the smallest value holding it: the expression that made it
        _, template, code_line = self._records[n]
        if not template.filename:
            return None
        return Path(template.filename), template.get_corresponding_lineno(code_line)


def render_traced(template: jinja2.Template, **values: Any) -> Traced:
    """``template.render(**values)``, with where each printed value came from."""
    recorder = template.environment.finalize
    if not isinstance(recorder, _Recorder):
        return Traced(template.render(**values), [])
    recorder.records = []
    try:
        return Traced(template.render(**values), recorder.records)
    finally:
        recorder.records = None


def environment(layouts: Path, fmt: str, options: HtmlOptions | None = None, *,
                trim: bool = True, trailing_newline: bool = True) -> jinja2.Environment:
    """The environment of the templates in ``layouts/<fmt>/`` and ``layouts/_partials/``:
    autoescape on, undefined is an error, the model's filters (``options``: how the
    format wants its HTML); :func:`render_traced` knows which expression printed what.

    A block tag takes its line with it (``trim``) and a template's last newline is kept
    (``trailing_newline``).  The download site's pages were rendered without the last
    newline, and its unsubscribe endpoint without either, before they shared this
    environment: the two flags keep their bytes as they were.
    """
    loader = _Layout(layouts, fmt)
    env = jinja2.Environment(
        loader=loader,
        finalize=_Recorder(),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=trim,
        lstrip_blocks=trim,
        keep_trailing_newline=trailing_newline,
    )
    env.filters.update(html_filters(options if options is not None else HtmlOptions()))
    return env


@contextlib.contextmanager
def layout_errors() -> Iterator[None]:
    """A template error (syntax, a missing template, an undefined name), or a layout file
    that cannot be read, as one ``path:line: message`` naming the layout file, not a
    traceback.

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
        if where is None:  # not inside a template: the file that should be there
            where = _missing_path(exc)
        raise PublisherError(f"template error: {message}", where, line) from None
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        # A layout file a renderer reads itself (a stylesheet, a font, a profile) that is
        # not there or not readable: the sources were checked before, so it is the layout's.
        if not exc.filename:
            raise
        raise read_error(exc) from None


def _missing_path(exc: Any) -> Path | None:
    path = getattr(exc, "path", None)
    return path if isinstance(path, Path) else None


def _template_frame(exc: BaseException) -> tuple[Path | None, int | None]:
    """The innermost frame of ``exc``'s traceback that is a template's line."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if not frame.filename.endswith(".py") and Path(frame.filename).is_file():
            return Path(frame.filename), frame.lineno
    return None, None
