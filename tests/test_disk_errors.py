"""A full disk or a read-only dist/, for real: a small tmpfs, remounted read-only or
filled up.  The build stops with one line naming the file, exit status 1, every earlier
output as it was and no temporary file left behind.

Mounting needs root (the suite runs as root, as `make test` on CI does); without it
these tests fail, saying so: they never pass without having tried.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import FIXTURES, LAYOUTS
from fake_formats import FAKE_FORMATS, NoSpaceEmail, faked
from publisher import render
from publisher.build.builder import Paths, build
from publisher.model import Month
from publisher.render.forked import can_fork

AUG = Month(2023, 8)
READ_ONLY = ("Read-only file system (the file system is mounted read-only: make it writable "
             "or choose another --dist)")
NO_SPACE = "No space left on device (free some space and run it again)"


def _mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if result.returncode:
        pytest.fail(f"mount {' '.join(args)} failed: {result.stderr.strip()}")


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """An empty 2 MB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.fail("these tests mount a tmpfs, which needs root: run them as root "
                    "(make test does on CI)")
    mount = tmp_path / "disk"
    mount.mkdir()
    _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount))
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def _read_only(mount: Path) -> None:
    _mount("-o", "remount,ro", str(mount))


def _fill(mount: Path) -> None:
    """Fill the disk to its last byte."""
    with open(mount / "filler", "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    assert shutil.disk_usage(mount).free < 4096


def _files(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def paths(project_copy: Paths, tmp_path: Path, disk: Path,
          monkeypatch: pytest.MonkeyPatch) -> Paths:
    """The project's issues built by the small real renderers of tests/fake_formats.py
    into dist/ on the small disk."""
    monkeypatch.setattr(render, "FORMATS", dict(FAKE_FORMATS))
    layouts = tmp_path / "layouts"
    for name in ("print", "epub", "email"):
        (layouts / name).mkdir(parents=True)
        (layouts / name / "base.html").write_text(f"<!-- {name} -->")
    shutil.copytree(LAYOUTS / "fonts", layouts / "fonts")
    return Paths(issues=project_copy.issues, layouts=layouts, dist=disk / "dist")


def _change_an_article(paths: Paths) -> None:
    article = paths.issues / "2023-08" / "articles" / "korea-security-ties.md"
    text = article.read_text()
    assert "Korea has been seeking" in text
    article.write_text(text.replace("Korea has been seeking", "Korea has changed, seeking"))


def test_a_read_only_dist_is_one_line_and_keeps_the_earlier_outputs(paths, cli):
    build(AUG, paths)
    before = _files(paths.dist)
    _change_an_article(paths)
    _read_only(paths.dist.parent)
    run = cli("build", "2023-08", paths=paths)
    assert run.status == 1
    assert run.err_lines == [
        f"error: {paths.dist / '2023-08' / 'pdf.json'}: cannot write: {READ_ONLY}"]
    assert "Traceback" not in run.err
    assert _files(paths.dist) == before  # no temporary file either


def test_a_read_only_disk_without_the_month_folder_names_the_folder(paths, cli):
    paths.dist.mkdir()
    _read_only(paths.dist.parent)
    run = cli("build", "2023-08", paths=paths)
    assert run.status == 1
    assert run.err_lines == [
        f"error: {paths.dist / '2023-08'}: cannot create the folder: {READ_ONLY}"]


def test_a_full_disk_is_one_line_keeps_the_earlier_outputs_and_then_builds(paths, cli):
    build(AUG, paths)
    before = _files(paths.dist)
    _change_an_article(paths)
    _fill(paths.dist.parent)
    run = cli("build", "2023-08", paths=paths)
    assert run.status == 1
    assert run.err_lines == [
        f"error: {paths.dist / '2023-08' / 'pdf.json'}: cannot write: {NO_SPACE}"]
    assert _files(paths.dist) == before
    (paths.dist.parent / "filler").unlink()  # space again: the same command now works
    run = cli("build", "2023-08", paths=paths)
    assert run.status == 0, run.err
    assert b"Korea has changed" in (paths.dist / "2023-08" / "pdf.json").read_bytes()
    assert not list(paths.dist.rglob("*.tmp"))


def test_a_full_disk_on_the_first_build_leaves_no_folder_behind(paths, cli):
    _fill(paths.dist.parent)
    run = cli("build", "2023-08", paths=paths)
    assert run.status == 1
    assert run.err_lines == [
        f"error: {paths.dist / '2023-08' / 'pdf.json'}: cannot write: {NO_SPACE}"]
    assert sorted(p.name for p in paths.dist.parent.iterdir()) == ["filler"]


def test_a_full_disk_under_the_forked_worker_is_the_same_one_line(paths, cli, monkeypatch):
    assert can_fork(), "this machine cannot fork a worker: the test would prove nothing"
    monkeypatch.setitem(render.FORMATS, "email", faked("email", "fake_formats:NoSpaceEmail"))
    run = cli("build", "2023-08", paths=paths)
    assert run.status == 1
    assert run.err_lines == [f"error: {NoSpaceEmail.spool}: cannot write: {NO_SPACE}"]
    assert "Traceback" not in run.err
    assert not paths.dist.exists()


def test_the_real_command_on_a_read_only_dist(disk, fixture_copy):
    """The installed command itself, real renderers, in its own process."""
    command = [sys.executable, "-m", "publisher", "build", "2024-01", "--format", "email",
               "--issues", str(fixture_copy.issues), "--dist", str(disk / "dist"), "-q"]
    first = subprocess.run(command, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    before = _files(disk / "dist")
    _read_only(disk)
    again = subprocess.run([*command, "--force"], capture_output=True, text=True, check=False)
    assert again.returncode == 1
    assert again.stderr.splitlines() == [
        f"error: {disk / 'dist' / '2024-01' / 'email.html'}: cannot write: {READ_ONLY}"]
    assert _files(disk / "dist") == before
    assert FIXTURES.is_dir()


def test_a_folder_where_an_output_goes_renames_nothing(fixture_copy, cli):
    """A folder in the place of a later output (email.eml) is found before any rename:
    the earlier outputs stay as they were (was: email.html and email.txt replaced, then
    the rename of email.eml refused, a mix of old and new), one line saying what to do."""
    first = cli("build", "2024-01", "--format", "email", paths=fixture_copy)
    assert first.status == 0, first.err
    month = fixture_copy.dist / "2024-01"
    (month / "email.eml").unlink()
    (month / "email.eml").mkdir()
    before = _files(fixture_copy.dist)
    article = fixture_copy.issues / "2024-01" / "articles" / "02-culture.md"
    article.write_text(article.read_text(encoding="utf-8").replace(
        "Text about culture.", "Text about culture, changed."), encoding="utf-8")
    again = cli("build", "2024-01", "--format", "email", paths=fixture_copy)
    assert again.status == 1
    assert again.err_lines == [
        f"error: {month / 'email.eml'}: cannot write: Is a directory (a folder is where the "
        "file goes: remove it or choose another --dist)"]
    assert _files(fixture_copy.dist) == before
    assert not [p for p in month.rglob("*.tmp")]


def test_dist_that_is_a_file_names_the_file(fixture_copy, cli, tmp_path):
    """--dist naming a file: one line naming it as the file in the way (was: 'Not a
    directory (check the disk and run it again)')."""
    dist = tmp_path / "dist-file"
    dist.write_text("not a folder")
    run = cli("build", "2024-01", "--format", "email",
              paths=Paths(fixture_copy.issues, LAYOUTS, dist))
    assert run.status == 1
    assert run.err_lines == [
        f"error: {dist / '2024-01'}: cannot create the folder: Not a directory ({dist} is a "
        "file, not a folder: move it away or name another folder)"]
    assert dist.read_text() == "not a folder"


def test_new_on_a_full_disk_leaves_no_half_issue(disk, fixture_copy, cli):
    """publisher new that the disk refuses is one line, and leaves no half-made folder
    (which the next try would refuse as 'already exists')."""
    issues = disk / "issues"
    issues.mkdir()
    shutil.copy(fixture_copy.issues / "publication.toml", issues)
    # to the last byte
    with open(disk / "filler", "wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 4096)
    run = cli("new", "2024-02", paths=Paths(issues, LAYOUTS, disk / "dist"))
    assert run.status == 1
    (line,) = run.err_lines
    assert line.startswith(f"error: {issues / '2024-02'}") and line.endswith(NO_SPACE), line
    assert sorted(p.name for p in issues.iterdir()) == ["publication.toml"]
    (disk / "filler").unlink()
    assert cli("new", "2024-02", paths=Paths(issues, LAYOUTS, disk / "dist")).status == 0


def test_dkim_keygen_into_a_file_names_the_file(tmp_path, cli):
    """dkim keygen --dir naming a file was 'cannot write: File exists (check the disk and
    run it again)'."""
    where = tmp_path / "keys"
    where.write_text("a file")
    run = cli("dkim", "keygen", "news", "example.org", "--dir", str(where))
    assert run.status == 1
    assert run.err_lines == [
        f"error: {where / 'news._domainkey.example.org.pem'}: cannot write: File exists "
        f"({where} is a file, not a folder: move it away or name another folder)"]
    assert where.read_text() == "a file"
