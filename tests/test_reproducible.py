"""The same source gives byte-identical outputs, wherever the project is checked out,
and whether the formats render side by side or one after another."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pypdf

from conftest import ISSUES, LAYOUTS
from publisher.build.builder import Paths, build
from publisher.model import Month


def _checkout(root: Path) -> Paths:
    shutil.copytree(ISSUES, root / "issues")
    shutil.copytree(LAYOUTS, root / "layouts")
    return Paths(issues=root / "issues", layouts=root / "layouts", dist=root / "dist")


def _outputs(paths: Paths) -> dict[str, bytes]:
    folder = paths.dist / "2023-08"
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_checkouts_in_different_places_build_the_same_bytes(built_2023_08: Paths,
                                                                 tmp_path: Path) -> None:
    """The first checkout is the session's ``built_2023_08`` (the issues copied to a
    temporary folder, the project's layouts, the formats rendered side by side); the
    second a copy of both somewhere else entirely, rendered one after another."""
    second = _checkout(tmp_path / "somewhere" / "else" / "entirely")
    assert second.layouts != built_2023_08.layouts and second.issues != built_2023_08.issues
    build(Month(2023, 8), second, parallel=False)
    outputs = [_outputs(built_2023_08), _outputs(second)]
    assert sorted(outputs[0]) == sorted(outputs[1])
    assert {"korea-2023-08-print.pdf", "korea-2023-08.pdf", "korea-2023-08.epub",
            "email.eml", "email.html", "email.txt"} <= set(outputs[0])
    for name, data in outputs[0].items():
        assert data == outputs[1][name], f"{name} differs between the two checkouts"


#: A locale whose language gives the Hangul font another family name: fontconfig reads
#: its default language from these variables (``FC_LANG`` first) whether or not the
#: locale is installed, so no ko_KR locale need be generated to see the difference.
KOREAN_LOCALE = {"LC_ALL": "ko_KR.UTF-8", "LANG": "ko_KR.UTF-8", "LANGUAGE": "ko",
                 "FC_LANG": "ko"}


def test_the_pdfs_are_the_same_bytes_in_every_locale(built_2023_08: Paths,
                                                      tmp_path: Path) -> None:
    """fontconfig names a font after the family name of its default language
    (NanumMyeongjo is also 나눔명조): the PDFs must not change with the locale. Those of
    ``built_2023_08``, built in this process's locale (not a Korean one), against a build
    in a Korean locale."""
    here = {k: v for k, v in os.environ.items() if k.startswith(("LC_", "LANG", "FC_"))}
    assert not [v for v in here.values() if v.lower().startswith("ko")], here
    names = ("korea-2023-08-print.pdf", "korea-2023-08.pdf")
    c = [(built_2023_08.dist / "2023-08" / name).read_bytes() for name in names]
    paths = _checkout(tmp_path / "ko")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LC_", "LANG", "FC_"))} | KOREAN_LOCALE
    subprocess.run([sys.executable, "-m", "publisher", "build", "2023-08", "-q",
                    "--format", "pdf", "--issues", str(paths.issues),
                    "--layouts", str(paths.layouts), "--dist", str(paths.dist)],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    korean = [(paths.dist / "2023-08" / name).read_bytes() for name in names]
    for name, pdf_c, pdf_korean in zip(("print", "reader's"), c, korean, strict=True):
        assert _font_names(pdf_korean) == _font_names(pdf_c)
        assert "Publisher-Hangul" in _font_names(pdf_c)
        assert pdf_korean == pdf_c, f"the {name} PDF differs under {KOREAN_LOCALE}"


def _font_names(pdf: bytes) -> set[str]:
    """The families of the fonts a PDF embeds (``ABCDEF+Family`` without the subset tag)."""
    names = set()
    for page in pypdf.PdfReader(io.BytesIO(pdf)).pages:
        fonts = page.get("/Resources", {}).get_object().get("/Font", {}).get_object()
        for font in fonts.values():
            names.add(str(font.get_object()["/BaseFont"])[1:].split("+", 1)[-1])
    return names


def test_the_epub_zip_dates_stay_in_the_range_zip_can_write() -> None:
    """An issue dated past 2107 (the last year a ZIP entry can carry) or before 1980
    still packs its EPUB, dated at the nearer end (was: struct.error for 9999-12)."""
    import datetime as dt
    import zipfile

    from publisher.render.epub.assets import reproducible_zip

    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as source:
        source.writestr("mimetype", "application/epub+zip")
    for when, year in [(dt.date(9999, 12, 1), 2107), (dt.date(1, 1, 1), 1980),
                       (dt.date(2023, 8, 1), 2023)]:
        packed = zipfile.ZipFile(io.BytesIO(reproducible_zip(raw.getvalue(), when)))
        assert packed.infolist()[0].date_time[:3] == (year, when.month, when.day)
