"""The references a layout file makes to other files, each with its line.

A *resource* is something a renderer or a reader's program fetches or embeds
to show the page: a stylesheet (``<link>``, ``@import``), an image (``src``,
``srcset``, ``background``, CSS ``url()``, ``image-set()``), a font
(``@font-face src``), a VML fill in an Outlook conditional comment.  A
*hyperlink* (``<a href>``, ``<link rel=alternate>``) is only followed when a
reader chooses to: it is not a resource and is not listed here.

Some markup makes a reader's program send a request of its own, whatever the
address: ``ping`` (a request on every click: click tracking), a form's
``action``/``formaction``, ``manifest``, ``<meta http-equiv=refresh>`` (a
redirect), ``<base href>`` (every relative address leads elsewhere) and
``<link rel=dns-prefetch|preconnect|prefetch|preload|prerender|modulepreload>``.
No layout may use them: they are listed with :attr:`Reference.refused` saying why.

Both CSS (tinycss2, escapes decoded as a browser decodes them) and HTML or
XHTML (the standard library's tolerant parser, character references decoded)
are read; Jinja2 template code in a value is kept as written and the value is
marked :attr:`Reference.dynamic`: only the rendered output can tell where it
points (:mod:`publisher.render.confine` checks that too).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import tinycss2

CSS_SUFFIXES = frozenset({".css"})
MARKUP_SUFFIXES = frozenset({".html", ".htm", ".xhtml", ".xml", ".svg"})

#: Attributes whose value is fetched, on any element (HTML, SVG, VML).
_RESOURCE_ATTRIBUTES = frozenset({"src", "srcset", "imagesrcset", "poster", "background",
                                  "lowsrc", "dynsrc", "xlink:href"})
#: Elements whose ``href`` is fetched (``<a href>`` is a hyperlink; ``<link>`` depends on rel).
_HREF_RESOURCES = frozenset({"link", "image", "use", "feimage", "script"})
#: Attributes that make the reader's program send a request of its own, on any element.
_REQUEST_ATTRIBUTES = {
    "ping": "is click tracking (a request to it on every click)",
    "action": "sends a form to an address",
    "formaction": "sends a form to an address",
    "manifest": "makes the reader's program fetch an application cache",
}
#: ``<link rel=…>`` values that make the reader's program connect or fetch ahead.
_REQUEST_RELS = frozenset({"dns-prefetch", "preconnect", "prefetch", "preload", "prerender",
                           "modulepreload"})
#: ``<link rel=…>`` values that make it a hyperlink, not a resource.
_HYPERLINK_RELS = frozenset({"alternate", "author", "bookmark", "canonical", "external",
                             "help", "license", "me", "next", "nofollow", "noopener",
                             "noreferrer", "prev", "search", "shortlink", "tag"})
#: CSS functions whose string arguments are URLs.
_CSS_URL_FUNCTIONS = frozenset({"url", "src", "image", "image-set", "-webkit-image-set",
                                "cross-fade"})
_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)
_CONDITIONAL = re.compile(r"\[if[^\]]*\]>(.*?)<!\[endif\]", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class Reference:
    """One reference to a resource: the URL as a browser reads it, and where it is."""

    url: str
    line: int
    what: str  # how it is made: "url()", "@import", "<img src>", …
    dynamic: bool = False  # holds template code: judged on the rendered output
    refused: str | None = None  # why no layout may have it at all, whatever it names

    @property
    def literal_prefix(self) -> str:
        """The part before any template code (all of it when not dynamic)."""
        return re.split(r"\{[{%]", self.url, maxsplit=1)[0]


def _is_dynamic(value: str) -> bool:
    return "{{" in value or "{%" in value


# -- CSS ---------------------------------------------------------------------------------


def css_references(text: str, first_line: int = 1, *,
                   declarations: bool = False) -> list[Reference]:
    """Every resource ``text`` (a stylesheet, or with ``declarations`` a ``style``
    attribute's value) refers to."""
    if declarations:
        nodes: list[Any] = tinycss2.parse_component_value_list(text, skip_comments=True)
    else:
        nodes = tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True)
    return [Reference(url, line + first_line - 1, what, _is_dynamic(url))
            for url, line, what in _css_walk(nodes)]


def _css_walk(nodes: Iterable[Any]) -> Iterator[tuple[str, int, str]]:
    for node in nodes:
        kind = node.type
        if kind == "at-rule":
            keyword = node.lower_at_keyword
            if keyword == "namespace":  # a namespace name, never fetched
                continue
            if keyword == "import":  # @import "x.css" or @import url(x.css)
                for token in node.prelude:
                    if token.type in ("string", "url"):
                        yield token.value, token.source_line, "@import"
                        break
                    if token.type == "function" and token.lower_name == "url":
                        yield from ((url, line, "@import") for url, line, _ in
                                    _css_walk([token]))
                        break
            else:
                yield from _css_walk(node.prelude)
            yield from _css_walk(node.content or ())
        elif kind == "qualified-rule":
            yield from _css_walk(node.prelude)
            yield from _css_walk(node.content)
        elif kind == "url":
            yield node.value, node.source_line, "url()"
        elif kind == "error" and node.kind == "bad-url":
            # a url() a browser drops: report it rather than guess what it meant
            yield "url(…)", node.source_line, "a malformed url() (quote its address)"
        elif kind == "function":
            name = node.lower_name
            if name in _CSS_URL_FUNCTIONS:
                for token in node.arguments:
                    if token.type == "string":
                        yield token.value, token.source_line, f"{name}()"
            yield from _css_walk(node.arguments)
        elif kind in ("() block", "[] block", "{} block"):
            yield from _css_walk(node.content)


