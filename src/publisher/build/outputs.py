"""Where the outputs of a month are: ``dist/<MONTH>/<name>``, each named by its format.

The names come from the formats' declarations (:attr:`~publisher.render.base.Format.outputs`:
``korea-2023-08-print.pdf``, ``email.eml``…): the renderers name what they make by
them, and whatever finds a built file asks here (the build, the download site,
``publisher send``, the proofs) rather than spelling the name again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from publisher import render
from publisher.model import Month, Publication


def month_folder(dist: Path, month: Month) -> Path:
    """``dist/<MONTH>/``: where the build writes the outputs of ``month``."""
    return dist / str(month)


@dataclass(frozen=True)
class MonthOutputs:
    """The outputs of one month of one publication, in ``folder`` (``dist/<MONTH>/``)."""

    folder: Path
    publication: Publication
    month: Month

    def name(self, fmt: str, role: str) -> str:
        """The file name of output ``role`` of format ``fmt``: ``korea-2023-08.pdf``."""
        return render.declared(fmt).file_name(role, self.publication, self.month)

    def path(self, fmt: str, role: str) -> Path:
        """``dist/<MONTH>/<name>`` of output ``role`` of format ``fmt``."""
        return self.folder / self.name(fmt, role)


def month_outputs(dist: Path, publication: Publication, month: Month) -> MonthOutputs:
    """The outputs of ``month`` under ``dist``."""
    return MonthOutputs(month_folder(dist, month), publication, month)
