"""Small real renderers for testing the build machinery (cache, parallelism).

They render a digest of the model and of their layout folder, so any input that
should change an output does change it, and record the process that rendered them.
"""

from __future__ import annotations

import json
import os

from publisher import model as m
from publisher.render.base import BuildContext, Output


class _Digest:
    name = "digest"
    layout = "print"

    def render(self, context: BuildContext) -> list[Output]:
        issue = context.issue
        layout_files = sorted((context.layouts / self.layout).rglob("*"))
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
        }
        return [Output(f"{self.name}.json", json.dumps(data, sort_keys=True).encode())]


class PdfDigest(_Digest):
    name = "pdf"
    layout = "print"


class EpubDigest(_Digest):
    name = "epub"
    layout = "epub"


class EmailDigest(_Digest):
    name = "email"
    layout = "email"


FAKE_RENDERERS = {
    "pdf": "fake_formats:PdfDigest",
    "epub": "fake_formats:EpubDigest",
    "email": "fake_formats:EmailDigest",
}


class FailingEmail(_Digest):
    """Fails the way a renderer reports a source problem."""

    name = "email"

    def render(self, context: BuildContext) -> list[Output]:
        from publisher.errors import PublisherError

        raise PublisherError("no glyph for U+E000", context.issue.articles[0].source, 7)
