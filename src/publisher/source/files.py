"""Reading source files safely: UTF-8 text, TOML, keys, and paths.

Every helper reports problems to a :class:`Diagnostics` with file and line,
rather than raising, so one pass finds every problem of an issue.
"""

from __future__ import annotations

import os
import re
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from publisher.diagnostics import Diagnostics
from publisher.errors import read_error
from publisher.source.catalog import normalised_match

_TOML_AT = re.compile(r"\(at line (\d+), column \d+\)")

#: A URL's scheme and its colon (RFC 3986 §3.1), group 1 the scheme: ``URL_SCHEME.match(url)``.
#: The one pattern of the Markdown lint, the layouts' confinement and the template traces.
URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")

#: Characters no output can carry (XML 1.0 refuses them: the EPUB and the PDFs' HTML would
#: fail far from the source): C0 controls but tab, line feed and carriage return; DELETE;
#: the noncharacters U+FFFE and U+FFFF; lone surrogates (a YAML or TOML escape can make one).
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")
_C0_NAMES = (
    "NULL", "START OF HEADING", "START OF TEXT", "END OF TEXT", "END OF TRANSMISSION",
    "ENQUIRY", "ACKNOWLEDGE", "BELL", "BACKSPACE", "CHARACTER TABULATION", "LINE FEED",
    "LINE TABULATION", "FORM FEED", "CARRIAGE RETURN", "SHIFT OUT", "SHIFT IN",
    "DATA LINK ESCAPE", "DEVICE CONTROL ONE", "DEVICE CONTROL TWO", "DEVICE CONTROL THREE",
    "DEVICE CONTROL FOUR", "NEGATIVE ACKNOWLEDGE", "SYNCHRONOUS IDLE",
    "END OF TRANSMISSION BLOCK", "CANCEL", "END OF MEDIUM", "SUBSTITUTE", "ESCAPE",
    "FILE SEPARATOR", "GROUP SEPARATOR", "RECORD SEPARATOR", "UNIT SEPARATOR",
)


def character_name(char: str) -> str:
    """``U+001B ESCAPE``: a character named the way the Unicode charts name it."""
    code = ord(char)
    if code < 0x20:
        name = _C0_NAMES[code]
    elif code == 0x7F:
        name = "DELETE"
    elif 0xD800 <= code <= 0xDFFF:
        name = "a lone SURROGATE"
    elif code in (0xFFFE, 0xFFFF):
        name = "a NONCHARACTER"
    else:
        name = unicodedata.name(char, "")
    return f"U+{code:04X} {name}".rstrip()


def forbidden_characters(text: str) -> list[str]:
    """The characters of ``text`` no output can carry, each once, in order."""
    return list(dict.fromkeys(_FORBIDDEN.findall(text)))


def _forbidden_message(chars: list[str], how: str = "") -> str:
    names = ", ".join(character_name(c) for c in chars)
    some = "characters" if len(chars) > 1 else "a control character"
    what = "them" if len(chars) > 1 else "it"
    return (f"{names} {'are' if len(chars) > 1 else 'is'} {some} no output can carry{how}: "
            f"delete {what}")


def check_characters(text: str, path: Path, diag: Diagnostics) -> bool:
    """Report each line of ``text`` with a character no output can carry (an ESC pasted
    from a terminal, a BEL); ``True`` when there is none."""
    if not _FORBIDDEN.search(text):
        return True
    for number, line in enumerate(text.split("\n"), 1):
        chars = forbidden_characters(line)
        if chars:
            diag.error(_forbidden_message(chars), path, number)
    return False


def check_values(data: Any, path: Path, lines: Callable[[str], int | None],
                 diag: Diagnostics, key: str = "") -> None:
    """Report every string of parsed TOML or YAML that an escape (``"\\a"``,
    ``"\\u0007"``) made into a character no output can carry, at the line of its key
    (``lines(key)``, dotted for nested keys)."""
    if isinstance(data, str):
        chars = forbidden_characters(data)
        if chars:
            diag.error(_forbidden_message(chars, f" (written as an escape in '{key}')"),
                       path, lines(key))
    elif isinstance(data, dict):
        for name, value in data.items():
            check_values(name, path, lines, diag, key)
            check_values(value, path, lines, diag, f"{key}.{name}" if key else str(name))
    elif isinstance(data, list):
        for value in data:
            check_values(value, path, lines, diag, key)


def link_problem(folder: Path, path: Path) -> str | None:
    """Why the source file ``path`` of the issue ``folder`` may not be read, when it is a
    symbolic link (or inside a linked folder) that leads out of the issue folder or to
    nothing: the build reads only the issue's own files."""
    try:
        target = path.resolve()
    except (OSError, RuntimeError):  # a loop: the read itself says so (ELOOP)
        return None
    if not target.exists():
        if path.is_symlink():
            return (f"is a link to '{os.readlink(path)}', which does not exist: replace it "
                    "with the file")
        return None  # not there at all: the read says so
    if not target.is_relative_to(folder.resolve()):
        return (f"is a link to '{target}', outside the issue folder: copy the file into the "
                "issue folder instead")
    return None


def read_text(path: Path, diag: Diagnostics) -> str | None:
    """The file decoded as UTF-8, or ``None`` (with an error naming the bad byte)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        diag.error(read_error(exc, path).message, path)
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
    text = text.removeprefix("\ufeff")
    # Every source file is read here: refuse what no output can carry, at its line.
    return text if check_characters(text, path, diag) else None


def load_toml(path: Path, diag: Diagnostics) -> tuple[dict[str, Any], str] | None:
    """Parsed TOML and its text, or ``None`` after reporting the problem."""
    text = read_text(path, diag)
    if text is None:
        return None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_AT.search(message)
        line = int(match.group(1)) if match else None
        reason = _TOML_AT.sub("", message).strip()
        diag.error(f"malformed TOML: {reason}", path, line)
        return None
    check_values(data, path, lambda key: _escape_line(text, key.rpartition(".")[2]), diag)
    return data, text


def _escape_line(text: str, key: str) -> int | None:
    """The line where ``key`` is given a value with an escape in it (a ``[[ticker]]``
    table repeats its keys), else where it is first given."""
    found = re.search(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=[^\n]*\\", text, re.MULTILINE)
    return text.count("\n", 0, found.start()) + 1 if found else line_of_key(text, key)


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
    try:
        missing = not target.exists()
    except OSError:  # a folder that cannot be searched: the caller's read reports it
        missing = False
    if missing:
        # A name saved decomposed (NFD, as macOS may) and written composed (NFC), or the
        # reverse: the same name to the editor, a different one to the file system.
        found = normalised_match(root, target.relative_to(root))
        if found is not None:
            return found, None
    return target, None


def file_in_the_way(folder: Path, path: Path) -> str | None:
    """What to say when a file (not a folder) stands where a folder of ``path`` should
    be, inside ``folder`` (``images`` saved as a file, so that ``images/cover.png`` cannot
    exist), or ``None``."""
    root = folder.resolve()
    try:
        relative = path.relative_to(root) if path.is_absolute() else path
    except ValueError:
        return None
    here = root
    for part in relative.parts[:-1]:
        here = here / part
        try:
            if here.exists() and not here.is_dir():
                name = f"{folder.name}/{here.relative_to(root).as_posix()}"
                return (f"{name} is a file where a folder is expected: make it a folder "
                        "of the images")
        except OSError:
            return None
    return None
