"""The fonts' coverage, read the fast way, is exactly what fontTools reads the usual way."""

from __future__ import annotations

import pytest
from fontTools.ttLib import TTFont

from conftest import LAYOUTS
from publisher.render.fonts import codepoints, covered, font_files, uncovered

FONTS = font_files(LAYOUTS / "fonts")


def test_every_shipped_font_is_found() -> None:
    assert {p.parent.name for p in FONTS} == {"inter", "libertine", "nanum"}
    assert len(FONTS) == 10


@pytest.mark.parametrize("path", FONTS, ids=lambda p: p.name)
def test_codepoints_match_fonttools_own_reading(path) -> None:  # type: ignore[no-untyped-def]
    with TTFont(path) as font:
        expected = frozenset(font.getBestCmap())
    assert codepoints(path) == expected


def test_coverage_is_the_union_and_has_latin_hangul_and_the_copyright_sign() -> None:
    points = covered(LAYOUTS / "fonts")
    assert points == frozenset().union(*(codepoints(p) for p in FONTS))
    assert {ord("K"), ord("’"), ord("ⓒ"), ord("한")} <= points
    assert ord("क") not in points  # Devanagari: no shipped font has it


def test_a_changed_font_file_is_read_again(tmp_path) -> None:  # type: ignore[no-untyped-def]
    inter = next(p for p in FONTS if p.name == "Inter-Regular.otf")
    nanum = next(p for p in FONTS if p.name == "NanumMyeongjo.ttf")
    path = tmp_path / "font.otf"
    path.write_bytes(inter.read_bytes())
    assert ord("한") not in codepoints(path)
    path.write_bytes(nanum.read_bytes())
    assert ord("한") in codepoints(path)


def test_uncovered_finds_what_no_font_has_and_nothing_else() -> None:
    fonts = LAYOUTS / "fonts"
    text = {ord(c) for c in "Korea’s “united response” ⓒ 한옥 — café"}
    assert uncovered(text, fonts) == set()
    assert uncovered(text | {ord("क"), ord("ก")}, fonts) == {ord("क"), ord("ก")}
    everything = covered(fonts)
    sample = set(range(0x20, 0x3000))
    assert uncovered(sample, fonts) == sample - everything
