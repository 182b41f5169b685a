"""The publication-wide settings, ``issues/publication.toml``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import langcodes

from publisher.diagnostics import Diagnostics
from publisher.model import Publication, TrimSize
from publisher.source.files import check_keys, line_of_key, load_toml, string_field

CONFIG_NAME = "publication.toml"

REQUIRED = ("title", "publisher", "language", "base_url", "sender_name", "sender_address",
            "postal_address")
OPTIONAL = ("description", "copyright_holder", "issn", "trim", "consent")
CONSENT_KEYS = ("text", "version")
#: The consent sentence of the signup form when publication.toml has no [consent].
DEFAULT_CONSENT = ("Send me {title} by email, about once a month. I can unsubscribe at any "
                   "time with the link in every email, and my consent is kept on record.")
TRIM_KEYS = ("width_mm", "height_mm", "bleed_mm")
#: What a trim may be, in millimetres: from a pocket booklet (50 mm, smaller than A7) to a
#: poster (1000 mm, larger than A1's long edge); a bleed from none to 20 mm (3 mm is usual).
TRIM_RANGES = {"width_mm": (50.0, 1000.0), "height_mm": (50.0, 1000.0), "bleed_mm": (0.0, 20.0)}


def load_publication(issues_root: Path, diag: Diagnostics) -> Publication | None:
    """Read ``publication.toml`` from the issues folder; ``None`` after an error."""
    path = issues_root / CONFIG_NAME
    loaded = load_toml(path, diag)
    if loaded is None:
        return None
    data, text = loaded
    check_keys(data, REQUIRED, OPTIONAL, path, text, diag, missing_line=1)
    values = {key: string_field(data, key, path, text, diag) for key in REQUIRED}
    if values["language"]:
        _check_language(values["language"], path, line_of_key(text, "language"), diag)
    if values["base_url"]:
        _check_base_url(values["base_url"], path, line_of_key(text, "base_url"), diag)
    if values["sender_address"]:
        _check_address(values["sender_address"], path, line_of_key(text, "sender_address"),
                       diag)
    trim = _trim(data.get("trim", {}), path, text, diag)
    consent = _consent(data.get("consent", {}), values["title"], path, text, diag)
    if diag.errors or trim is None or consent is None:
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
        consent_text=consent[0],
        consent_version=consent[1],
    )


def _consent(raw: Any, title: str, path: Path, text: str,
             diag: Diagnostics) -> tuple[str, str] | None:
    """``[consent]``: the signup form's sentence (``text``) and its ``version``; the
    default sentence, version ``"1"``, when absent.  A new wording needs a new version."""
    if not isinstance(raw, dict):
        diag.error("'consent' must be a table with text and version", path,
                   line_of_key(text, "consent"))
        return None
    check_keys(raw, (), CONSENT_KEYS, path, text, diag)
    sentence, version = raw.get("text", ""), raw.get("version", "")
    if not isinstance(sentence, str) or not isinstance(version, str | int):
        diag.error("consent.text and consent.version must be text", path,
                   line_of_key(text, "consent"))
        return None
    if sentence.strip() and not str(version).strip():
        diag.error("consent.version is missing: give the consent text a version, and a new "
                   "one whenever its words change", path, line_of_key(text, "text"))
        return None
    if not sentence.strip():
        return DEFAULT_CONSENT.format(title=title), str(version).strip() or "1"
    return " ".join(sentence.split()), str(version).strip()


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
            low, high = TRIM_RANGES[key]
            if not (math.isfinite(value) and low <= value <= high):
                diag.error(f"trim.{key} = {value} is out of range: give a number of "
                           f"millimetres from {low:g} to {high:g}", path, line_of_key(text, key))
                return None
            sizes[key] = float(value)
    return TrimSize(**sizes)


def _check_base_url(url: str, path: Path, line: int | None, diag: Diagnostics) -> None:
    """Every download link, the QR codes and the email's links are made from it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query \
            or parts.fragment or any(c.isspace() for c in url):
        diag.error(f"'base_url' {url!r} is not an http(s) URL: write the address the issues "
                   "are downloaded from, such as https://webzine.example.org/korea", path, line)


def _check_address(address: str, path: Path, line: int | None, diag: Diagnostics) -> None:
    """The email's From: an address no server would take is a send that fails."""
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        diag.error(f"'sender_address' {address!r} is not an email address ({exc}): write "
                   "the address the email comes from, such as newsletter@example.org",
                   path, line)


def _check_language(tag: str, path: Path, line: int | None, diag: Diagnostics) -> None:
    """``language`` must be a valid BCP 47 tag (``en``, ``en-US``, ``ko``): the EPUB's
    ``dc:language`` and every ``xml:lang``/``lang`` of the outputs carry it."""
    if "_" not in tag and langcodes.tag_is_valid(tag):
        return
    try:
        likely = langcodes.standardize_tag(tag.replace("_", "-"))
    except ValueError:
        likely = None
    if likely and langcodes.tag_is_valid(likely):
        hint = f"write '{likely}'"
    else:
        hint = "write a language code such as 'en', 'en-US' or 'ko'"
    diag.error(f"language '{tag}' is not a BCP 47 language tag: {hint}", path, line)
