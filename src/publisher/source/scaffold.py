"""``publisher new MONTH``: a new issue folder an editor can fill in."""

from __future__ import annotations

import shutil
from pathlib import Path

from publisher.errors import PublisherError, disk_error
from publisher.model import Month
from publisher.source.config import CONFIG_NAME

ISSUE_TOML = """\
# {label} issue of {title}. See README.md, "The issue source", for every field.
month = "{month}"
date = {month}-01
cover_story = "The cover story’s headline"
cover_lines = ["A second story on the cover", "And a third"]
sections = ["Current Korea"]

# [cover_image]
# file = "images/cover.jpg"
# alt = "What the cover photo shows"
# credit = "ⓒ Photographer"

# [[ticker]]
# headline = "A short news item"
# link = "https://example.org/news"
"""

ARTICLE_MD = """\
---
title: The Article’s Title
section: Current Korea
dek: One or two sentences that draw the reader in.
byline: Author Name
photo_credit: Photographer or agency
# lead_image:
#   file: images/lead.jpg
#   alt: What the photo shows, for readers who cannot see it
#   caption: What is happening in the photo.
#   credit: ⓒ Photographer
---

The first paragraph opens with a drop cap in print.

## A Subhead

Body text in Markdown. Quotes "become curly", -- becomes a dash, and a
footnote looks like this.[^1]

::: pullquote Who said it
“A line worth setting large.”
:::

[^1]: The footnote's text.
"""


def scaffold(root: Path, month: Month, title: str = "KOREA") -> Path:
    """Create ``root/<month>/`` with an ``issue.toml``, one article and ``images/``."""
    folder = root / str(month)
    if folder.exists():
        raise PublisherError(f"{folder} already exists: choose another month or edit it")
    if not (root / CONFIG_NAME).is_file():
        # Run outside the project: an issues/ folder made here would build nothing.
        raise PublisherError(f"no {CONFIG_NAME} here: run publisher in the project's "
                             "folder (where issues/ is) or give --issues DIR", root)
    try:
        (folder / "articles").mkdir(parents=True)
        (folder / "images").mkdir()
        (folder / "images" / ".gitkeep").write_text("")
        (folder / "issue.toml").write_text(
            ISSUE_TOML.format(label=month.label, title=title, month=month), encoding="utf-8")
        (folder / "articles" / "01-article.md").write_text(ARTICLE_MD, encoding="utf-8")
    except OSError as exc:
        # Half a folder would be refused by the next try as 'already exists'.
        shutil.rmtree(folder, ignore_errors=True)
        raise disk_error(exc, Path(exc.filename) if exc.filename else folder) from None
    return folder
