"""What every renderer shares: the build context and the output record."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from publisher.model import Issue


@dataclass(frozen=True)
class Output:
    """One finished file: its name inside ``dist/<MONTH>/`` and its bytes."""

    name: str
    data: bytes


@dataclass
class BuildContext:
    """Everything a renderer may read, and a place to share work between formats.

    ``layouts`` is the folder of format layouts (with ``fonts/`` inside it); a
    renderer reads nothing outside the issue folder and ``layouts``.
    """

    issue: Issue
    layouts: Path
    shared: dict[str, Any] = field(default_factory=dict)


class Renderer(Protocol):
    """A format: ``name`` is what ``--format`` takes.

    The print format also has ``layout(context) -> dict``: it lays out the print
    pages and returns what formats that follow them need (the page map), which
    the build hands to those formats' worker processes as ``context.shared``.
    """

    name: str

    def render(self, context: BuildContext) -> list[Output]: ...
