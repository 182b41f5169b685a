"""The glyph check: check and build name every character the layout's fonts lack."""

from __future__ import annotations

import pytest

from conftest import LAYOUTS
from publisher.errors import display_path
from publisher.render.glyphs import clusters, missing_glyphs

FONTS = LAYOUTS / "fonts"
CULTURE = "2024-01/articles/02-culture.md"
ISSUE = "2024-01/issue.toml"


@pytest.mark.parametrize("text, expected", [
    ("ab", ["a", "b"]),
    ("e\u0301x", ["e\u0301", "x"]),
    ("❤️!", ["❤️", "!"]),
    ("🇰🇷🇯🇵", ["🇰🇷", "🇯🇵"]),
    ("👨‍👩‍👧 ok", ["👨‍👩‍👧", " ", "o", "k"]),
    ("1️⃣2", ["1️⃣", "2"]),
    ("👍🏽", ["👍🏽"]),
    ("🏴󠁧󠁢󠁳󠁣󠁴󠁿", ["🏴󠁧󠁢󠁳󠁣󠁴󠁿"]),
])
def test_clusters_keep_sequences_whole(text, expected):
    assert list(clusters(text)) == expected


def test_missing_names_sequences_once_and_never_an_invisible_code_point():
    missing = missing_glyphs("Seoul ☃ 🇰🇷 👨‍👩‍👧 ☃ 👍🏽 1️⃣ ❄️ 韓 é", FONTS)
    described = [item.describe() for item in missing]
    assert described == [
        "character '☃' (U+2603 SNOWMAN)",
        "flag '🇰🇷' (U+1F1F0 U+1F1F7: KR)",
        "emoji sequence '👨‍👩‍👧' (U+1F468 U+200D U+1F469 U+200D U+1F467: MAN + WOMAN + GIRL)",
        "emoji sequence '👍🏽' (U+1F44D U+1F3FD: THUMBS UP SIGN + "
        "EMOJI MODIFIER FITZPATRICK TYPE-4)",
        "emoji sequence '1️⃣' (U+0031 U+FE0F U+20E3: DIGIT ONE + COMBINING ENCLOSING KEYCAP)",
        "emoji sequence '❄️' (U+2744 U+FE0F: SNOWFLAKE)",
        "character '韓' (U+97D3 CJK UNIFIED IDEOGRAPH-97D3)",
    ]
    assert not any(item.describe().startswith("character '\ufe0f'") for item in missing)


def _append(path, text):
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


@pytest.mark.parametrize("command", ["check", "build"])
def test_check_and_build_name_every_missing_character_with_its_line(command, fixture_copy,
                                                                    cli):
    culture = fixture_copy.issues / CULTURE
    _append(culture, "\nA flag 🇰🇷 and ☃.\n\nAgain ☃ and ❄️.\n")  # lines 13 and 15
    issue = fixture_copy.issues / ISSUE
    issue.write_text(issue.read_text(encoding="utf-8").replace(
        'cover_story = "A \\"New\\" Year"', 'cover_story = "A \\"New\\" Year 🎉"'),
        encoding="utf-8")
    run = cli(command, "2024-01", paths=fixture_copy)
    assert run.status == 1 and "Traceback" not in run.err
    fonts = f"({display_path(LAYOUTS / 'fonts')}/)"
    tail = f"has no glyph in the layout's fonts {fonts}: replace it, or add a font that has it"
    assert run.err_lines == [
        f"error: {issue}:2: character '🎉' (U+1F389 PARTY POPPER) {tail}",
        f"error: {culture}:13: flag '🇰🇷' (U+1F1F0 U+1F1F7: KR) {tail}",
        f"error: {culture}:13: character '☃' (U+2603 SNOWMAN) {tail} (also on line 15)",
        f"error: {culture}:15: emoji sequence '❄️' (U+2744 U+FE0F: SNOWFLAKE) {tail}",
    ]
    assert not fixture_copy.dist.exists()
