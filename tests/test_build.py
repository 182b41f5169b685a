"""The build machinery: the cache, atomic writes and parallel formats.

The formats here are small real renderers (tests/fake_formats.py) that render a
digest of their inputs, so the cache logic is tested on its own, fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import ISSUES, LAYOUTS
from fake_formats import FAKE_FORMATS, faked
from publisher import render
from publisher.build.builder import Paths, build
from publisher.errors import PublisherError
from publisher.model import Month

AUG = Month(2023, 8)


@pytest.fixture
def paths(project_copy: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    monkeypatch.setattr(render, "FORMATS", dict(FAKE_FORMATS))
    layouts = tmp_path / "layouts"
    for name in ("print", "epub", "email", "_partials"):
        (layouts / name).mkdir(parents=True)
        (layouts / name / "base.html").write_text(f"<!-- {name} -->")
    shutil.copytree(LAYOUTS / "fonts", layouts / "fonts")
    return Paths(issues=project_copy.issues, layouts=layouts, dist=project_copy.dist)


def _outputs(paths: Paths) -> dict[str, dict]:
    folder = paths.dist / str(AUG)
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


FONT = "fonts/libertine/LinLibertine_R.otf"
PHOTO = "2023-08/images/yoon-stoltenberg-placeholder.jpg"


def _digest_with_nul(path: Path) -> str:
    """The digest of ``path`` once the test has appended a NUL byte to its copy."""
    return hashlib.sha256(path.read_bytes() + b"\0").hexdigest()


def _names(written: list[Path]) -> list[str]:
    return sorted(p.name for p in written)


def test_unchanged_rebuild_writes_nothing(paths):
    first = build(AUG, paths)
    assert _names(first) == ["email.json", "epub.json", "pdf.json"]
    stamps = {p: p.stat().st_mtime_ns for p in (paths.dist).rglob("*")}
    assert build(AUG, paths) == []
    assert {p: p.stat().st_mtime_ns for p in (paths.dist).rglob("*")} == stamps


def test_force_rebuilds(paths):
    build(AUG, paths)
    assert len(build(AUG, paths, force=True)) == 3


@pytest.mark.parametrize("change, rebuilt, check", [
    ("article", ["email.json", "epub.json", "pdf.json"],
     lambda out: "Korea has changed" in out["pdf"]["articles"][0][1]),
    ("publication", ["email.json", "epub.json", "pdf.json"],
     lambda out: out["email"]["publisher"] == "Another Publisher"),
    ("archive", ["email.json", "epub.json", "pdf.json"],
     lambda out: ["2023-07", "Chuncheon City"] in out["epub"]["archive"]),
    ("email layout", ["email.json"],
     lambda out: out["email"]["layouts"]["base.html"] == "changed"),
    ("print layout", ["epub.json", "pdf.json"],  # the EPUB follows the print pages
     lambda out: out["pdf"]["layouts"]["base.html"] == "changed"),
    ("font", ["email.json", "epub.json", "pdf.json"],
     lambda out: out["pdf"]["files"]["LinLibertine_R.otf"] == _digest_with_nul(LAYOUTS / FONT)),
    ("image", ["email.json", "epub.json", "pdf.json"],
     lambda out: out["epub"]["files"]["yoon-stoltenberg-placeholder.jpg"]
     == _digest_with_nul(ISSUES / PHOTO)),
])
def test_each_kind_of_input_invalidates_what_depends_on_it(paths, change, rebuilt, check):
    build(AUG, paths)
    before = _outputs(paths)
    issue = paths.issues / "2023-08"
    if change == "article":
        article = issue / "articles" / "korea-security-ties.md"
        article.write_text(article.read_text().replace("Korea has been", "Korea has changed"))
    elif change == "publication":
        config = paths.issues / "publication.toml"
        config.write_text(config.read_text().replace(
            'publisher = "Korean Culture and Information Service"',
            'publisher = "Another Publisher"'))
    elif change == "archive":
        (paths.issues / "2023-07" / "issue.toml").write_text(
            'month = "2023-07"\ncover_story = "Chuncheon City"\n')
    elif change == "email layout":
        (paths.layouts / "email" / "base.html").write_text("changed")
    elif change == "print layout":
        (paths.layouts / "print" / "base.html").write_text("changed")
    elif change == "font":
        font = paths.layouts / FONT
        font.write_bytes(font.read_bytes() + b"\0")
    elif change == "image":
        image = paths.issues / PHOTO
        image.write_bytes(image.read_bytes() + b"\0")
    assert _names(build(AUG, paths)) == rebuilt
    after = _outputs(paths)
    assert check(after)
    assert all(after[name.removesuffix(".json")] != before[name.removesuffix(".json")]
               for name in rebuilt)


def test_a_changed_partial_rebuilds_every_format(paths):
    """``layouts/_partials/`` holds markup every format imports (the archive entry): the
    cache keys each format on it, as on the format's own folder."""
    build(AUG, paths)
    assert build(AUG, paths) == []
    (paths.layouts / "_partials" / "base.html").write_text("changed")
    assert _names(build(AUG, paths)) == ["email.json", "epub.json", "pdf.json"]
    assert build(AUG, paths) == []
    (paths.layouts / "_partials" / "new.html").write_text("a new partial")
    assert _names(build(AUG, paths)) == ["email.json", "epub.json", "pdf.json"]

