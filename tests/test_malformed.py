"""A corpus of malformed issues: what an editor gets wrong, each case once.

Every case edits a copy of the fixture issue (``tests/fixtures/issues/2024-01``), beside a
``dist/`` that holds a previous successful build, and runs the real command line, ``check``
and ``build``: the command exits 1, prints ONE line for the problem, ``path:line: what to
fix``, naming the right file and line, shows no traceback, and leaves ``dist/`` byte for
byte as it was.  A warning case runs with ``--strict`` (where a warning fails the run: one
line for the problem, then the line saying that --strict failed on it).  A few cases run
as a subprocess too, as an editor runs ``publisher``.  Inputs that look wrong but are
right (a byte-order mark, CRLF line ends, slugs named like the EPUB's own documents)
check clean.

The cases of another branch (image decompression bombs, layout confinement, a full
disk) belong here too once they land.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from conftest import FIXTURES, LAYOUTS, PROJECT, Run
from publisher.build.builder import Paths, build
from publisher.errors import display_path
from publisher.model import Month

MONTH = "2024-01"
ISSUE = "2024-01/issue.toml"
FEATURES = "2024-01/articles/01-features.md"
CULTURE = "2024-01/articles/02-culture.md"
PUBLICATION = "publication.toml"
FIGURE = "2024-01/images/figure.png"
STRICT_LINE = "warning(s), and --strict fails on them"

Edit = Callable[[Path], Path]  # edits the issues folder; returns the file to blame


def replace(rel: str, old: str, new: str) -> Edit:
    def edit(root: Path) -> Path:
        path = root / rel
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {rel}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        return path
    return edit


def append(rel: str, text: str) -> Edit:
    def edit(root: Path) -> Path:
        path = root / rel
        path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")
        return path
    return edit


def write(rel: str, data: str | bytes) -> Edit:
    def edit(root: Path) -> Path:
        path = root / rel
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        return path
    return edit


def bytes_replace(rel: str, old: bytes, new: bytes) -> Edit:
    def edit(root: Path) -> Path:
        path = root / rel
        data = path.read_bytes()
        assert old in data
        path.write_bytes(data.replace(old, new, 1))
        return path
    return edit


def both(first: Edit, second: Edit) -> Edit:
    """``first``, then ``second``, whose file is the one to blame."""
    def edit(root: Path) -> Path:
        first(root)
        return second(root)
    return edit


def figure_as(data: Callable[[Path], bytes]) -> Edit:
    """The figure's file replaced by ``data(old file)``; the article referring to it blamed."""
    def edit(root: Path) -> Path:
        path = root / FIGURE
        path.write_bytes(data(path))
        return root / FEATURES
    return edit


def _bmp(path: Path) -> bytes:
    out = path.with_suffix(".bmp")
    Image.new("RGB", (40, 30), (10, 20, 30)).save(out)
    data = out.read_bytes()
    out.unlink()
    return data


def _png_with_a_huge_text_chunk(path: Path) -> bytes:
    """A PNG with an ICC profile of 2 MB unpacked: Pillow raises ValueError (not OSError)
    on opening it."""
    import struct
    import zlib

    data = path.read_bytes()
    body = b"icc\0\0" + zlib.compress(b"x" * 2_000_000)
    chunk = (struct.pack(">I", len(body)) + b"iCCP" + body
             + struct.pack(">I", zlib.crc32(b"iCCP" + body)))
    end = 8 + 25  # the signature and the IHDR chunk
    return data[:end] + chunk + data[end:]


def link(rel: str, target: Callable[[Path], str]) -> Edit:
    """``rel`` replaced by a symbolic link to ``target(issues folder)``."""
    def edit(root: Path) -> Path:
        path = root / rel
        outside = root.parent / "elsewhere"
        outside.mkdir(exist_ok=True)
        (outside / "stray.md").write_bytes(path.read_bytes())  # a good article, elsewhere
        path.unlink()
        path.symlink_to(target(root))
        return path
    return edit


def _toml_link(root: Path) -> Path:
    """issue.toml moved out of the issue folder, a link left in its place."""
    path = root / ISSUE
    moved = root.parent / "elsewhere" / "issue.toml"
    moved.parent.mkdir(exist_ok=True)
    moved.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(moved)
    return path


@dataclass(frozen=True)
class Case:
    edit: Edit
    line: int | str | None  # the line, or a text on it in the edited file, or None: no line
    words: tuple[str, ...]
    warning: bool = False  # a warning: the command fails under --strict


SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30">'
       '<rect width="40" height="30" fill="red"/></svg>\n')
FEATURE_FIGURE = "![A red test card](images/figure.png"

