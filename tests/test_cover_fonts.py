"""The EPUB cover is set in the fonts the layout declares (@font-face), not in font
files it names itself: without the Hangul font an issue without Hangul builds, and one
with Hangul stops with one line per character at the line of the text."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import FIXTURES, LAYOUTS
from epub_support import Epub
from publisher.build.builder import Paths, build
from publisher.errors import PublisherError, SourceErrors
from publisher.model import Month
from publisher.render.epub.cover import cover_jpeg
from publisher.render.fontfaces import declared_faces, matching
from publisher.source.reader import read_issue

JAN = Month(2024, 1)
HANGUL_RULES = re.compile(r"/\* ---- Publisher Hangul.*", re.DOTALL)


def _without_hangul_font(root: Path, *, keep_files: bool = False) -> Path:
    """A copy of the layouts without the Hangul font's @font-face rules (and files)."""
    layouts = root / "layouts"
    shutil.copytree(LAYOUTS, layouts)
    css = layouts / "fonts" / "fonts.css"
    text, count = HANGUL_RULES.subn("", css.read_text(encoding="utf-8"))
    assert count == 1 and "nanum/" not in text
    css.write_text(text, encoding="utf-8")
    if not keep_files:
        shutil.rmtree(layouts / "fonts" / "nanum")
    return layouts


def _latin_only(issues: Path) -> None:
    """The fixture issue with every character only the Hangul font has replaced."""
    for path in (issues / "2024-01").rglob("*.[mt][do]*"):
        text = path.read_text(encoding="utf-8")
        text = text.replace("서울 in Hangul", "Seoul in Latin").replace(" (한옥)", "")
        path.write_text(text.replace("ⓒ", "©"), encoding="utf-8")


def test_without_the_hangul_font_an_issue_without_hangul_builds(tmp_path, fixture_copy):
    layouts = _without_hangul_font(tmp_path)
    _latin_only(fixture_copy.issues)
    paths = Paths(fixture_copy.issues, layouts, fixture_copy.dist)
    [written] = build(JAN, paths, ["epub"])
    book = Epub(written.read_bytes())
    cover = book.read(book.href("images/cover-image.jpg"))
    assert cover[:2] == b"\xff\xd8" and len(cover) > 10_000


def test_without_the_hangul_font_hangul_text_is_one_line_per_character(tmp_path, fixture_copy,
                                                                         cli):
    layouts = _without_hangul_font(tmp_path)
    toml = fixture_copy.issues / "2024-01" / "issue.toml"
    issue = read_issue(fixture_copy.issues, JAN)
    with pytest.raises(SourceErrors) as failure:
        cover_jpeg(issue, layouts)
    assert [str(e).split(" of the ")[0] for e in failure.value.errors] == [
        f"{toml}:3: character '서' (U+C11C HANGUL SYLLABLE SEO)",
        f"{toml}:3: character '울' (U+C6B8 HANGUL SYLLABLE UL)"]
    assert str(failure.value.errors[0]).endswith(
        f"cover lines has no glyph in the fonts the layout declares "
        f"({layouts / 'fonts' / 'fonts.css'}), which the EPUB cover is set in: replace it, "
        "or declare a font that has it")
    # and through the command line, where the source's glyph check (publisher.render.glyphs)
    # speaks first: the cover lines, and the article's Hangul too
    run = cli("build", "2024-01", "--format", "epub",
              paths=Paths(fixture_copy.issues, layouts, fixture_copy.dist))
    assert run.status == 1
    article = fixture_copy.issues / "2024-01" / "articles" / "02-culture.md"
    located = [line.split(": character ")[0] for line in run.err_lines]
    assert set(located) == {f"error: {toml}:3", f"error: {article}:11"}, run.err
    assert "Traceback" not in run.err
    assert not fixture_copy.dist.exists()


def test_a_font_file_present_but_not_declared_is_not_used(tmp_path):
    layouts = _without_hangul_font(tmp_path, keep_files=True)
    with pytest.raises(SourceErrors) as failure:
        cover_jpeg(read_issue(FIXTURES, JAN), layouts)
    assert len(failure.value.errors) == 2


def test_the_faces_follow_the_declarations_nearest_weight_first():
    faces = declared_faces(LAYOUTS / "fonts" / "fonts.css", LAYOUTS)
    assert len(faces) == 10 and {f.family for f in faces} == {
        "Publisher Serif", "Publisher Sans", "Publisher Hangul"}
    chain = matching(faces, ("Publisher Serif", "Publisher Hangul"), 700)
    assert [f.path.name for f in chain] == [
        "LinLibertine_RB.otf", "NanumMyeongjoBold.ttf", "Inter-Bold.otf"]
    assert matching(faces, ("Publisher Sans",), 400)[0].path.name == (
        "Inter-Regular.otf")


@pytest.mark.parametrize("src, problem", [
    ('url("nanum/missing.ttf")', "'nanum/missing.ttf' names no file"),
    ('url("../../outside.ttf")', "'../../outside.ttf' leads outside"),
])
def test_a_bad_font_declaration_names_its_line(tmp_path, src, problem):
    layouts = tmp_path / "layouts"
    shutil.copytree(LAYOUTS, layouts)
    css = layouts / "fonts" / "fonts.css"
    text = css.read_text(encoding="utf-8")
    css.write_text(text.replace('url("nanum/NanumMyeongjo.ttf")', src, 1), encoding="utf-8")
    line = text.splitlines().index('  src: url("nanum/NanumMyeongjo.ttf") format("truetype");') + 1
    with pytest.raises(PublisherError) as failure:
        cover_jpeg(read_issue(FIXTURES, JAN), layouts)
    assert str(failure.value).startswith(f"{css}:{line}: {problem}")


def test_a_declared_file_that_is_no_font_names_its_rule(tmp_path):
    layouts = tmp_path / "layouts"
    shutil.copytree(LAYOUTS, layouts)
    (layouts / "fonts" / "libertine" / "LinLibertine_RB.otf").write_bytes(b"not a font")
    css = layouts / "fonts" / "fonts.css"
    line = css.read_text().splitlines().index(
        '  src: url("libertine/LinLibertine_RB.otf") format("opentype");') + 1
    with pytest.raises(PublisherError) as failure:
        cover_jpeg(read_issue(FIXTURES, JAN), layouts)
    assert str(failure.value).startswith(
        f"{css}:{line}: 'libertine/LinLibertine_RB.otf' is not a font file that can be read")
