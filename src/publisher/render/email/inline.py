"""CSS inlining for the email (premailer), and line folding for the MIME part.

premailer is configured for email and nothing else:

- no network and no files: ``allow_network=False`` (``<link rel=stylesheet>``
  is not even looked at), no ``external_styles``, no base URL, and a session
  that refuses any request, should a future premailer try one anyway;
  ``@import`` is refused before inlining (cssutils would fetch it);
- ``strip_important=False``: the dark-mode and phone rules left in ``<style>``
  need ``!important`` to beat the inlined styles;
- ``disable_basic_attributes`` for ``width``/``height``: premailer would
  otherwise turn ``height: auto`` into ``height="auto"``, overwriting the
  image's pixel height that Outlook uses; ``bgcolor``/``align`` are kept;
- cssutils logs "Unknown Property name" for every ``mso-*`` and vendor property
  of the layout, which email needs on purpose: that one message is filtered
  out of the ``CSSUTILS`` logger, everything else it says still shows.
"""

from __future__ import annotations

import logging
import re
from typing import NoReturn

from publisher.errors import PublisherError

log = logging.getLogger(__name__)


class _QuietUnknownProperties(logging.Filter):
    """Drop cssutils' "Unknown Property name" (``mso-hide``, ``-ms-…``): intended here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Property: Unknown Property name.")


_FILTER = _QuietUnknownProperties()


class _NoNetwork:
    """A ``requests`` stand-in for premailer: the build never fetches anything."""

    def get(self, url: str, *args: object, **kwargs: object) -> NoReturn:
        raise PublisherError(f"the email layout asks premailer to fetch {url}: the build "
                             "never uses the network; put the CSS in layouts/email/email.css")


def inline_css(html: str) -> str:
    """Inline the ``<style>`` rules of ``html`` into ``style`` attributes."""
    if re.search(r"@import\b", html, re.IGNORECASE):
        raise PublisherError("the email layout uses @import, which would fetch a stylesheet; "
                             "put the CSS in layouts/email/email.css")
    import premailer  # imported late: it pulls in cssutils and requests

    cssutils_log = logging.getLogger("CSSUTILS")
    if _FILTER not in cssutils_log.filters:
        cssutils_log.addFilter(_FILTER)
    inliner = premailer.Premailer(
        html,
        allow_network=False,
        allow_loading_external_files=False,
        external_styles=None,
        base_url=None,
        disable_link_rewrites=True,
        strip_important=False,
        keep_style_tags=False,
        disable_validation=True,
        disable_basic_attributes=["width", "height"],
        align_floating_images=False,
        session=_NoNetwork(),
    )
    return inliner.transform(pretty_print=False)


# -- line folding -------------------------------------------------------------

_TOKEN = re.compile(r"""<!--.*?-->|<(?:[^>"']|"[^"]*"|'[^']*')*>|[^<]+|<""", re.DOTALL)
_TAG_NAME = re.compile(r"</?([a-zA-Z0-9]+)")
#: Elements whose text keeps its line breaks: no folding inside them.
_RAW = {"pre", "textarea", "script", "style"}


def fold_lines(html: str, width: int = 78) -> str:
    """Break long lines of serialized HTML where a line break changes nothing.

    A space becomes a line break in text (outside ``pre``, ``textarea``,
    ``script`` and ``style``) and between a tag's attributes, never inside an
    attribute value or a comment (MSO conditional comments stay whole).  So the
    HTML renders the same, and the email's HTML part can go as ``8bit`` with
    short lines, every placeholder intact on one line.  A value longer than a
    line (an editor's 2 KB map link) stays whole: the message then carries the
    part quoted-printable (:mod:`publisher.render.email.mime`).
    """
    out: list[str] = []
    column = 0
    raw: str | None = None

    def emit(piece: str) -> None:
        nonlocal column
        out.append(piece)
        newline = piece.rfind("\n")
        column = len(piece) - newline - 1 if newline >= 0 else column + len(piece)

    for match in _TOKEN.finditer(html):
        token = match.group()
        if token.startswith("<!--"):
            emit(token)
            continue
        if token.startswith("<"):
            name_match = _TAG_NAME.match(token)
            name = name_match.group(1).lower() if name_match else ""
            if raw is not None:
                if token.startswith("</") and name == raw:
                    raw = None
                emit(token)
                continue
            if not token.startswith("</") and name in _RAW:
                raw = name
            pieces = _split_tag(token)
        elif raw is not None:
            emit(token)
            continue
        else:
            pieces = token.split(" ")
        for i, piece in enumerate(pieces):
            if i > 0:
                first_line = piece.split("\n", 1)[0]
                if column + 1 + len(first_line) > width and column > 0:
                    emit("\n")
                else:
                    emit(" ")
            if piece:
                emit(piece)
    return "".join(out)


def _split_tag(tag: str) -> list[str]:
    """A tag split at the spaces between its attributes (outside quoted values)."""
    pieces: list[str] = []
    current: list[str] = []
    quote = ""
    for char in tag:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
            current.append(char)
        elif char == " ":
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return pieces
