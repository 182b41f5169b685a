"""Collects every problem of a source in one pass, so an editor sees them all."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from publisher.errors import PublisherError, SourceErrors

log = logging.getLogger(__name__)


@dataclass
class Diagnostics:
    """Errors stop a build; warnings are shown (and fail it under ``--strict``)."""

    errors: list[PublisherError] = field(default_factory=list)
    warnings: list[PublisherError] = field(default_factory=list)

    def error(self, message: str, path: Path | None = None, line: int | None = None) -> None:
        self.errors.append(PublisherError(message, path, line))

    def warn(self, message: str, path: Path | None = None, line: int | None = None) -> None:
        self.warnings.append(PublisherError(message, path, line))

    def raise_if_errors(self) -> None:
        if self.errors:
            raise SourceErrors(self.errors)

    def raise_if_strict(self, strict: bool) -> None:
        """Under ``--strict``, a warning fails the run (after it has been shown)."""
        if strict and self.warnings:
            raise PublisherError(f"{len(self.warnings)} warning(s), and --strict fails on them")