CASES: dict[str, Case] = {
    # -- issue.toml ---------------------------------------------------------------------
    "issue.toml: invalid TOML": Case(
        replace(ISSUE, 'Year"\n', "Year\n"), 2, ("malformed TOML",)),
    "issue.toml: a key given twice": Case(
        replace(ISSUE, 'issue_number = "Vol. 2 No. 1"\n',
                'issue_number = "Vol. 2 No. 1"\nmonth = "2024-01"\n'), 6, ("malformed TOML",)),
    "issue.toml: unknown key": Case(
        replace(ISSUE, "issue_number =", "issue_nmuber ="), 5, ("unknown field 'issue_nmuber'",)),
    "issue.toml: no cover_story": Case(
        replace(ISSUE, 'cover_story = "A \\"New\\" Year"\n', ""), 1,
        ("missing required field 'cover_story'",)),
    "issue.toml: no month": Case(
        replace(ISSUE, 'month = "2024-01"\n', ""), 1, ("missing required field 'month'",)),
    "issue.toml: month of another folder": Case(
        replace(ISSUE, 'month = "2024-01"', 'month = "2024-02"'), 1,
        ("month '2024-02' does not match the folder name '2024-01'",)),
    "issue.toml: month not YYYY-MM": Case(
        replace(ISSUE, 'month = "2024-01"', 'month = "January 2024"'), 1, ("YYYY-MM",)),
    "issue.toml: date as a string": Case(
        replace(ISSUE, "issue_number", 'date = "2024-01-15"\nissue_number'), 5,
        ("'date' must be a TOML date",)),
    "issue.toml: a date that does not exist": Case(
        replace(ISSUE, "issue_number", "date = 2024-02-30\nissue_number"), 5,
        ("malformed TOML",)),
    "issue.toml: sections as a string": Case(
        replace(ISSUE, 'sections = ["Features", "Culture"]', 'sections = "Features"'), 4,
        ("'sections' must be a list of strings",)),
    "issue.toml: cover_lines as a number": Case(
        replace(ISSUE, 'cover_lines = ["Tables, footnotes and pull quotes", "서울 in Hangul"]',
                "cover_lines = 3"), 3, ("'cover_lines' must be a list of strings",)),
    "issue.toml: no sections": Case(
        replace(ISSUE, 'sections = ["Features", "Culture"]\n', ""), 1,
        ("no 'sections' list", 'sections = ["Features", "Culture"]')),
    "issue.toml: a section listed twice": Case(
        replace(ISSUE, '"Culture"]', '"Culture", "Features"]'), 4,
        ("section 'Features' is listed twice",)),
    "issue.toml: cover image missing": Case(
        replace(ISSUE, "images/cover.png", "images/nope.png"), 11, ("not found",)),
    "issue.toml: cover image outside the issue": Case(
        replace(ISSUE, "images/cover.png", "../../../../etc/hostname"), 11,
        ("leaves the issue folder",)),
    "issue.toml: cover image without alt": Case(
        replace(ISSUE, 'alt = "A blue test card"\n', ""), 11, ("no alt text",)),
    "issue.toml: cover_image as a string": Case(
        both(replace(ISSUE, '[cover_image]\nfile = "images/cover.png"\nalt = "A blue test '
                            'card"\ncredit = "ⓒ Test Studio"\n', ""),
             replace(ISSUE, "issue_number", 'cover_image = "images/cover.png"\nissue_number')),
        5, ("'cover_image' must be a table",)),
    "issue.toml: ticker link not a URL": Case(
        replace(ISSUE, "https://example.org/one", "example.org/one"), 17,
        ("ticker link 'example.org/one' must be an http(s) URL",)),
    "issue.toml: ticker item without a headline": Case(
        replace(ISSUE, 'headline = "Ticker item two, without a link"', ""), 19,
        ("missing required field 'ticker.headline'",)),
    "issue.toml: ticker key misspelt": Case(
        replace(ISSUE, 'link = "https://example.org/one"', 'lnk = "https://example.org/one"'),
        17, ("unknown field 'ticker.lnk'",)),
    "issue.toml: not UTF-8": Case(
        bytes_replace(ISSUE, b"Ticker item one", b"Ticker caf\xe9"), 16, ("not UTF-8", "0xE9")),
    "issue.toml: mojibake": Case(
        replace(ISSUE, "Ticker item one", "Korea\u00a1\u00afs news"), 16,
        ("mojibake", "’", "check --fix")),
    "issue.toml: a BEL through an escape": Case(
        replace(ISSUE, '"Vol. 2 No. 1"', '"Vol. 2\\u0007 No. 1"'), 5,
        ("U+0007 BELL", "escape in 'issue_number'", "delete it")),
    "issue.toml: an ESC through an escape in the second ticker item": Case(
        replace(ISSUE, "item two, without", "item two\\u001b without"), "item two",
        ("U+001B ESCAPE", "escape in 'ticker.headline'")),
    "issue.toml: an ESC as it is": Case(
        replace(ISSUE, "Ticker item one", "Ticker \x1b[1mitem one"), 16,
        ("U+001B ESCAPE", "delete it")),
    "issue.toml: a footnote marker in the cover story": Case(
        replace(ISSUE, 'Year"\n', 'Year[^1]"\n'), 2,
        ("footnote marker [^1] in 'cover_story'",), warning=True),
    "issue.toml: a character no font has": Case(
        replace(ISSUE, "Ticker item one", "Ticker ☃ one"), 16,
        ("character '☃' (U+2603 SNOWMAN) has no glyph",)),
    # -- publication.toml ---------------------------------------------------------------
    "publication.toml: invalid TOML": Case(
        replace(PUBLICATION, 'title = "KOREA"', "title = KOREA"), 1, ("malformed TOML",)),
    "publication.toml: a required field missing": Case(
        replace(PUBLICATION, 'sender_address = "sender@example.org"\n', ""), 1,
        ("missing required field 'sender_address'",)),
    "publication.toml: unknown key": Case(
        replace(PUBLICATION, "issn =", "isnn ="), 9, ("unknown field 'isnn'",)),
    "publication.toml: trim not a number": Case(
        append(PUBLICATION, '\n[trim]\nbleed_mm = "3mm"\n'), 12,
        ("trim.bleed_mm must be a positive number",)),
    "publication.toml: an ESC through an escape": Case(
        replace(PUBLICATION, '"1 Test Street', '"1 Test\\u001b Street'), 8,
        ("U+001B ESCAPE", "delete it")),
    "publication.toml: trim width 0": Case(
        append(PUBLICATION, "\n[trim]\nwidth_mm = 0\n"), 12,
        ("trim.width_mm = 0 is out of range", "from 50 to 1000")),
    "publication.toml: trim height 1e9": Case(
        append(PUBLICATION, "\n[trim]\nheight_mm = 1e9\n"), 12,
        ("trim.height_mm = 1000000000.0 is out of range",)),
    "publication.toml: trim width nan": Case(
        append(PUBLICATION, "\n[trim]\nwidth_mm = nan\n"), 12, ("trim.width_mm = nan",)),
    "publication.toml: trim height inf": Case(
        append(PUBLICATION, "\n[trim]\nheight_mm = inf\n"), 12, ("trim.height_mm = inf",)),
    "publication.toml: bleed 25 mm": Case(
        append(PUBLICATION, "\n[trim]\nbleed_mm = 25\n"), 12, ("from 0 to 20",)),
    "publication.toml: language en_US": Case(
        replace(PUBLICATION, 'language = "en"', 'language = "en_US"'), 3,
        ("language 'en_US' is not a BCP 47 language tag", "write 'en-US'")),
    "publication.toml: language English": Case(
        replace(PUBLICATION, 'language = "en"', 'language = "English"'), 3,
        ("language 'English' is not a BCP 47", "'en', 'en-US' or 'ko'")),
    "publication.toml: language english!!": Case(
        replace(PUBLICATION, 'language = "en"', 'language = "english!!"'), 3,
        ("language 'english!!' is not a BCP 47",)),
    "publication.toml: language not registered": Case(
        replace(PUBLICATION, 'language = "en"', 'language = "xx"'), 3,
        ("language 'xx' is not a BCP 47",)),
    # -- archive-only issues ------------------------------------------------------------
    "archive: cover image missing": Case(
        replace("2023-12/issue.toml", "pdf_url", 'cover_image = "images/nope.png"\npdf_url'), 3,
        ("cover image 'images/nope.png' not found",)),
    "archive: a file where the cover image's folder should be": Case(
        both(write("2023-12/images", "not a folder\n"),
             replace("2023-12/issue.toml", "pdf_url", 'cover_image = "images/c.png"\npdf_url')),
        3, ("cover image 'images/c.png': 2023-12/images is a file where a folder is expected",)),
    "archive: an SVG cover image": Case(
        both(write("2023-12/drawing.svg", SVG),
             replace("2023-12/issue.toml", "pdf_url", 'cover_image = "drawing.svg"\npdf_url')),
        3, ("cover image 'drawing.svg' is SVG", "use JPEG, PNG, GIF or WebP")),
    # -- front matter ---------------------------------------------------------------------
    "front matter: a BEL through a YAML escape": Case(
        replace(CULTURE, "title: Culture", 'title: "Cul\\ature"'), 2,
        ("U+0007 BELL", "escape in 'title'", "delete it")),
    "front matter: a lone surrogate through a YAML escape": Case(
        replace(CULTURE, "title: Culture", 'title: "Cul\\ud800ture"'), 2,
        ("U+D800 a lone SURROGATE", "delete it")),
    "front matter: a control character through a TOML escape": Case(
        write(CULTURE, '+++\ntitle = "Cul\\u0008ture"\nsection = "Culture"\n'
                       'byline = "Lee"\n+++\n\nText.\n\n## Hanok\n\nA hanok.\n'), 2,
        ("U+0008 BACKSPACE",)),
    "front matter: a footnote marker in the dek": Case(
        replace(FEATURES, "dek: A dek -- with", "dek: A dek[^a] -- with"), 4,
        ("footnote marker [^a] in 'dek' would be printed as written",), warning=True),
    "front matter: a footnote marker in the title": Case(
        replace(CULTURE, "title: Culture", "title: Culture[^1]"), 2,
        ("footnote marker [^1] in 'title'",), warning=True),
    "front matter: a footnote marker in the lead image's caption": Case(
        replace(FEATURES, "caption: The lead caption.", "caption: The lead caption.[^2]"), 10,
        ("footnote marker [^2] in 'lead_image.caption'",), warning=True),
    "front matter: invalid YAML": Case(
        replace(FEATURES, "section: Features", "section: [Features"), 3,
        ("malformed front matter",)),
    "front matter: not closed": Case(
        replace(CULTURE, "byline: Lee Jun-ho\n---\n", "byline: Lee Jun-ho\n\n"), 1,
        ("front matter is not closed",)),
    "front matter: none": Case(
        write(CULTURE, "Text about culture, and no front matter.\n"), 1,
        ("missing front matter",)),
    "front matter: after a blank line": Case(
        bytes_replace(CULTURE, b"---\ntitle", b"\n---\ntitle"), 1,
        ("the front matter must start on the first line: delete the blank line before its "
         "'---' on line 2",)),
    "front matter: after blank lines of white space": Case(
        bytes_replace(CULTURE, b"---\ntitle", b" \n\t\n---\ntitle"), 1,
        ("delete the 2 blank lines before its '---' on line 3",)),
    "front matter: after a byte-order mark on a line of its own": Case(
        bytes_replace(CULTURE, b"---\ntitle", b"\xef\xbb\xbf\n\xef\xbb\xbf---\ntitle"), 1,
        ("delete the blank line and the invisible byte-order mark (U+FEFF) before its '---' "
         "on line 2",)),
    "front matter: after two byte-order marks": Case(
        bytes_replace(CULTURE, b"---\ntitle", b"\xef\xbb\xbf\xef\xbb\xbf---\ntitle"), 1,
        ("delete the invisible byte-order mark (U+FEFF) before its '---' on line 1",)),
    "front matter: invalid TOML between +++": Case(
        write(CULTURE, "+++\ntitle = Culture\n+++\n\nText.\n"), 2, ("malformed front matter",)),
    "front matter: a list, not fields": Case(
        write(CULTURE, "---\n- title\n- section\n---\n\nText.\n"), 2,
        ("expected 'key: value' lines",)),
    "front matter: unknown key": Case(
        replace(CULTURE, "byline: Lee", "bylin: X\nbyline: Lee"), "bylin:",
        ("unknown field 'bylin'",)),
    "front matter: a key given twice": Case(
        replace(CULTURE, "byline: Lee Jun-ho\n", "byline: Lee Jun-ho\ntitle: Again\n"), 5,
        ("field 'title' is given twice (also on line 2)",)),
    "front matter: no title": Case(
        replace(CULTURE, "title: Culture\n", ""), 1, ("missing required field 'title'",)),
    "front matter: title is a list": Case(
        replace(CULTURE, "title: Culture", "title: [Cul, ture]"), 2, ("'title' must be text",)),
    "front matter: lead_image as a string": Case(
        replace(FEATURES, "lead_image:\n  file: images/lead.png\n  alt: A green test card\n"
                          "  caption: The lead caption.\n  credit: ⓒ Test Studio\n",
                "lead_image: images/lead.png\n"), 7, ("'lead_image' must be a table",)),
    "front matter: lead image key misspelt": Case(
        replace(FEATURES, "  caption:", "  captoin:"), 10,
        ("unknown field 'lead_image.captoin'",)),
    "front matter: lead image focus out of range": Case(
        replace(FEATURES, "  credit: ⓒ Test Studio\n",
                "  credit: ⓒ Test Studio\n  focus: 1.5, 0.2\n"),
        12, ("'lead_image.focus' must be two numbers from 0 to 1",)),
    "front matter: lead image focus not two numbers": Case(
        replace(FEATURES, "  credit: ⓒ Test Studio\n",
                "  credit: ⓒ Test Studio\n  focus: left\n"),
        12, ("'lead_image.focus' must be two numbers from 0 to 1",)),
    "front matter: lead image without alt": Case(
        replace(FEATURES, "  alt: A green test card\n", ""), 8, ("no alt text",)),
    "front matter: section not listed": Case(
        replace(CULTURE, "section: Culture", "section: Cultur"), 3,
        ("section 'Cultur' is not in the 'sections' list",)),
    "front matter: two articles with one slug": Case(
        replace(CULTURE, "byline: Lee Jun-ho", "byline: Lee Jun-ho\nslug: features"),
        "slug: features", ("two articles have the slug 'features'",)),
    # -- files ------------------------------------------------------------------------------
    "article: not UTF-8": Case(
        bytes_replace(CULTURE, b"Text about culture.", b"Text about caf\xe9 culture."), 7,
        ("not UTF-8", "0xE9")),
    "article: mojibake": Case(
        replace(CULTURE, "Text about culture.", "Korea\u00a1\u00afs culture."), 7,
        ("mojibake", "’", "check --fix")),
    "article: empty": Case(
        write(CULTURE, "---\ntitle: Culture\nsection: Culture\nbyline: Lee Jun-ho\n---\n\n"), 6,
        ("empty article",)),
    "article: an ESC pasted from a terminal": Case(
        replace(CULTURE, "Text about culture.", "Text \x1b[0m about \x1b[1m culture."), 7,
        ("U+001B ESCAPE is a control character", "delete it")),
    "article: two control characters on a line": Case(
        replace(CULTURE, "Text about culture.", "Text\x07 about\x00 culture."), 7,
        ("U+0007 BELL, U+0000 NULL are characters", "delete them")),
    "article: a noncharacter": Case(
        replace(CULTURE, "Text about culture.", "Text about\uffff culture."), 7,
        ("U+FFFF a NONCHARACTER",)),
    "article: zero bytes": Case(write(CULTURE, b""), 1, ("missing front matter",)),
    "article: a file not ending in .md": Case(
        write("2024-01/articles/03-draft.markdown", "---\ntitle: Draft\n---\n"), None,
        ("only files ending in '.md' are articles",), warning=True),
    # -- images -----------------------------------------------------------------------------
    "image: missing": Case(
        replace(FEATURES, "images/figure.png", "images/nope.png"), 28, ("not found",)),
    "image: a file where its folder should be": Case(
        both(write("2024-01/pics", "not a folder\n"),
             replace(FEATURES, "images/figure.png", "pics/figure.png")), 28,
        ("image 'pics/figure.png': 2024-01/pics is a file where a folder is expected",)),
    "image: outside the issue folder": Case(
        replace(FEATURES, "images/figure.png", "../../../../etc/hostname"), 28,
        ("leaves the issue folder",)),
    "image: an absolute path": Case(
        replace(FEATURES, "images/figure.png", "/etc/hostname"), 28, ("absolute path",)),
    "image: a URL": Case(
        replace(FEATURES, "images/figure.png", "https://example.org/x.png"), 28, ("is a URL",)),
    "image: not an image": Case(
        figure_as(lambda _: b"GIF? no, just some text\n"), 28,
        ("is not a readable image file",)),
    "image: cut short": Case(
        figure_as(lambda p: p.read_bytes()[: p.stat().st_size // 2]), 28, ("is damaged",)),
    "image: zero bytes": Case(figure_as(lambda _: b""), 28, ("is not a readable image file",)),
    "image: a PNG whose ICC chunk Pillow refuses (ValueError)": Case(
        figure_as(_png_with_a_huge_text_chunk), 28, ("is not a readable image file",)),
    "image: a format the formats cannot show": Case(
        figure_as(_bmp), 28, ("is BMP: use JPEG, PNG, GIF or WebP",)),
    "image: an SVG drawing": Case(
        both(write("2024-01/images/drawing.svg", SVG),
             replace(FEATURES, "images/figure.png", "images/drawing.svg")), 28,
        ("image 'images/drawing.svg' is SVG", "use JPEG, PNG, GIF or WebP")),
    "image: an SVG drawing saved as .png": Case(
        figure_as(lambda _: b'<?xml version="1.0"?>\n' + SVG.encode()), 28,
        ("image 'images/figure.png' is SVG", "use JPEG, PNG, GIF or WebP")),
    "issue.toml: an SVG cover image": Case(
        both(write("2024-01/images/drawing.svg", SVG),
             replace(ISSUE, "images/cover.png", "images/drawing.svg")), 11,
        ("image 'images/drawing.svg' is SVG", "use JPEG, PNG, GIF or WebP")),
    "image: a file: URL": Case(
        replace(FEATURES, "images/figure.png", "file:///etc/passwd"), 28,
        ("image 'file:///etc/passwd' uses the 'file:' scheme",)),
    "image: named like an editor's litter": Case(
        replace(FEATURES, "images/figure.png", "images/._figure.png"), 28,
        ("named like a file an editor's system leaves behind", "rename it")),
    "image: a footnote marker in its caption": Case(
        replace(FEATURES, "The figure caption.", "The figure caption.[^9]"), 28,
        ("footnote marker [^9] in 'caption'",), warning=True),
    "image: no alt text": Case(
        replace(FEATURES, "![A red test card]", "![]"), 28, ("no alt text",)),
    "image: inside a paragraph": Case(
        replace(CULTURE, "Text about culture.", "Text ![a card](images/figure.png) here."), 7,
        ("must stand alone in its paragraph",)),
    "image: a space in its path": Case(
        replace(FEATURES, "images/figure.png", "images/the figure.png"), 28,
        ("is not read as an image", "<...>"), warning=True),
    "image: an unknown attribute": Case(
        replace(FEATURES, '{credit="ⓒ Figure Credit"}', '{credit="ⓒ Figure Credit" width=3}'),
        28, ("unknown image attribute 'width'",), warning=True),
    # -- links ------------------------------------------------------------------------------
    "link: to a missing article": Case(
        replace(CULTURE, "Text about culture.", "See [x](03-gone.md)."), 7,
        ("broken link '03-gone.md'",)),
    "link: to a missing subhead": Case(
        replace(CULTURE, "Text about culture.", "See [x](#nowhere)."), 7,
        ("broken link '#nowhere'", "has no subhead 'nowhere'")),
    "link: to a missing subhead of another article": Case(
        replace(FEATURES, "02-culture.md#hanok", "02-culture.md#hanoi"), 15,
        ("broken link '02-culture.md#hanoi'",)),
    "link: a reference with no definition": Case(
        replace(CULTURE, "Text about culture.", "See [the site][site]."), 7,
        ("'[the site][site]' is not read as a link", "'[site]: URL'"), warning=True),
    "link: a javascript: URL": Case(
        replace(CULTURE, "Text about culture.", "See [x](javascript:alert(1))."), 7,
        ("uses the 'javascript:' scheme",)),
    # -- body -------------------------------------------------------------------------------
    "body: raw HTML": Case(
        replace(CULTURE, "Text about culture.", "Text <b>about</b> culture."), 7,
        ("raw HTML '<b>'",), warning=True),
    "body: a footnote without a definition": Case(
        replace(CULTURE, "Text about culture.", "Text about culture.[^1]"), 7,
        ("footnote [^1] has no definition",), warning=True),
    "body: a footnote never referenced": Case(
        append(CULTURE, "\n[^1]: A note no text refers to.\n"), 13,
        ("footnote [^1] is never referenced",), warning=True),
    "body: a footnote defined twice": Case(
        both(replace(CULTURE, "Text about culture.", "Text about culture.[^1]"),
             append(CULTURE, "\n[^1]: One.\n\n[^1]: Two.\n")), 15,
        ("footnote [^1] is defined twice (also on line 13)", "would be left out"),
        warning=True),
    "body: a GitHub callout": Case(
        append(CULTURE, "\n> [!NOTE]\n> Useful information.\n"), 13,
        ("'> [!NOTE]' is a GitHub/Obsidian callout", "'::: pullquote Name'"), warning=True),
    "body: an Obsidian pull quote callout": Case(
        append(CULTURE, "\n> [!pullquote] Lee Jun-ho\n> A line worth setting large.\n"), 13,
        ("'> [!pullquote]' is a GitHub/Obsidian callout",), warning=True),
    "body: a container that does not exist": Case(
        append(CULTURE, "\n::: note\nA note.\n:::\n"), 13,
        ("'::: note' is not a container",), warning=True),
    "body: a pull quote never closed": Case(
        replace(FEATURES, 'large."\n:::\n', 'large."\n'), 24, ("never closed",), warning=True),
    "body: a '#' title in the body": Case(
        replace(CULTURE, "## Hanok", "# Hanok"), 9, ("a '#' heading in the body",),
        warning=True),
    "body: a character no font has": Case(
        replace(CULTURE, "Text about culture.", "Text about culture ☃."), 7,
        ("character '☃' (U+2603 SNOWMAN) has no glyph",)),
    "body: an emoji with its variation selector": Case(
        replace(CULTURE, "Text about culture.", "Text about culture ❄️."), 7,
        ("emoji sequence '❄️' (U+2744 U+FE0F: SNOWFLAKE) has no glyph",)),
    "body: an emoji ZWJ sequence": Case(
        replace(CULTURE, "Text about culture.", "A family 👨‍👩‍👧."), 7,
        ("emoji sequence '👨‍👩‍👧'", "MAN + WOMAN + GIRL")),
    "body: a joiner at the end of a line, after a character no font has": Case(
        replace(CULTURE, "Text about culture.", "Text about culture ☃\u200d\nand more."), 7,
        ("character '☃' (U+2603 SNOWMAN) has no glyph",)),
    "file: an article that is a link out of the issue folder": Case(
        link(CULTURE, lambda root: str(root.parent / "elsewhere" / "stray.md")), None,
        ("is a link to '", "elsewhere/stray.md', outside the issue folder")),
    "file: an article that is a link to nothing": Case(
        link(CULTURE, lambda root: "gone.md"), None,
        ("is a link to 'gone.md', which does not exist",)),
    "file: issue.toml a link out of the issue folder": Case(
        _toml_link, None, ("is a link to '", "elsewhere/issue.toml', outside the issue folder")),
    "issue.toml: a date decades from the month (a typo of the year)": Case(
        replace(ISSUE, 'month = "2024-01"\n', 'month = "2024-01"\ndate = 1924-01-01\n'),
        "date = ", ("'date' 1924-01-01 is not near the issue's month 2024-01",
                    "from 2023-12-01 to 2024-02-29")),
    "front matter: a slug with no letter or digit": Case(
        replace(CULTURE, "section: Culture\n", "section: Culture\nslug: '---'\n"), "slug:",
        ("slug '---' has no letter or digit",)),
    "file: a name with no letter or digit to make a slug of": Case(
        lambda root: Path(shutil.copy(root / CULTURE,
                                      root / CULTURE.replace("02-culture", "03-!!!"))),
        1,
        ("the file name has no letter or digit", "set 'slug'")),
    "body: a character no font has, written as a character reference": Case(
        replace(CULTURE, "Text about culture.", "Text about culture &#x2603;."), 7,
        ("character '☃' (U+2603 SNOWMAN) has no glyph",)),
    "front matter: a character no font has, written as a YAML escape": Case(
        replace(CULTURE, "title: Culture", 'title: "Culture \\u2603"'), 2,
        ("character '☃' (U+2603 SNOWMAN) has no glyph",)),
    "publication.toml: a base_url that is no URL": Case(
        replace(PUBLICATION, 'base_url = "https://example.org/korea/"',
                'base_url = "example.org/korea"'), "base_url",
        ("'base_url' 'example.org/korea' is not an http(s) URL",)),
    "publication.toml: a sender_address that is no address": Case(
        replace(PUBLICATION, 'sender_address = "sender@example.org"',
                'sender_address = "Webzine KOREA"'), "sender_address",
        ("'sender_address' 'Webzine KOREA' is not an email address",)),
}


@pytest.fixture(scope="module")
def built_issue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture issues and a dist/ with their last successful build (every format)."""
    root = tmp_path_factory.mktemp("malformed-template")
    shutil.copytree(FIXTURES, root / "issues")
    paths = Paths(issues=root / "issues", layouts=LAYOUTS, dist=root / "dist")
    assert build(Month.parse(MONTH), paths)
    return root


@pytest.fixture
def workspace(built_issue: Path, tmp_path: Path) -> Paths:
    shutil.copytree(built_issue, tmp_path, dirs_exist_ok=True)
    return Paths(issues=tmp_path / "issues", layouts=LAYOUTS, dist=tmp_path / "dist")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _line_of(path: Path, line: int | str | None) -> int | None:
    if not isinstance(line, str):
        return line
    for number, text in enumerate(path.read_bytes().split(b"\n"), 1):
        if line.encode() in text:
            return number
    raise AssertionError(f"{line!r} not in {path}")


def assert_one_problem(run: Run, case: Case, blamed: Path, shown: str | None = None) -> None:
    """One line for the problem, at ``blamed`` (shown as ``shown``: the path as the
    command's working folder makes it)."""
    assert run.status == 1, run.err
    assert "Traceback" not in run.err
    lines = run.err_lines
    if case.warning:
        assert lines[-1].startswith("error: ") and lines[-1].endswith(STRICT_LINE), lines
        lines = lines[:-1]
    assert len(lines) == 1, lines
    (problem,) = lines
    kind = "warning" if case.warning else "error"
    line = _line_of(blamed, case.line)
    shown = shown or display_path(blamed)
    where = f"{shown}:{line}: " if line else f"{shown}: "
    assert problem.startswith(f"{kind}: {where}"), (problem, where)
    message = problem.removeprefix(f"{kind}: {where}")
    for word in case.words:
        assert word in message, (word, message)


@pytest.mark.parametrize("command", ["check", "build"])
@pytest.mark.parametrize("name", list(CASES))
def test_malformed_input_gives_one_line_and_leaves_dist_alone(name, command, workspace, cli):
    case = CASES[name]
    before = snapshot(workspace.dist)
    assert f"{MONTH}/korea-{MONTH}.epub" in before  # a previous build is there
    blamed = case.edit(workspace.issues)
    strict = ("--strict",) if case.warning else ()
    run = cli(command, MONTH, *strict, paths=workspace)
    assert_one_problem(run, case, blamed)
    assert snapshot(workspace.dist) == before


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.warning])
def test_a_warning_alone_does_not_fail_check(name, workspace, cli):
    CASES[name].edit(workspace.issues)
    run = cli("check", MONTH, paths=workspace)
    assert run.status == 0, run.err
    assert [line.split(":", 1)[0] for line in run.err_lines] == ["warning"]


@pytest.mark.parametrize("name", ["issue.toml: invalid TOML", "front matter: invalid YAML",
                                  "image: cut short", "body: a character no font has",
                                  "body: a GitHub callout"])
def test_as_a_command_no_traceback_and_dist_alone(name, workspace):
    """``publisher build`` as an editor runs it: in the project folder, default paths."""
    case = CASES[name]
    before = snapshot(workspace.dist)
    blamed = case.edit(workspace.issues)
    shutil.copytree(LAYOUTS, workspace.issues.parent / "layouts")
    strict = ["--strict"] if case.warning else []
    result = subprocess.run(
        [sys.executable, "-m", "publisher", "build", MONTH, *strict],
        cwd=workspace.issues.parent, capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": str(PROJECT / "src")}, timeout=300)
    run = Run(result.returncode, result.stdout, result.stderr)
    # the path as the editor sees it: relative to the project folder
    assert_one_problem(run, case, blamed, str(blamed.relative_to(workspace.issues.parent)))
    assert snapshot(workspace.dist) == before


# -- what looks wrong but is right ------------------------------------------------------

ACCEPTED: dict[str, Edit] = {
    "a byte-order mark": bytes_replace(CULTURE, b"---", b"\xef\xbb\xbf---"),
    "a byte-order mark in issue.toml": bytes_replace(ISSUE, b"month", b"\xef\xbb\xbfmonth"),
    "CRLF line ends": lambda root: write(CULTURE, (root / CULTURE).read_bytes().replace(
        b"\n", b"\r\n"))(root),
    "CRLF line ends in issue.toml": lambda root: write(ISSUE, (root / ISSUE).read_bytes().replace(
        b"\n", b"\r\n"))(root),
    "slugs named like the EPUB's own documents": both(
        write("2024-01/articles/03-cover.md", "---\ntitle: Cover\nsection: Culture\n"
              "byline: A. Writer\n---\n\nText.\n"),
        write("2024-01/articles/04-x.md", "---\ntitle: Nav\nsection: Culture\n"
              "byline: A. Writer\nslug: nav\n---\n\nText.\n")),
    "a reference-style link": replace(CULTURE, "Text about culture.",
                                      "See [the site][site].\n\n[site]: https://example.org"),
    "an elision and a quotation": replace(CULTURE, "Text about culture.",
                                          "Rock 'n' roll in the '90s: 'tis \"all\" 'fine'."),
}


def _decomposed_file_name(root: Path) -> Path:
    """The figure saved as macOS may name it (NFD: e + U+0301), referred to composed (NFC)."""
    (root / FIGURE).rename(root / "2024-01/images" / unicodedata.normalize("NFD", "café.png"))
    return replace(FEATURES, "images/figure.png", unicodedata.normalize("NFC", "images/café.png"))(
        root)


ACCEPTED["a file name decomposed (NFD) referred to composed (NFC)"] = _decomposed_file_name


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_what_looks_wrong_but_is_right_checks_clean(name, workspace, cli):
    ACCEPTED[name](workspace.issues)
    run = cli("check", MONTH, "--strict", paths=workspace)
    assert run.status == 0, run.err
    assert run.err_lines == []


@pytest.mark.parametrize("command", ["check", "build"])
@pytest.mark.parametrize("month", ["2023-13", "23-08", "foo"])
def test_a_malformed_month_is_a_usage_error(command, month, workspace, cli):
    """The command line's MONTH is checked before anything is read: exit 2 (usage)."""
    before = snapshot(workspace.dist)
    run = cli(command, month, paths=workspace)
    assert run.status == 2 and "Traceback" not in run.err
    (line,) = run.err_lines
    assert line.startswith(f"error: month '{month}' ")
    assert snapshot(workspace.dist) == before


# -- files that cannot be read ----------------------------------------------------------

#: Root reads every file whatever its mode: run the command without the capabilities that
#: let it (util-linux's setpriv), so that chmod 000 means what it means to an editor.
UNPRIVILEGED = ("setpriv", "--inh-caps=-dac_override,-dac_read_search",
                "--bounding-set=-dac_override,-dac_read_search")


def _unprivileged_works(tmp_path: Path) -> None:
    """Fail, loudly, when this machine cannot run a command without root's override."""
    assert shutil.which("setpriv"), "setpriv (util-linux) is needed to test unreadable files"
    probe = tmp_path / "probe"
    probe.write_text("x")
    probe.chmod(0)
    result = subprocess.run([*UNPRIVILEGED, "cat", str(probe)], capture_output=True,
                            check=False)
    assert result.returncode != 0, "setpriv did not drop root's override of file modes"


@pytest.mark.parametrize("command", ["check", "build"])
@pytest.mark.parametrize("what", ["article", "image", "images folder", "layout"])
def test_an_unreadable_file_is_a_read_error_not_a_write_error(what, command, workspace,
                                                                tmp_path):
    _unprivileged_works(tmp_path)
    top = workspace.issues.parent
    layouts = top / "layouts"
    shutil.copytree(LAYOUTS, layouts)
    before = snapshot(workspace.dist)
    if what == "article":
        locked, blamed = top / "issues" / CULTURE, f"issues/{CULTURE}: "
        advice = "make the file readable"
    elif what == "image":
        locked, advice = top / "issues" / FIGURE, "make the file readable"
        # check reads it from the article's line; build, keying the cache, from the file
        blamed = f"issues/{FEATURES}:28: image 'images/figure.png': " if command == "check" \
            else f"issues/{FIGURE}: "
    elif what == "images folder":
        locked = top / "issues" / "2024-01/images"
        blamed = f"issues/{ISSUE}:11: image 'images/cover.png': " if command == "check" \
            else "issues/2024-01/images: "
        advice = "make the folder it is in readable" if command == "check" \
            else "make the folder readable"
    else:  # check reads no layout file
        locked, blamed = layouts / "email" / "email.html", "layouts/email/email.html: "
        advice = "make the file readable"
    (top / "issues" / CULTURE).write_text((top / "issues" / CULTURE).read_text() + "\nMore.\n")
    locked.chmod(0)
    try:
        result = subprocess.run(
            [*UNPRIVILEGED, sys.executable, "-m", "publisher", command, MONTH, "--issues",
             "issues", "--layouts", "layouts", "--dist", "dist"],
            cwd=top, capture_output=True, text=True, check=False,
            env={**os.environ, "PYTHONPATH": str(PROJECT / "src")}, timeout=300)
    finally:
        locked.chmod(0o755 if locked.is_dir() else 0o644)
    if what == "layout" and command == "check":
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "cannot write" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: {blamed}cannot read: Permission denied ({advice})", lines
    # one line, or one per reference to a file of the folder (the cover, the lead, the figure)
    assert len(lines) == (3 if what == "images folder" and command == "check" else 1), lines
    assert all("cannot read: Permission denied" in line for line in lines), lines
    assert snapshot(workspace.dist) == before
