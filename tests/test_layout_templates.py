"""A mistake in a layout's template is one ``path:line`` naming the template, whether
the format renders in this process or in the forked worker."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import publisher
from conftest import LAYOUTS
from publisher.build.builder import Paths
from publisher.render.forked import can_fork

TITLE = "{{ issue.title }} · <a href"


@pytest.fixture
def layouts(tmp_path: Path) -> Path:
    copy = tmp_path / "layouts"
    shutil.copytree(LAYOUTS, copy)
    return copy


def _edit(path: Path, old: str, new: str) -> int:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return text[: text.index(old)].count("\n") + 1


@pytest.mark.parametrize("new, message", [
    ("{{ issue.titel }} · <a href", "'publisher.model.Issue object' has no attribute 'titel'"),
    ("{% if %} · <a href", "Expected an expression, got 'end of statement block'"),
    ('{% include "nope.html" %} · <a href', "no template 'nope.html' in the layout"),
])
def test_a_template_mistake_is_one_line_at_its_line(layouts, fixture_copy, cli, new, message):
    template = layouts / "email" / "email.html"
    line = _edit(template, TITLE, new)
    run = cli("build", "2024-01", "--format", "email",
              paths=Paths(fixture_copy.issues, layouts, fixture_copy.dist))
    assert run.status == 1
    assert run.err_lines == [f"error: {template}:{line}: template error: {message}"]
    assert not fixture_copy.dist.exists()


def test_a_template_mistake_in_the_forked_worker_keeps_its_line(layouts, fixture_copy, cli):
    assert can_fork(), "no worker here: the test would prove nothing"
    template = layouts / "epub" / "article.xhtml"
    line = _edit(template, "{{ article.title }}", "{{ article.titel }}")
    run = cli("build", "2024-01", "--format", "epub",
              paths=Paths(fixture_copy.issues, layouts, fixture_copy.dist))
    assert run.status == 1
    assert [e for e in run.err_lines if e.startswith("error:")] == [
        f"error: {template}:{line}: template error: 'publisher.model.Article object' has no "
        "attribute 'titel'"]
    assert not fixture_copy.dist.exists()


@pytest.mark.parametrize("folder, name, fmt", [
    ("epub", "style.css", "epub"),  # read by the forked worker
    ("email", "email.html", "email"),
    ("print", "article.html", "pdf"),  # included by base.html
])
def test_a_layout_file_that_is_a_folder_is_named(layouts, fixture_copy, cli, folder, name, fmt):
    path = layouts / folder / name
    path.unlink()
    path.mkdir()
    run = cli("build", "2024-01", "--format", fmt,
              paths=Paths(fixture_copy.issues, layouts, fixture_copy.dist))
    assert run.status == 1
    assert [e for e in run.err_lines if e.startswith("error:")] == [
        f"error: {path}: is a folder, not a template file: put the file there"]
    assert not fixture_copy.dist.exists()


def test_a_missing_main_template_is_named(layouts, fixture_copy, cli):
    template = layouts / "email" / "email.html"
    template.unlink()
    run = cli("build", "2024-01", "--format", "email",
              paths=Paths(fixture_copy.issues, layouts, fixture_copy.dist))
    assert run.status == 1
    assert run.err_lines == [
        f"error: {template}: template error: no template 'email.html' in the layout"]


def test_a_template_mistake_in_the_site_is_one_line_at_its_line(layouts, fixture_copy, cli):
    template = layouts / "site" / "index.html"
    line = _edit(template, "{{ issue.cover_story }}", "{{ issue.cover_storey }}")
    run = cli("site", paths=Paths(fixture_copy.issues, layouts, fixture_copy.dist))
    assert run.status == 1
    assert [e for e in run.err_lines if e.startswith("error:")] == [
        f"error: {template}:{line}: template error: 'publisher.site.pages.SiteIssue object' "
        "has no attribute 'cover_storey'"]


def test_one_environment_renders_every_template():
    """The formats, the download site and the unsubscribe page share one Jinja2
    environment factory (:func:`publisher.render.templates.environment`)."""
    package = Path(publisher.__file__).parent
    makers = sorted(p.relative_to(package).as_posix() for p in package.rglob("*.py")
                    if re.search(r"\bEnvironment\(", p.read_text(encoding="utf-8")))
    assert makers == ["render/templates.py"]


# -- the partials every format shares ---------------------------------------------------

@pytest.mark.parametrize("fmt", ["pdf", "epub", "email", "site"])
def test_a_broken_partial_is_one_line_at_its_line_in_every_format(layouts, fixture_copy, cli,
                                                                   fmt):
    partial = layouts / "_partials" / "archive.html"
    line = _edit(partial, "{% macro downloads(", "{% if %}\n{% macro downloads(")
    paths = Paths(fixture_copy.issues, layouts, fixture_copy.dist)
    run = (cli("site", paths=paths) if fmt == "site"
           else cli("build", "2024-01", "--format", fmt, paths=paths))
    assert run.status == 1
    assert [e for e in run.err_lines if e.startswith("error:")] == [
        f"error: {partial}:{line}: template error: Expected an expression, got 'end of "
        "statement block'"]
    assert not (fixture_copy.dist / "2024-01").exists()


@pytest.mark.parametrize("fmt", ["epub", "email"])
def test_a_mistake_in_a_partials_macro_is_named_at_its_line(layouts, fixture_copy, cli, fmt):
    partial = layouts / "_partials" / "archive.html"
    line = _edit(partial, '<a href="{{ entry.pdf_url }}">PDF',
                 '<a href="{{ entry.pdf_ur }}">PDF')
    run = cli("build", "2024-01", "--format", fmt,
              paths=Paths(fixture_copy.issues, layouts, fixture_copy.dist))
    assert run.status == 1
    assert [e for e in run.err_lines if e.startswith("error:")] == [
        f"error: {partial}:{line}: template error: 'publisher.model.ArchiveEntry object' has "
        "no attribute 'pdf_ur'"]


def test_a_format_may_override_a_partial_and_its_mistakes_name_it(layouts, fixture_copy, cli):
    """``layouts/email/_partials/archive.html`` is found before the shared one."""
    shared = layouts / "_partials" / "archive.html"
    own = layouts / "email" / "_partials" / "archive.html"
    own.parent.mkdir()
    shutil.copy(shared, own)
    paths = Paths(fixture_copy.issues, layouts, fixture_copy.dist)
    _edit(own, '<p class="archive-month">', '<p class="archive-month own">')
    assert cli("build", "2024-01", "--format", "email", paths=paths).status == 0
    assert '<p class="archive-month own"' in (fixture_copy.dist / "2024-01" / "email.html"
                                              ).read_text(encoding="utf-8")
    line = _edit(own, "{{ entry.label }}</p>", "{{ entry.labl }}</p>")
    run = cli("build", "2024-01", "--format", "email", paths=paths)
    assert run.status == 1
    assert [e for e in run.err_lines if e.startswith("error:")] == [
        f"error: {own}:{line}: template error: 'publisher.model.ArchiveEntry object' has no "
        "attribute 'labl'"]


def test_a_missing_stylesheet_a_renderer_reads_is_one_line(layouts, fixture_copy, cli):
    """The print stylesheet is read by the PDF renderer itself, not through Jinja: gone,
    it is one line naming it (was: a FileNotFoundError traceback)."""
    stylesheet = layouts / "print" / "print.css"
    stylesheet.unlink()
    run = cli("build", "2024-01", "--format", "pdf",
              paths=Paths(fixture_copy.issues, layouts, fixture_copy.dist))
    assert run.status == 1
    assert "Traceback" not in run.err
    assert [e for e in run.err_lines if e.startswith("error:")] == [
        f"error: {stylesheet}: cannot read: No such file or directory (check the file and "
        "run it again)"]
    assert not fixture_copy.dist.exists()


@pytest.mark.parametrize("command", ["check", "build"])
def test_no_layouts_folder_is_one_line_before_anything(tmp_path, fixture_copy, cli, command):
    """publisher run outside the project's folder finds no layouts/: check said OK (the
    glyph check had no fonts to read) and build ended in a traceback."""
    missing = tmp_path / "elsewhere" / "layouts"
    run = cli(command, "2024-01", paths=Paths(fixture_copy.issues, missing, fixture_copy.dist))
    assert run.status == 1
    assert [e for e in run.err_lines if e.startswith("error:")] == [
        f"error: {missing}: no such folder: run publisher in the project's folder (where "
        "layouts/ is) or give --layouts DIR"]
    assert not fixture_copy.dist.exists()
