"""The formats' declarations (:class:`publisher.render.base.Format`): the table, the names
of a month's outputs, and what one format needs of another."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, ISSUES
from publisher import render
from publisher.build.outputs import month_outputs
from publisher.diagnostics import Diagnostics
from publisher.model import Month, Publication
from publisher.source.config import load_publication


def _publication(issues: Path) -> Publication:
    publication = load_publication(issues, Diagnostics())
    assert publication is not None
    return publication


def test_the_table_lists_every_format_in_build_order() -> None:
    assert render.formats() == ("pdf", "epub", "email")
    for name in render.formats():
        declared = render.declared(name)
        assert declared.name == name
        assert render.renderer(name).name == name  # its renderer is where it says


def test_the_outputs_of_a_month_keep_their_names() -> None:
    outputs = month_outputs(Path("dist"), _publication(ISSUES), Month(2023, 8))
    names = {(name, output.role): outputs.name(name, output.role)
             for name in render.formats() for output in render.declared(name).outputs}
    assert names == {
        ("pdf", "print"): "korea-2023-08-print.pdf",
        ("pdf", "reader"): "korea-2023-08.pdf",
        ("epub", "book"): "korea-2023-08.epub",
        ("email", "html"): "email.html",
        ("email", "text"): "email.txt",
        ("email", "message"): "email.eml",
        ("email", "web"): "email-web.html",
        ("email", "images"): "email-images",
    }
    assert outputs.path("email", "message") == Path("dist", "2023-08", "email.eml")
    with pytest.raises(KeyError, match="the pdf format has no output 'book'"):
        outputs.name("pdf", "book")


@pytest.mark.parametrize("issues", [ISSUES, FIXTURES])
def test_the_downloads_are_the_files_the_archive_links(issues: Path) -> None:
    """The archive's links (Publication.download_url, made while reading the source) lead
    to the names the site publishes the built files under: the declared ones."""
    publication = _publication(issues)
    for month in (Month(2023, 8), Month(2024, 1)):
        outputs = month_outputs(Path("dist"), publication, month)
        base = f"{publication.base_url}/{month}/"
        assert publication.download_url(month, "pdf") == base + outputs.name("pdf", "reader")
        assert publication.download_url(month, "epub") == base + outputs.name("epub", "book")


def test_the_formats_that_follow_the_print_pages_read_its_layouts() -> None:
    """One format lays out the print pages; a format that follows them is keyed on the
    print layout's folders too (a change there changes its page numbers)."""
    provider = render.print_format()
    assert provider.name == "pdf"
    followers = [f for f in render.FORMATS.values() if f.follows_print]
    assert [f.name for f in followers] == ["epub"]
    for follower in followers:
        assert set(provider.layouts) <= set(follower.layouts), follower.name


def test_the_table_imports_no_renderer() -> None:
    """A build of one format pays only for its own libraries: the table, the build and the
    cache import no renderer (in a fresh process)."""
    code = ("import sys, publisher.render, publisher.build.builder, publisher.build.cache, "
            "publisher.build.outputs\n"
            "print(sorted(m for m in sys.modules if m.endswith('.renderer') "
            "or m.split('.')[0] in ('weasyprint', 'ebooklib', 'premailer')))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert run.stdout.strip() == "[]"
