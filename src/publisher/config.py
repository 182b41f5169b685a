"""The publication-wide settings, ``issues/publication.toml``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from publisher.diagnostics import Diagnostics
from publisher.model import Publication, TrimSize
from publisher.sources import check_keys, line_of_key, load_toml, string_field

CONFIG_NAME = "publication.toml"

REQUIRED = ("title", "publisher", "language", "base_url", "sender_name", "sender_address",
            "postal_address")
OPTIONAL = ("description", "copyright_holder", "issn", "trim")
TRIM_KEYS = ("width_mm", "height_mm", "bleed_mm")


def load_publication(issues_root: Path, diag: Diagnostics) -> Publication | None:
    """Read ``publication.toml`` from the issues folder; ``None`` after an error."""
    path = issues_root / CONFIG_NAME
    loaded = load_toml(path, diag)
    if loaded is None:
        return None
    data, text = loaded
    check_keys(data, REQUIRED, OPTIONAL, path, text, diag, missing_line=1)
    values = {key: string_field(data, key, path, text, diag) for key in REQUIRED}
    trim = _trim(data.get("trim", {}), path, text, diag)
    if diag.errors or trim is None:
        return None
    return Publication(
        title=values["title"],
        publisher=values["publisher"],
        language=values["language"],
        base_url=values["base_url"].rstrip("/"),
        sender_name=values["sender_name"],
        sender_address=values["sender_address"],
        postal_address=values["postal_address"],
        description=str(data.get("description", "")),
        copyright_holder=str(data.get("copyright_holder", "") or values["publisher"]),
        issn=str(data["issn"]) if data.get("issn") else None,
        trim=trim,
        source=path,
    )


def _trim(raw: Any, path: Path, text: str, diag: Diagnostics) -> TrimSize | None:
    if not isinstance(raw, dict):
        diag.error("'trim' must be a table with width_mm, height_mm, bleed_mm", path,
                   line_of_key(text, "trim"))
        return None
    check_keys(raw, (), TRIM_KEYS, path, text, diag)
    sizes: dict[str, float] = {}
    for key in TRIM_KEYS:
        if key in raw:
            value = raw[key]
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                diag.error(f"trim.{key} must be a positive number of millimetres", path,
                           line_of_key(text, key))
                return None
            sizes[key] = float(value)
    return TrimSize(**sizes)