def test_a_later_issue_does_not_invalidate_an_earlier_one(paths):
    build(AUG, paths)
    shutil.copytree(paths.issues / "2023-07", paths.issues / "2023-09")
    (paths.issues / "2023-09" / "issue.toml").write_text(
        'month = "2023-09"\ncover_story = "Later"\n')
    assert build(AUG, paths) == []


def test_an_output_changed_by_hand_is_rebuilt(paths):
    build(AUG, paths)
    pdf = paths.dist / "2023-08" / "pdf.json"
    pdf.write_text("edited")
    (paths.dist / "2023-08" / "email.json").unlink()
    assert _names(build(AUG, paths)) == ["email.json", "pdf.json"]
    assert json.loads(pdf.read_text())["format"] == "pdf"


def test_a_failed_build_writes_nothing_and_keeps_old_outputs(paths):
    build(AUG, paths)
    before = {p: p.read_bytes() for p in paths.dist.rglob("*") if p.is_file()}
    article = paths.issues / "2023-08" / "articles" / "korea-security-ties.md"
    article.write_text(article.read_text().replace("byline: Sohn Ji-ae\n", ""))
    with pytest.raises(Exception, match="missing required field 'byline'"):
        build(AUG, paths)
    assert {p: p.read_bytes() for p in paths.dist.rglob("*") if p.is_file()} == before
    assert not [p for p in paths.dist.rglob("*.tmp")]


