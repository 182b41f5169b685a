"""Columns that stay where they were set when the next one cannot begin.

WeasyPrint 70 lays out a multi-column box column by column; when a column after the
first cannot take even its first box (a figure, a pull quote or a table kept whole,
taller than the room left above the page's foot or its notes), it throws away the
columns it has already set on the page and moves the whole rest of the multi-column
box to the next page (``layout/column.py``: ``if new_child is None: columns = []``).
On an article's opening page that leaves the band below the lede empty, a quarter to a
third of the page, when only the last column's first box did not fit.

A compositor keeps the columns that were set and starts the next page with the box
that did not fit. While the print layout is laid out, :func:`kept_columns` puts in
WeasyPrint's ``columns_layout`` one that does so: the columns set so far stay on the
page and the content resumes, on the next page, at the box the next column could not
take. The change is made to WeasyPrint's own source, found by its exact text: another
WeasyPrint version without that text fails loudly (:class:`RuntimeError`) rather than
laying out without the fix.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

from weasyprint.layout import block, column

#: WeasyPrint's lines (layout/column.py, 70.0) that drop the columns already set.
_DROPPED = textwrap.indent(textwrap.dedent("""\
    if new_child is None:
        columns = []
        break_page = True
        break
"""), " " * 12)
#: The same place keeping them: the next page resumes where the last set column ended
#: (``skip_stack`` still holds that column's resume point here).
_KEPT = textwrap.indent(textwrap.dedent("""\
    if new_child is None and columns:
        column_skip_stack = skip_stack
        break
    if new_child is None:
        columns = []
        break_page = True
        break
"""), " " * 12)


@functools.cache
def _patched() -> Callable[..., Any]:
    source = inspect.getsource(column.columns_layout)
    if source.count(_DROPPED) != 1:
        raise RuntimeError(
            "publisher.render.pdf.columns: WeasyPrint's columns_layout has changed "
            f"(WeasyPrint {_version()}); check whether it still drops the columns set "
            "when the next one cannot begin, and update or remove this fix")
    namespace = dict(vars(column))
    code = compile(source.replace(_DROPPED, _KEPT), column.__file__, "exec")
    exec(code, namespace)  # WeasyPrint's own function with the lines above changed
    return namespace["columns_layout"]


def _version() -> str:
    import weasyprint

    return weasyprint.__version__


@contextlib.contextmanager
def kept_columns() -> Iterator[None]:
    """While laying out: a column that cannot begin leaves the earlier ones in place."""
    original = block.columns_layout
    block.columns_layout = _patched()
    try:
        yield
    finally:
        block.columns_layout = original
