"""Numbers from the environment: what every ``PUBLISHER_*`` numeric setting goes through.

A setting left unset (or blank) takes its default; one that is not a finite number
between its bounds is one line naming the variable and the range it takes, before
anything is opened or sent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeVar

from publisher.errors import PublisherError

N = TypeVar("N", int, float)


def number(env: Mapping[str, str], key: str, default: N, kind: type[N], low: float,
           high: float, *, unit: str = "") -> N:
    """``env[key]`` as ``kind`` (``int`` or ``float``), finite and from ``low`` to ``high``;
    ``default`` when unset or blank; else a :class:`PublisherError`, ``KEY is 'text':
    expected a whole number from LOW to HIGH`` (``unit`` words it otherwise, such as
    "a number of seconds")."""
    text = env.get(key, "").strip()
    if not text:
        return default
    try:
        value: N | None = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or not low <= value <= high:
        unit = unit or ("a whole number" if kind is int else "a number")
        raise PublisherError(f"{key} is {text!r}: expected {unit} from {low:g} to {high:g}")
    return value
