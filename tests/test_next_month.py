"""The month after the newest one builds as the README shows: `publisher new`, then
`publisher build` with every default (relative `issues`, `layouts`, `dist`), in a copy of
the project laid out as a clone is."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import ISSUES, LAYOUTS
from publisher.build.cache import FileHasher, format_keys
from publisher.model import Month
from publisher.source.catalog import archive_files, earlier_issues


def _publisher(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "publisher", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)


def _clone(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(ISSUES, project / "issues")
    shutil.copytree(LAYOUTS, project / "layouts")
    return project


def test_new_months_build_with_the_default_relative_paths(tmp_path):
    project = _clone(tmp_path)
    for month in ("2023-09", "2023-10"):
        made = _publisher(project, "new", month)
        assert made.returncode == 0, made.stderr
        built = _publisher(project, "build", month)
        assert built.returncode == 0, built.stderr
        assert "Traceback" not in built.stderr
        out = project / "dist" / month
        names = {p.name for p in out.iterdir()}
        assert {f"korea-{month}.pdf", f"korea-{month}-print.pdf", f"korea-{month}.epub",
                "email.eml"} <= names
    # 2023-10's archive lists 2023-09 (a full issue) and 2023-08 before it, with the
    # cover photo of 2023-08 (the file whose path broke the cache's key).
    with zipfile.ZipFile(project / "dist" / "2023-10" / "korea-2023-10.epub") as epub:
        archive = next(epub.read(n).decode() for n in epub.namelist() if "archive" in n
                       and n.endswith(".xhtml"))
    assert archive.index("September 2023") < archive.index("August 2023")
    again = _publisher(project, "build", "2023-10")
    assert again.returncode == 0 and "up to date" in again.stderr, again.stderr


def test_the_cache_key_reads_earlier_covers_through_a_relative_issues_folder(
        tmp_path, monkeypatch):
    project = _clone(tmp_path)
    shutil.copytree(project / "issues" / "2023-08", project / "issues" / "2023-09")
    (project / "issues" / "2023-09" / "issue.toml").write_text(
        (project / "issues" / "2023-09" / "issue.toml").read_text(encoding="utf-8")
        .replace('month = "2023-08"', 'month = "2023-09"'), encoding="utf-8")
    monkeypatch.chdir(project)
    relative = format_keys(Path("issues"), Path("layouts"), "2023-09", ["epub"], FileHasher())
    absolute = format_keys(project / "issues", project / "layouts", "2023-09", ["epub"],
                           FileHasher())
    assert relative == absolute
    # The earlier cover is part of the key: changing it changes the key.
    files = archive_files(Path("issues"), Month(2023, 9))
    cover = next(f for f in files if f.suffix == ".jpg")
    assert not cover.is_absolute() and cover.parts[:2] == ("issues", "2023-08")
    cover.write_bytes(cover.read_bytes() + b"\0")
    changed = format_keys(Path("issues"), Path("layouts"), "2023-09", ["epub"], FileHasher())
    assert changed != relative
    assert [str(m) for m, _ in earlier_issues(Path("issues"), Month(2023, 9))][:2] == [
        "2023-08", "2023-07"]
