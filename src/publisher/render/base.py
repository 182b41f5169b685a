"""What every format shares: its declaration, the build context and the output record.

A format is a package of :mod:`publisher.render` that declares one :class:`Format` in
its ``__init__``: its name, its renderer, the layout folders it reads, the files it
writes into ``dist/<MONTH>/``, whether the glyph check applies, and whether it lays
out or follows the print pages.  The build, the cache and the site read these
declarations; :mod:`publisher.render` lists them in build order.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from publisher.model import Issue, Month, Publication

#: The folders of ``layouts/`` every format reads besides its own: the partials the
#: formats share and the fonts.
SHARED_LAYOUTS = ("_partials", "fonts")


@dataclass(frozen=True)
class OutputName:
    """One output of a format in ``dist/<MONTH>/``, by its role (``"print"``, ``"html"``).

    ``pattern`` is the file's name, with ``{stem}`` for the publication's file stem
    (``korea``) and ``{month}`` for ``YYYY-MM``; a ``folder`` holds files whose names the
    renderer chooses (the email's images).  An ``optional`` output is written only
    sometimes (the email's uncut web version, when the email was cut).
    """

    role: str
    pattern: str
    folder: bool = False
    optional: bool = False

    def name(self, publication: Publication, month: Month) -> str:
        """``korea-2023-08-print.pdf``: the name in ``dist/<MONTH>/`` of this output."""
        return self.pattern.format(stem=publication.file_stem, month=month)


@dataclass(frozen=True)
class Format:
    """A format, declared once (in its package's ``__init__``).

    ``renderer`` is ``"module:Class"``, imported only when the format renders, so that a
    build of one format does not import another's libraries.  ``layouts`` are the
    folders of ``layouts/`` it reads besides :data:`SHARED_LAYOUTS`: its cache key
    covers them, and its layout may refer to files in them only.  ``glyph_check``: it
    sets the issue's text in the layout's own fonts, so the build checks every
    character against them first.  ``lays_out_print``: its renderer lays out the
    print pages and gives their :class:`PrintLayout` (:class:`LaysOutPrint`);
    ``follows_print``: it needs that layout, which the build hands it as
    :attr:`BuildContext.print_layout` (and its ``layouts`` must then include the
    print layout's folders).
    """

    name: str
    renderer: str
    layouts: tuple[str, ...]
    outputs: tuple[OutputName, ...]
    glyph_check: bool = False
    lays_out_print: bool = False
    follows_print: bool = False

    @property
    def layout_folders(self) -> tuple[str, ...]:
        """Every folder of ``layouts/`` it reads, the shared ones included."""
        return (*self.layouts, *SHARED_LAYOUTS)

    def output(self, role: str) -> OutputName:
        for output in self.outputs:
            if output.role == role:
                return output
        raise KeyError(f"the {self.name} format has no output '{role}' "
                       f"(it has {', '.join(o.role for o in self.outputs)})")

    def file_name(self, role: str, publication: Publication, month: Month) -> str:
        """The name in ``dist/<MONTH>/`` of its output ``role``."""
        return self.output(role).name(publication, month)

    def load(self) -> Renderer:
        """A new renderer of this format (its module imported now)."""
        module_name, _, class_name = self.renderer.partition(":")
        module = importlib.import_module(module_name)
        return getattr(module, class_name)()


@dataclass(frozen=True)
class Output:
    """One finished file: its name inside ``dist/<MONTH>/`` and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class PrintLayout:
    """What the print layout gives the formats that follow it: ``pages`` maps the id of
    an element (article ids, heading ids, block ids) to the label of the printed page
    it starts on.  Plain data: the build sends it to its worker process and keeps it
    in the build cache."""

    pages: Mapping[str, str]


@dataclass
class BuildContext:
    """Everything a renderer may read, and a place for a format's own work.

    ``layouts`` is the folder of format layouts (with ``fonts/`` inside it); a
    renderer reads nothing outside the issue folder and ``layouts``.
    ``print_layout`` is the print layout, which the build hands the formats that
    follow it (``None`` until it is known).  ``shared`` keeps a format's own work for
    the rest of the build, under keys of its own (the print document, the EPUB's
    prepared documents); no format reads another's.
    """

    issue: Issue
    layouts: Path
    print_layout: PrintLayout | None = None
    shared: dict[str, Any] = field(default_factory=dict)


class Renderer(Protocol):
    """A format's renderer: ``name`` is what ``--format`` takes."""

    name: str

    def render(self, context: BuildContext) -> list[Output]: ...


@runtime_checkable
class LaysOutPrint(Protocol):
    """The renderer of the format that lays out the print pages (``lays_out_print``)."""

    def print_layout(self, context: BuildContext) -> PrintLayout:
        """Lay out the print pages of ``context.issue``: what their followers need."""
        ...