# -- HTML, XHTML and templates of them ----------------------------------------------------


def markup_references(text: str, first_line: int = 1) -> list[Reference]:
    """Every resource an HTML or XHTML text (or a Jinja2 template of one) refers to:
    resource attributes, ``<link>`` stylesheets and icons, ``style`` attributes and
    elements, and markup inside Outlook's conditional comments."""
    # Jinja2 comments go (their lines kept): a commented-out tag is never rendered.
    text = _JINJA_COMMENT.sub(lambda m: "\n" * m.group().count("\n"), text)
    parser = _Parser(first_line)
    parser.feed(text)
    parser.close()
    return parser.found


class _Parser(HTMLParser):
    def __init__(self, first_line: int):
        super().__init__(convert_charrefs=True)
        self._line_offset = first_line - 1
        self.found: list[Reference] = []
        self._style: tuple[int, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0] + self._line_offset
        raw = self.get_starttag_text() or ""
        values = {name: value or "" for name, value in attrs}
        for name, value in attrs:
            if value is None:
                continue
            at = line + _line_in_tag(raw, name)
            refused = _request(tag, name, values)
            if refused is not None:
                self.found.append(Reference(value, at, refused[0], _is_dynamic(value),
                                            refused[1]))
            elif name == "style":
                self.found += css_references(value, at, declarations=True)
            elif name in ("srcset", "imagesrcset"):
                for candidate in _srcset(value):
                    self._add(candidate, at, f"<{tag} {name}>")
            elif (name in _RESOURCE_ATTRIBUTES
                  or (name == "href" and tag in _HREF_RESOURCES
                      and not (tag == "link" and _is_hyperlink(values.get("rel", ""))))
                  or (name == "data" and tag == "object")):
                self._add(value, at, f"<{tag} {name}>")
        if tag == "style":
            self._style = (line, [])

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "style":
            self._style = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "style" and self._style is not None:
            line, parts = self._style
            self.found += css_references("".join(parts), line)
            self._style = None

    def handle_data(self, data: str) -> None:
        if self._style is not None:
            self._style[1].append(data)

    def handle_comment(self, data: str) -> None:
        # <!--[if mso]> … <![endif]-->: Outlook renders what is inside, VML fills and all.
        line = self.getpos()[0] + self._line_offset
        for match in _CONDITIONAL.finditer(data):
            inner_line = line + data.count("\n", 0, match.start(1))
            self.found += markup_references(match.group(1), inner_line)

    def _add(self, value: str, line: int, what: str) -> None:
        if value.strip():
            self.found.append(Reference(value, line, what, _is_dynamic(value)))


def _request(tag: str, name: str, values: dict[str, str]) -> tuple[str, str] | None:
    """How an attribute makes the reader's program send a request of its own, and why
    that is refused; ``None`` for any other attribute."""
    if name in _REQUEST_ATTRIBUTES:
        return f"<{tag} {name}>", _REQUEST_ATTRIBUTES[name]
    if tag == "base" and name == "href":
        return "<base href>", "makes every relative address of the page lead elsewhere"
    if (tag == "meta" and name == "content"
            and values.get("http-equiv", "").strip().lower() == "refresh"):
        return ('<meta http-equiv="refresh">',
                "reloads the page or sends the reader elsewhere on its own")
    if tag == "link" and name == "href":
        rels = sorted(_REQUEST_RELS.intersection(values.get("rel", "").lower().split()))
        if rels:
            return (f'<link rel="{rels[0]}">',
                    "makes the reader's program connect or fetch ahead on its own")
    return None


def _is_hyperlink(rel: str) -> bool:
    tokens = rel.lower().split()
    return bool(tokens) and all(token in _HYPERLINK_RELS for token in tokens)


def _line_in_tag(raw: str, name: str) -> int:
    """Lines between the start of a tag and its attribute ``name``."""
    match = re.search(rf"(?<![\w:-]){re.escape(name)}\s*=", raw, re.IGNORECASE)
    return raw.count("\n", 0, match.start()) if match else 0


def _srcset(value: str) -> list[str]:
    """The URLs of a ``srcset``, parsed as the HTML standard's "parse a srcset attribute"
    does (a candidate's descriptor is optional: ``a.png 2x,https://x/p.gif`` is two URLs)."""
    urls = []
    i, n = 0, len(value)
    while i < n:
        while i < n and (value[i].isspace() or value[i] == ","):
            i += 1
        start = i
        while i < n and not value[i].isspace():
            i += 1
        url = value[start:i]
        if url.endswith(","):  # no descriptors: the candidate ends here
            url = url.rstrip(",")
        else:  # descriptors, up to the next comma outside parentheses
            depth = 0
            while i < n and (depth or value[i] != ","):
                depth += {"(": 1, ")": -1}.get(value[i], 0) if depth or value[i] == "(" else 0
                i += 1
        if url:
            urls.append(url)
    return urls
