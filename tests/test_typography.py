"""The typographer: curly quotes and apostrophes, elisions included."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publisher import model as m
from publisher.diagnostics import Diagnostics
from publisher.source.markdown import BodyConverter, smarten


@pytest.mark.parametrize("source, expected", [
    # elisions: the apostrophe stands for omitted letters
    ("the '90s", "the ’90s"),
    ("the '90s' sound", "the ’90s’ sound"),
    ("back in '23 we", "back in ’23 we"),
    ("rock 'n' roll", "rock ’n’ roll"),
    ("Rock 'N' Roll", "Rock ’N’ Roll"),
    ("fish 'n chips", "fish ’n chips"),
    ("'Tis the season", "’Tis the season"),
    ("'twas night", "’twas night"),
    ("give 'em hell", "give ’em hell"),
    ("wait 'til dawn", "wait ’til dawn"),
    ("'cause I said", "’cause I said"),
    ("’cause I said", "’cause I said"),
    ("goin' home", "goin’ home"),
    ("it's the editor's", "it’s the editor’s"),
    ("'Tis goin' home, 'she said'", "’Tis goin’ home, ‘she said’"),
    ("He said \"the '60s were great\".", "He said “the ’60s were great”."),
    # genuine quotations stay quotations
    ("'like this'", "‘like this’"),
    ("‘like this’", "‘like this’"),
    ("the letter 'n'.", "the letter ‘n’."),
    ("'Emma,' she said", "‘Emma,’ she said"),
    ("say \"hi\" now", "say “hi” now"),
    ("(\"in brackets\")", "(“in brackets”)"),
    ("\"'Nested' quotes\"", "“‘Nested’ quotes”"),
    # unpaired marks: still curled, by their place
    ("a \"quotation that runs on", "a “quotation that runs on"),
    ("ends here\" then", "ends here” then"),
    ("a lone ' mark", "a lone ’ mark"),
    ("\"", "“"),
    ("5'10\"", "5’10”"),
])
def test_smarten(source, expected):
    assert smarten(source) == expected


def _convert(text: str) -> tuple[m.Block, ...]:
    def no_images(*_args: Any) -> None:
        return None

    return BodyConverter("a", Path("a.md"), 0, {}, no_images, Diagnostics()).convert(text).blocks


def _prose(node: Any) -> list[str]:
    """The text of every Text node under ``node`` (code left out)."""
    if isinstance(node, m.Text):
        return [node.text]
    if isinstance(node, m.Code | m.CodeBlock):
        return []
    if isinstance(node, tuple | list):
        return [t for child in node for t in _prose(child)]
    if dataclasses.is_dataclass(node):
        return [t for f in dataclasses.fields(node) for t in _prose(getattr(node, f.name))]
    return []


def test_body_quotes_and_code():
    blocks = _convert("It's the '90s: \"rock 'n' roll\" and `print('x')`.\n\n"
                      "    code 'stays' \"straight\"\n")
    para, code = blocks
    assert m.plain_text(para.children) == "It’s the ’90s: “rock ’n’ roll” and print('x')."
    assert code == m.CodeBlock("code 'stays' \"straight\"")


@pytest.mark.parametrize("source, expected", [
    ("rock 'n'\nroll", "rock ’n’ roll"),  # the next word on the next line
    ("fish 'n\nchips", "fish ’n chips"),
    ("the letter 'n'\n\nNext.", "the letter ‘n’"),  # a paragraph ends: a quoted letter
    ("the letter 'n'\n(said twice)", "the letter ‘n’ (said twice)"),
])
def test_an_elision_at_the_end_of_a_line(source, expected):
    para = _convert(source)[0]
    assert m.plain_text(para.children).replace("\n", " ") == expected


def test_escaped_quote_stays_straight():
    (para,) = _convert('A \\"straight\\" mark.')
    assert m.plain_text(para.children) == 'A "straight" mark.'


_WORDS = st.sampled_from(["the", "'90s", "rock", "'n'", "'tis", "'em", "it's", "goin'", "a",
                          "'23", "Seoul", "'cause", "’til", "'", '"', "''", '""', "(", ")",
                          "—", ",", ".", "*", "_", "\n", "\n\n", "-", "1.", ">", "#", ":"])
_PROSE = st.lists(st.one_of(_WORDS, st.text(alphabet="abcXYZ09'\" .,;:?!()-", max_size=8)),
                  max_size=30).map(" ".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_PROSE)
def test_no_straight_quote_survives_in_prose(text):
    for piece in _prose(_convert(text)):
        assert "'" not in piece and '"' not in piece, (text, piece)
    smart = smarten(text.replace("\n", " "))
    assert "'" not in smart and '"' not in smart, (text, smart)


def test_front_matter_prose_is_smartened(fixture_copy):
    from publisher.source.reader import read_issue

    path = fixture_copy.issues / "2024-01" / "articles" / "02-culture.md"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "title: Culture\n", "title: \"Rock 'n' roll in the '90s\"\n").replace(
        "byline: Lee Jun-ho", "byline: Kim O'Brien"), encoding="utf-8")
    culture = read_issue(fixture_copy.issues, m.Month(2024, 1)).articles[1]
    assert (culture.title, culture.byline) == ("Rock ’n’ roll in the ’90s", "Kim O’Brien")
