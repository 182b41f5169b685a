"""The typographer's quotes, beyond markdown-it's ``smartquotes`` rule.

markdown-it pairs quotation marks: an opening mark with the next closing one.
An apostrophe that stands for omitted letters at the start of a word (``'90s``,
``rock 'n' roll``, ``'tis``) looks to it like an opening quote: it is left
straight when nothing closes it, or set as ‘ and paired with a later apostrophe.
Two core rules around ``smartquotes`` put that right:

* :func:`elisions`, before it: those apostrophes become ’, so they are never
  taken for quotation marks;
* :func:`leftover_quotes`, after it: a straight mark that nothing paired (a
  quotation that runs on into the next paragraph, a stray mark) becomes the
  curly mark its place suggests, so no straight quote is ever printed in prose.
  Code, raw HTML and backslash-escaped marks (``\\"``) are not text tokens and
  keep their straight marks.
"""

from __future__ import annotations

import re
import unicodedata

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

APOSTROPHE = "\u2019"

#: Words that begin with an apostrophe standing for omitted letters ('tis, 'em, 'til).
ELIDED_WORDS = ("tis", "twas", "twere", "twill", "em", "til", "cause", "bout", "nuff", "cept",
                "fraid")

_ELISION = re.compile(
    r"(?<![\w'’‘])'(?=(?:\d\d(?:s|th)?|" + "|".join(ELIDED_WORDS) + r")(?!\w))", re.IGNORECASE)
# rock 'n' roll, fish 'n chips: 'n between words (a quoted letter, "the letter 'n'.", is not).
_AND = re.compile(r"(?<![\w'’‘])'n(')?(?=\s+\w)", re.IGNORECASE)
# the same at the end of a line, the next word on the next line (rock 'n'⏎roll)
_AND_AT_END = re.compile(r"(?<![\w'’‘])'n(')?$", re.IGNORECASE)


def elisions(state: StateCore) -> None:
    """Set the apostrophes of elisions at the start of a word as ’ (before smartquotes)."""
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        children = block.children
        for i, token in enumerate(children):
            if token.type != "text" or "'" not in token.content:
                continue
            text = _ELISION.sub(APOSTROPHE, token.content)
            text = _AND.sub(_curled, text)
            if _a_word_follows(children, i):
                text = _AND_AT_END.sub(_curled, text)
            token.content = text


def _curled(match: re.Match[str]) -> str:
    return match.group().replace("'", APOSTROPHE)


def _a_word_follows(children: list[Token], i: int) -> bool:
    """Is the text token ``children[i]`` followed by a line break, then a word?"""
    if i + 2 >= len(children) or children[i + 1].type not in ("softbreak", "hardbreak"):
        return False
    after = children[i + 2]
    return after.type == "text" and after.content[:1].isalnum()


def leftover_quotes(state: StateCore) -> None:
    """Curl the straight quotes that smartquotes left unpaired (after smartquotes)."""
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        before = " "  # the character before the current one, across tokens of the line
        for token in block.children:
            if token.type in ("softbreak", "hardbreak"):
                before = " "
                continue
            if token.type == "text" and ("'" in token.content or '"' in token.content):
                token.content = _curl(token.content, before)
            if token.content:
                before = token.content[-1]


def _curl(text: str, before: str) -> str:
    out = []
    for char in text:
        if char == '"':
            char = "“" if before.isspace() or _is_opening(before) else "”"
        elif char == "'":
            char = APOSTROPHE  # an unpaired single mark is far more often an apostrophe
        out.append(char)
        before = char
    return "".join(out)


def _is_opening(char: str) -> bool:
    return unicodedata.category(char) in ("Ps", "Pi", "Pd") or char in "/"


def _text_tokens(tokens: list[Token]) -> list[Token]:
    return [child for block in tokens if block.type == "inline"
            for child in block.children or () if child.type == "text"]


def use(md: MarkdownIt) -> None:
    """Add both rules around markdown-it's ``smartquotes``."""
    md.core.ruler.before("smartquotes", "elisions", elisions)
    md.core.ruler.after("smartquotes", "leftover_quotes", leftover_quotes)
