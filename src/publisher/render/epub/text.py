"""Language of parts: runs of another script marked with their language.

The EPUB's documents are in the publication's language; Korean words inside
them (``한옥``) are wrapped in ``<span lang="ko" xml:lang="ko">`` so a screen
reader switches voice (WCAG 2.1, 3.1.2 Language of Parts).
"""

from __future__ import annotations

import re

from lxml import etree

XHTML = "http://www.w3.org/1999/xhtml"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# Hangul syllables, jamo and compatibility jamo; words joined by spaces stay one run.
_HANGUL = "\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff"
HANGUL_RUN = re.compile(f"[{_HANGUL}]+(?:\\s+[{_HANGUL}]+)*")

# Elements whose text is phrasing content, where a <span> may stand.
_PHRASING_HOSTS = {f"{{{XHTML}}}{tag}" for tag in (
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "td", "th", "a", "em", "strong", "span",
    "figcaption", "blockquote", "aside", "section", "div", "dd", "dt", "code", "caption",
    "cite", "b", "i", "small", "sup", "sub")}


def mark_language_of_parts(root: etree._Element, pattern: re.Pattern[str], lang: str) -> int:
    """Wrap every match of ``pattern`` in the body's text in a ``span`` of ``lang``."""
    body = root.find(f"{{{XHTML}}}body")
    if body is None:
        return 0
    count = 0
    for element in list(body.iter(f"{{{XHTML}}}*")):
        if element.get("lang") == lang:
            continue
        if element.tag in _PHRASING_HOSTS and element.text and pattern.search(element.text):
            text = element.text
            element.text = None
            count += _insert(element, 0, text, pattern, lang, as_text_of=element)
        parent = element.getparent()
        if (parent is not None and parent.tag in _PHRASING_HOSTS and element.tail
                and pattern.search(element.tail)):
            tail = element.tail
            element.tail = None
            count += _insert(parent, parent.index(element) + 1, tail, pattern, lang,
                             as_tail_of=element)
    return count


def _insert(parent: etree._Element, index: int, text: str, pattern: re.Pattern[str],
            lang: str, as_text_of: etree._Element | None = None,
            as_tail_of: etree._Element | None = None) -> int:
    """Put ``text`` back at ``index`` of ``parent``, its matches as spans."""
    pieces = pattern.split(text)
    matches = pattern.findall(text)
    before = pieces[0]
    if as_text_of is not None:
        as_text_of.text = before
    elif as_tail_of is not None:
        as_tail_of.tail = before
    for n, match in enumerate(matches):
        span = etree.Element(f"{{{XHTML}}}span")
        span.set("lang", lang)
        span.set(XML_LANG, lang)
        span.text = match
        span.tail = pieces[n + 1]
        parent.insert(index + n, span)
    return len(matches)