@pytest.fixture
def layouts_made(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The process of each print layout laid out (in this process: a child's is not seen)."""
    from fake_formats import PdfDigest

    made: list[int] = []
    original = PdfDigest.print_layout

    def counted(self, context):  # type: ignore[no-untyped-def]
        made.append(os.getpid())
        return original(self, context)

    monkeypatch.setattr(PdfDigest, "print_layout", counted)
    return made


def test_independent_formats_render_in_parallel_processes(paths, layouts_made):
    build(AUG, paths)
    out = _outputs(paths)
    assert out["pdf"]["pid"] == os.getpid()  # the print layout, laid out here
    assert out["email"]["pid"] != os.getpid()
    assert out["epub"]["pid"] != os.getpid()
    # The EPUB's images are made in the worker before the print layout exists ...
    assert out["epub"]["prepared"] == {"pid": out["epub"]["pid"], "map known": False}
    assert out["epub"]["pages"] == {"article-korea-security-ties": "3"}
    assert layouts_made == [os.getpid()]  # ... which is laid out once, here, and handed over


def test_the_epub_and_email_without_the_pdf_still_render_beside_the_layout(paths, layouts_made):
    build(AUG, paths, ["epub", "email"])
    out = _outputs(paths)
    assert sorted(out) == ["email", "epub"]
    assert out["email"]["pid"] == out["epub"]["pid"] != os.getpid()
    assert out["epub"]["prepared"] == {"pid": out["epub"]["pid"], "map known": False}
    assert out["epub"]["pages"] == {"article-korea-security-ties": "3"}
    assert layouts_made == [os.getpid()]


def test_a_serial_build_lays_out_the_print_pages_once_before_the_epub(paths, layouts_made):
    build(AUG, paths, ["epub"], parallel=False)
    assert _outputs(paths)["epub"]["pages"] == {"article-korea-security-ties": "3"}
    assert layouts_made == [os.getpid()]
    build(AUG, paths, parallel=False, force=True)
    assert layouts_made == [os.getpid()] * 2  # for the PDF and the EPUB alike


def test_serial_and_parallel_builds_are_identical_but_for_the_process(paths, tmp_path):
    build(AUG, paths)
    parallel = _outputs(paths)
    serial_paths = Paths(paths.issues, paths.layouts, tmp_path / "serial")
    build(AUG, serial_paths, parallel=False)
    serial = {p.stem: json.loads(p.read_text())
              for p in (serial_paths.dist / "2023-08").glob("*.json")}
    for outputs in (parallel, serial):
        for data in outputs.values():
            data.pop("pid")
            data.pop("prepared", None)
    assert parallel == serial


def test_an_error_in_the_worker_process_keeps_its_location(paths, monkeypatch, cli):
    monkeypatch.setitem(render.FORMATS, "email", faked("email", "fake_formats:FailingEmail"))
    run = cli("build", "2023-08", paths=paths)
    assert run.status == 1
    assert run.err_lines == [
        "error: " + str(paths.issues / "2023-08/articles/korea-security-ties.md")
        + ":7: no glyph for U+E000"]
    assert not paths.dist.exists() or not list((paths.dist / "2023-08").glob("*.json"))


def test_the_collector_is_paused_while_formats_render_and_back_afterwards(paths, monkeypatch):
    import gc

    seen = []
    original = render.renderer

    def spying(name):  # type: ignore[no-untyped-def]
        seen.append(gc.isenabled())
        return original(name)

    monkeypatch.setattr(render, "renderer", spying)
    assert gc.isenabled()
    build(AUG, paths, parallel=False)
    assert seen and not any(seen)  # every renderer ran with the collector off ...
    assert gc.isenabled()  # ... and it is on again after the build
    monkeypatch.setitem(render.FORMATS, "email", faked("email", "fake_formats:FailingEmail"))
    with pytest.raises(Exception, match="no glyph"):
        build(AUG, paths, force=True, parallel=False)
    assert gc.isenabled()  # and after a failed one


def test_an_epub_rebuilt_alone_takes_the_print_layout_kept_from_the_print_build(
        paths, layouts_made):
    build(AUG, paths)
    layouts_made.clear()
    (paths.layouts / "epub" / "base.html").write_text("changed")
    assert _names(build(AUG, paths)) == ["epub.json"]
    out = _outputs(paths)
    assert layouts_made == []  # the print pages were not laid out again ...
    assert out["epub"]["pages"] == {"article-korea-security-ties": "3"}
    # ... but a change to what the print layout reads lays them out, and keeps the new layout
    (paths.layouts / "print" / "base.html").write_text("changed")
    assert _names(build(AUG, paths)) == ["epub.json", "pdf.json"]
    assert len(layouts_made) == 1  # laid out once, for the print PDF and the EPUB
    cache = json.loads((paths.dist / ".cache" / "2023-08.json").read_text())
    assert cache["formats"]["pdf"]["print_layout"] == {
        "pages": {"article-korea-security-ties": "3"}}
    layouts_made.clear()
    assert _names(build(AUG, paths, force=True)) == ["email.json", "epub.json", "pdf.json"]
    assert len(layouts_made) == 1  # --force lays out again


def test_a_kept_print_layout_this_version_did_not_write_is_laid_out_again(paths, layouts_made):
    build(AUG, paths)
    cache_file = paths.dist / ".cache" / "2023-08.json"
    cache = json.loads(cache_file.read_text())
    cache["formats"]["pdf"]["print_layout"] = {"pages": {"article-korea-security-ties": 3}}
    cache_file.write_text(json.dumps(cache))
    layouts_made.clear()
    (paths.layouts / "epub" / "base.html").write_text("changed")
    assert _names(build(AUG, paths)) == ["epub.json"]
    assert len(layouts_made) == 1
    assert _outputs(paths)["epub"]["pages"] == {"article-korea-security-ties": "3"}


def _rename_photo(paths: Paths, new_name: str) -> Path:
    """The 2023-08 photo renamed ``new_name``, every reference to it changed too."""
    issue = paths.issues / "2023-08"
    old = issue / PHOTO.removeprefix("2023-08/")
    for source in [issue / "issue.toml", *(issue / "articles").glob("*.md")]:
        source.write_text(source.read_text().replace(old.name, new_name))
    return old.rename(old.with_name(new_name))


def test_a_dot_named_image_counts_like_any_other(paths):
    """The reader reads ``images/.lead.jpg`` when an article names it: so does the key."""
    photo = _rename_photo(paths, ".lead.jpg")
    assert build(AUG, paths)
    photo.write_bytes(photo.read_bytes() + b"\0")
    assert _names(build(AUG, paths)) == ["email.json", "epub.json", "pdf.json"]


def test_an_editors_litter_rebuilds_nothing(paths):
    build(AUG, paths)
    images = paths.issues / "2023-08" / "images"
    (images / ".DS_Store").write_bytes(b"\0Bud1")
    (images / "._photo.jpg").write_bytes(b"\0\5\26\7")
    assert build(AUG, paths) == []


def test_an_image_swapped_for_a_symlink_out_of_the_issue_is_not_up_to_date(paths, tmp_path):
    """The same bytes, read from outside the issue: the reader refuses it, so the build must
    read it again rather than answer from the cache."""
    build(AUG, paths)
    photo = paths.issues / PHOTO
    outside = tmp_path / "outside.jpg"
    shutil.copyfile(photo, outside)
    photo.unlink()
    photo.symlink_to(outside)
    with pytest.raises(PublisherError, match="leaves the issue folder"):
        build(AUG, paths)


def test_a_symlink_inside_the_issue_keys_where_it_leads(paths):
    build(AUG, paths)
    photo = paths.issues / PHOTO
    twin = photo.with_name("twin.jpg")
    shutil.copyfile(photo, twin)
    photo.unlink()
    photo.symlink_to(twin.name)  # the same bytes, from another file of the issue
    assert _names(build(AUG, paths)) == ["email.json", "epub.json", "pdf.json"]
    assert build(AUG, paths) == []


@pytest.mark.parametrize("parallel", ["worker", "serial"])
def test_a_renderers_warning_is_shown_once_and_fails_strict(tmp_path, cli, monkeypatch,
                                                           parallel):
    """The email's budget cut is a renderer's warning: it goes through Diagnostics, so it
    is shown once with the others and `build --strict` fails on it, writing nothing; the
    same from the forked worker (the email renders beside the print layout) and in
    process."""
    if parallel == "serial":
        monkeypatch.setattr("publisher.build.builder.can_fork", lambda: False)
    shutil.copytree(ISSUES, tmp_path / "issues")
    layouts = tmp_path / "layouts"
    shutil.copytree(LAYOUTS, layouts)
    settings = layouts / "email" / "settings.toml"
    settings.write_text(settings.read_text(encoding="utf-8").replace(
        "budget_kb = 100", "budget_kb = 12"), encoding="utf-8")
    paths = Paths(tmp_path / "issues", layouts, tmp_path / "dist")

    strict = cli("build", "2023-08", "--format", "email", "--format", "epub", "--strict",
                 paths=paths)
    assert strict.status == 1
    said = [line for line in strict.err_lines if line.startswith("warning: email: ")]
    assert said and all("over the 12.0 KB budget" in line for line in said), strict.err
    assert strict.err_lines[-1] == (f"error: {len(said)} warning(s), and --strict fails on "
                                    "them")
    assert not (paths.dist / "2023-08").exists()

    plain = cli("build", "2023-08", "--format", "email", "--format", "epub", paths=paths)
    assert plain.status == 0, plain.err
    cuts = [line for line in plain.err_lines if " is cut to " in line]
    assert len(cuts) == 1 and cuts[0].startswith("warning: email: the HTML is ")
    assert (paths.dist / "2023-08" / "email.eml").is_file()
