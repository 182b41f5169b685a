"""The HTML email, its plain text and the finished message (:mod:`.renderer`); the
site's web version of the issue is made from its HTML."""

from __future__ import annotations

from publisher.render.base import Format, OutputName

EMAIL = Format(
    name="email",
    renderer="publisher.render.email.renderer:EmailRenderer",
    layouts=("email",),
    outputs=(
        OutputName("html", "email.html"),
        OutputName("text", "email.txt"),
        OutputName("message", "email.eml"),  # what publisher send mails
        # the uncut HTML, when articles were cut to fit the budget: the site's web version
        OutputName("web", "email-web.html", optional=True),
        # the images the HTML links, published beside the web version
        OutputName("images", "email-images", folder=True, optional=True),
    ),
)
