"""Markdown that markdown-it leaves as text, or drops, without a word.

markdown-it never fails: what it cannot read it prints as written (a footnote
reference without a definition, ``[x](javascript:…)``, ``![a](my photo.jpg)``,
``[text][label]`` with no label, ``::: note``, a GitHub callout's ``[!NOTE]``) or
leaves out (a footnote never referenced).  Each is reported here with its file and
line, as a warning (an error under ``--strict``), or an error for a URL scheme no
format may carry.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markdown_it.token import Token

from publisher.diagnostics import Diagnostics
from publisher.source.files import URL_SCHEME

#: The URL schemes a link may have (beside links inside the issue).
LINK_SCHEMES = ("http", "https", "mailto")

# A footnote reference markdown-it did not match (no definition).
_FOOTNOTE_REF = re.compile(r"\[\^([^\]\s]+)\]")
# A footnote definition at the start of a line: [^1]: the note.
_FOOTNOTE_DEF = re.compile(r"^ {0,3}\[\^([^\]\s]+)\]:", re.MULTILINE)
# A link or image markdown-it did not read (a space in its path, a javascript: URL).
_UNPARSED_LINK = re.compile(r"!?\[[^\]\n]*\]\((?P<target>[^)\n]*)\)")
# A reference-style link whose label has no definition: [text][label], [text][].
_UNDEFINED_REFERENCE = re.compile(r"\[(?P<text>[^\]\n^]+)\]\[(?P<label>[^\]\n^]*)\]")
# A GitHub/Obsidian callout's marker, first in a block quote: > [!NOTE], > [!pullquote]-
_CALLOUT = re.compile(r"\[![A-Za-z][\w-]*\][+-]?")


@dataclass(frozen=True)
class Place:
    """Where a body's problems are reported: its file, the lines before the body, the
    line being read (for what has no line of its own), and the diagnostics."""

    path: Path
    offset: int
    line: int
    diag: Diagnostics

    def line_in(self, block: Token, text: str) -> int:
        """The file line of ``text`` inside the inline ``block`` (its first line when the
        text is not found as written)."""
        if not block.map:
            return self.line
        at = max(block.content.find(text), 0)
        return self.offset + block.map[0] + 1 + block.content.count("\n", 0, at)

    def warn(self, message: str, line: int | None) -> None:
        self.diag.warn(message, self.path, line)


def scheme_message(href: str, scheme: str, kind: str = "link") -> str:
    if kind == "image":
        return (f"image '{href}' uses the '{scheme}:' scheme: an image is a file of the issue "
                "folder, as 'images/photo.jpg'")
    return (f"link '{href}' uses the '{scheme}:' scheme: only http, https, mailto and links "
            "to articles or headings are allowed")


def check_leftovers(text: str, tokens: Sequence[Token], env: dict[str, Any],
                    place: Place) -> None:
    """Report what markdown-it left as text in ``tokens`` (parsed from ``text`` with
    ``env``), and the footnote definitions it dropped."""
    for block in tokens:
        if block.type != "inline" or not block.children:
            continue
        if block.content.startswith(":::"):
            first = block.content.splitlines()[0]
            place.warn(f"'{first}' is not a container this pipeline knows (it would be "
                       "printed as written): a pull quote is '::: pullquote Name', the "
                       "quotation, then ':::'", place.line_in(block, first))
        for child in block.children:
            if child.type == "text":
                _check_text(child.content, block, place)
    refs = env.get("footnotes", {}).get("refs", {})
    for key, md_id in refs.items():
        if md_id >= 0:
            continue
        label = key.removeprefix(":")
        match = re.search(rf"^ {{0,3}}\[\^{re.escape(label)}\]:", text, re.MULTILINE)
        line = place.offset + text.count("\n", 0, match.start()) + 1 if match else None
        place.warn(f"footnote [^{label}] is never referenced (it would be left out): put "
                   f"[^{label}] in the text where the note belongs, or remove it", line)
    _check_defined_twice(text, place)


def _check_defined_twice(text: str, place: Place) -> None:
    """A footnote defined twice: markdown-it keeps the first and drops the second."""
    first: dict[str, int] = {}
    for found in _FOOTNOTE_DEF.finditer(text):
        label = found.group(1)
        line = place.offset + text.count("\n", 0, found.start()) + 1
        if label in first:
            place.warn(f"footnote [^{label}] is defined twice (also on line {first[label]}): "
                       "this definition would be left out; give it its own label or remove "
                       "it", line)
        first.setdefault(label, line)


def check_plain_text(value: str, field: str, path: Path, line: int | None,
                     diag: Diagnostics) -> None:
    """A field that is plain text, not Markdown (a title, a dek, a caption): a footnote
    marker there would be printed as written."""
    for found in _FOOTNOTE_REF.finditer(value):
        diag.warn(f"footnote marker {found.group()} in '{field}' would be printed as written "
                  "(footnotes work in the article text only): move it into the text or remove "
                  "it", path, line)


def _check_text(content: str, block: Token, place: Place) -> None:
    for found in _UNPARSED_LINK.finditer(content):
        _unparsed_link(found, place, place.line_in(block, found.group()))
    for found in _UNDEFINED_REFERENCE.finditer(content):
        label = found.group("label") or found.group("text")
        place.warn(f"{found.group()!r} is not read as a link: there is no line '[{label}]: "
                   "URL' defining it (it would be printed as written)",
                   place.line_in(block, found.group()))
    for found in _FOOTNOTE_REF.finditer(content):
        label = found.group(1)
        place.warn(f"footnote [^{label}] has no definition (it would be printed as written): "
                   f"add a line '[^{label}]: the note' below the text, or remove the reference",
                   place.line_in(block, found.group()))


def _unparsed_link(found: re.Match[str], place: Place, line: int) -> None:
    """A ``[text](target)`` left as text: a space in the path, or a URL markdown-it
    refuses (``javascript:``, ``file:``)."""
    target = found.group("target").strip()
    scheme = URL_SCHEME.match(target)
    if scheme:  # the destination, without a title after it
        target = target.split()[0]
    kind = "image" if found.group().startswith("!") else "link"
    if scheme and scheme.group(1).lower() not in LINK_SCHEMES:
        place.diag.error(scheme_message(target, scheme.group(1).lower(), kind), place.path,
                         line)
    elif re.search(r"\s", target):
        what = "an image" if kind == "image" else "a link"
        place.warn(f"{found.group()!r} is not read as {what}: Markdown allows no space in a "
                   "path (write it in <...>, as '(<images/my photo.jpg>)', or rename the file)",
                   line)


def check_callout(inner: Sequence[Token], place: Place) -> None:
    """A block quote (``inner``, its tokens) that is a GitHub/Obsidian callout
    (``> [!NOTE]``): say what the pipeline's own syntax is."""
    first = next((t for t in inner if t.type == "inline"), None)
    found = _CALLOUT.match(first.content) if first is not None else None
    if found is None:
        return
    marker = found.group()
    place.warn(f"'> {marker}' is a GitHub/Obsidian callout, not supported here (it would be "
               f"printed as a quote starting '{marker}'): for a pull quote write '::: pullquote "
               f"Name', the quotation, then ':::'; for a block quote remove '{marker}'",
               place.line)
