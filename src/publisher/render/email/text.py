"""The plain-text alternative, converted by inscriptis from the email's own HTML.

The text comes from the same rendered HTML as the HTML part (before inlining),
so both parts always say the same.  Elements marked ``no-text`` (the hidden
preheader, the "view in browser" bar) are left out, as are images (their
captions stay), and layout tables (``role="presentation"``) are read as the
blocks they stand for; every link to a
URL is followed by the URL, ``text <URL>``, so a reader of the text sees where
it goes (links inside the email keep their words only; note calls read ``[1]``).
Paragraphs are wrapped at 76 columns, never inside a word or URL, so every
placeholder stays whole on one line.
"""

from __future__ import annotations

import re
import textwrap

from lxml import html as lxml_html

WIDTH = 76
_INDENT = re.compile(r"^(\s*(?:[*+\-•]|\d+\.)?\s*)")


def text_part(html: str) -> str:
    """The plain-text version of the email's HTML."""
    from inscriptis import Inscriptis
    from inscriptis.css_profiles import CSS_PROFILES
    from inscriptis.model.config import ParserConfig

    tree = lxml_html.document_fromstring(html)
    for element in tree.xpath('//*[contains(concat(" ", normalize-space(@class), " "), '
                              '" no-text ")] | //head'):
        element.drop_tree()
    # A place inside the email is no URL to a reader of text: keep the words only.
    for ref in tree.xpath('//sup[contains(@class, "noteref")]'):
        number, tail = ref.text_content().strip(), ref.tail
        ref.clear()
        ref.text, ref.tail = f"[{number}]", tail
    for link in tree.xpath('//a[starts-with(@href, "#")]'):
        if "back" in (link.get("class") or "").split():
            link.drop_tree()
        else:
            link.drop_tag()
    # Every other link is followed by its URL in angle brackets (RFC 3986, appendix C),
    # which plain-text readers and mail clients recognise.
    for link in tree.xpath('//a[@href and not(starts-with(@href, "#"))]'):
        url, words = link.get("href"), _normal(link.text_content())
        link.tail = (f" <{url}>" if words != url else "") + (link.tail or "")
    # A rule before each article and each section of the back matter.
    for block in tree.xpath('//td[contains(" article downloads archive footer ", '
                            'concat(" ", @class, " "))]'):
        rule = lxml_html.Element("p")
        rule.text = "-" * WIDTH
        block.insert(0, rule)
    # Layout tables are not tables to a reader: their cells become blocks, one a line.
    for table in tree.xpath('//table[@role="presentation"]'):
        for element in table.xpath("./tr | ./tbody/tr | ./tr/td | ./tbody/tr/td | ./tbody"):
            element.tag = "div"
        table.tag = "div"
    config = ParserConfig(css=CSS_PROFILES["strict"], display_links=False, display_images=False)
    text = Inscriptis(tree, config).get_text()
    return _wrap(text)


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _wrap(text: str) -> str:
    lines: list[str] = []
    for line in text.splitlines():
        line = line.rstrip()
        if len(line) <= WIDTH:
            lines.append(line)
            continue
        indent = _INDENT.match(line).group(1)  # type: ignore[union-attr]
        lines.extend(textwrap.wrap(line, WIDTH, initial_indent="",
                                   subsequent_indent=" " * len(indent),
                                   break_long_words=False, break_on_hyphens=False))
    # No runs of blank lines, no blank lines at either end.
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return out + "\n"
