"""Reading source files safely: UTF-8 text, TOML, keys, and paths.

Every helper reports problems to a :class:`Diagnostics` with file and line,
rather than raising, so one pass finds every problem of an issue.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from publisher.diagnostics import Diagnostics

_TOML_AT = re.compile(r"\(at line (\d+), column \d+\)")


def read_text(path: Path, diag: Diagnostics) -> str | None:
    """The file decoded as UTF-8, or ``None`` (with an error naming the bad byte)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        diag.error(f"cannot read file: {exc.strerror}", path)
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        diag.error(
            f"not UTF-8: byte 0x{data[exc.start]:02X} at offset {exc.start} cannot be decoded; "
            "save the file as UTF-8",
            path,
            line,
        )
        return None
    return text.removeprefix("\ufeff")


def load_toml(path: Path, diag: Diagnostics) -> tuple[dict[str, Any], str] | None:
    """Parsed TOML and its text, or ``None`` after reporting the problem."""
    text = read_text(path, diag)
    if text is None:
        return None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_AT.search(message)
        line = int(match.group(1)) if match else None
        reason = _TOML_AT.sub("", message).strip()
        diag.error(f"malformed TOML: {reason}", path, line)
        return None


def line_of_key(text: str, key: str, offset: int = 0) -> int | None:
    """The 1-based line where ``key`` is assigned in TOML or YAML text."""
    pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*[=:]", re.MULTILINE)
    match = pattern.search(text)
    if not match:
        return None
    return text.count("\n", 0, match.start()) + 1 + offset


def check_keys(
    data: Mapping[str, Any],
    required: Iterable[str],
    optional: Iterable[str],
    path: Path,
    text: str,
    diag: Diagnostics,
    *,
    line_offset: int = 0,
    missing_line: int | None = None,
    prefix: str = "",
) -> None:
    """Report missing required keys and unknown keys (a typo loses data silently)."""
    required = tuple(required)
    known = set(required) | set(optional)
    for key in required:
        if key not in data or data[key] in ("", None):
            diag.error(f"missing required field '{prefix}{key}'", path, missing_line)
    for key in data:
        if key not in known:
            choices = ", ".join(sorted(known))
            diag.error(
                f"unknown field '{prefix}{key}': expected one of {choices}",
                path,
                line_of_key(text, str(key), line_offset),
            )


def string_field(
    data: Mapping[str, Any], key: str, path: Path, text: str, diag: Diagnostics, offset: int = 0
) -> str:
    """``data[key]`` as a stripped string ('' when absent), erroring on other types."""
    value = data.get(key, "")
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        diag.error(f"'{key}' must be text", path, line_of_key(text, key, offset))
        return ""
    return str(value).strip()


def resolve_inside(folder: Path, reference: str) -> tuple[Path | None, str | None]:
    """Resolve a relative file reference inside ``folder``.

    Returns ``(path, None)``, or ``(None, reason)`` for a URL, an absolute path
    or a path that climbs out of the folder: sources may only use their own files.
    """
    ref = reference.strip()
    if not ref:
        return None, "is empty"
    parts = urlsplit(ref)
    if parts.scheme or parts.netloc or ref.startswith("//"):
        return None, "is a URL: copy the file into the issue's images/ folder and use its path"
    if ref.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:[\\/]", ref):
        return None, "is an absolute path: use a path relative to the issue folder"
    root = folder.resolve()
    target = (root / ref).resolve()
    if not target.is_relative_to(root):
        return None, "leaves the issue folder: use a file inside it"
    return target, None
