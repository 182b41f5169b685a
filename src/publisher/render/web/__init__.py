"""The web edition (:mod:`.renderer`): an issue page and a page per article, with
responsive images and their stylesheet, into ``dist/<MONTH>/web/``; ``publisher site``
publishes them under ``<base_url>/<MONTH>/``."""

from __future__ import annotations

from publisher.render.base import Format, OutputName

WEB = Format(
    name="web",
    renderer="publisher.render.web.renderer:WebRenderer",
    layouts=("web",),
    outputs=(
        # index.html (the issue), <slug>/index.html (each article), _web/ (the stylesheet,
        # the images in their sizes) and manifest.json (the pages, for the site)
        OutputName("pages", "web", folder=True),
    ),
)
