"""Small real renderers for testing the build machinery (cache, parallelism).

They render a digest of the model and of their layout folder, so any input that
should change an output does change it, and record the process that rendered them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

from publisher import model as m
from publisher import render
from publisher.render.base import BuildContext, Format, Output, PrintLayout


class _Digest:
    name = "digest"
    folder = "print"

    def render(self, context: BuildContext) -> list[Output]:
        issue = context.issue
        layout_files = sorted((context.layouts / self.folder).rglob("*"))
        data = {
            "format": self.name,
            "pid": os.getpid(),
            "title": issue.title,
            "articles": [[a.title, m.plain_text(a.body[0].children)]  # type: ignore[union-attr]
                         for a in issue.articles],
            "archive": [[str(e.month), e.cover_story] for e in issue.archive],
            "publisher": issue.publication.publisher,
            "layouts": {p.name: p.read_text() for p in layout_files if p.is_file()
                        and p.suffix in (".html", ".css")},
            # what the real formats read besides: the issue's images and the fonts
            "files": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in [
                *(issue.source_dir / "images").glob("*"),
                *(context.layouts / "fonts").rglob("*.[ot]tf")]},
        }
        return [Output(f"{self.name}.json", json.dumps(data, sort_keys=True).encode())]


class PdfDigest(_Digest):
    name = "pdf"
    folder = "print"

    def print_layout(self, context: BuildContext) -> PrintLayout:
        """The stand-in of the print layout: each article starts a page, from page 3."""
        return PrintLayout({a.anchor: str(3 + n) for n, a in enumerate(context.issue.articles)})


class EpubDigest(_Digest):
    """Like the real EPUB: follows the print layout the build hands it."""

    name = "epub"
    folder = "epub"

    def prepare(self, context: BuildContext) -> None:
        """What needs no print layout; records where and whether it was known yet."""
        context.shared["epub-prepared"] = {"pid": os.getpid(),
                                           "map known": context.print_layout is not None}

    def render(self, context: BuildContext) -> list[Output]:
        if context.print_layout is None:
            raise ValueError("the EPUB follows the print layout: none was handed over")
        [output] = super().render(context)
        data = json.loads(output.data)
        data.update(pages=dict(context.print_layout.pages),
                    prepared=context.shared.get("epub-prepared"))
        return [Output(output.name, json.dumps(data, sort_keys=True).encode())]


class EmailDigest(_Digest):
    name = "email"
    folder = "email"


def faked(name: str, renderer: str) -> Format:
    """The declaration of the real format ``name`` (its layouts, outputs, needs), rendered
    by ``renderer`` (``"fake_formats:Class"``) instead."""
    return dataclasses.replace(render.FORMATS[name], renderer=renderer)


#: The real table of formats, each rendered by its digest: ``monkeypatch.setattr(render,
#: "FORMATS", dict(FAKE_FORMATS))``.
FAKE_FORMATS = {
    "pdf": faked("pdf", "fake_formats:PdfDigest"),
    "epub": faked("epub", "fake_formats:EpubDigest"),
    "email": faked("email", "fake_formats:EmailDigest"),
}


class FailingEmail(_Digest):
    """Fails the way a renderer reports a source problem."""

    name = "email"

    def render(self, context: BuildContext) -> list[Output]:
        from publisher.errors import PublisherError

        raise PublisherError("no glyph for U+E000", context.issue.articles[0].source, 7)


class NoSpaceEmail(_Digest):
    """Fails the way a library does when the disk under its temporary files is full."""

    name = "email"
    spool = "/tmp/publisher-spool/render.tmp"

    def render(self, context: BuildContext) -> list[Output]:
        import errno

        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.spool)
