"""Recording bounce and complaint events in the subscriber store.

(The store's events and suppressions come with its migrations: until then an event
is only reported, as ``read``.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from publisher.deliver.bounces.intake import Event


def recorder(db_path: Path) -> Callable[[Event], str]:
    """What applies an event to the store at ``db_path``; it says what it did."""
    del db_path

    def apply(event: Event) -> str:
        return "read"

    return apply
