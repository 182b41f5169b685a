"""The HTML email: ``email.html``, ``email.txt`` and ``email.eml``.

The issue is rendered once through ``layouts/email/email.html`` with the
shared HTML writer, its CSS inlined once by premailer, its plain-text part
converted from the same HTML, and the whole packed into a MIME message.
Per-subscriber details stay placeholders (:mod:`publisher.render.email.placeholders`)
that the sender fills into the finished message.

Gmail clips an HTML part over about 102 KB and hides what follows, the
unsubscribe footer included.  The inlined HTML is measured; over the budget,
the longest articles are cut to their lead and a "continue reading" link to
the issue's web page, then (if that is not enough) to a teaser, until the
HTML fits.  The footer is part of the frame and is never cut.

Settings live in ``layouts/email/settings.toml`` (see :class:`EmailSettings`).
"""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from publisher import model as m
from publisher.errors import PublisherError, human_size
from publisher.render import confine
from publisher.render.base import BuildContext, Output
from publisher.render.email import EMAIL, placeholders
from publisher.render.email.images import IMAGE_FOLDER, EmailImages, ImageMode, Shown
from publisher.render.email.inline import fold_lines, inline_css
from publisher.render.email.mime import build_message
from publisher.render.email.text import text_part
from publisher.render.html import HtmlOptions
from publisher.render.templates import Traced, environment, render_traced
from publisher.source.files import line_of_key

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.toml"
#: A lead: the first paragraphs of an article, up to about this many characters.
LEAD_CHARS = 400
#: The hidden preheader is padded so that a preview shows it and nothing after it.
PREHEADER_PAD = "\u200c\u00a0" * 40
RTL_LANGUAGES = {"ar", "dv", "fa", "he", "ps", "ur", "yi"}

FULL, LEAD, TEASER = 0, 1, 2


@dataclass(frozen=True)
class EmailSettings:
    """What ``layouts/email/settings.toml`` may set.

    ``images``: ``link`` (default) points at absolute URLs under the issue's
    web address, ``<base_url>/<MONTH>/email-images/<name>``, and outputs the
    files as ``email-images/…``: the site (``publisher site``) publishes them
    there, beside the web version of the email, which is this same HTML, so
    the images show in both; the message stays small for every subscriber.
    Clients that block remote images (Outlook for Windows) show the alt text
    until the reader allows them.  ``embed`` sends the images inside the
    message as ``multipart/related`` parts (``cid:``): they show with no
    hosting at all, at the cost of size (each copy carries them; the message
    must stay under ``max_message_kb``), and a web version made from the HTML
    would have to resolve the ``cid:`` sources itself.
    """

    images: ImageMode = "link"
    budget_kb: float = 100.0  # the inlined HTML part; Gmail clips at about 102 KB
    max_message_kb: float = 1024.0  # the whole message, images included
    max_image_width: int = 1200  # pixels of an image file: 2x the 600 px column
    jpeg_quality: int = 80
    content_width: int = 560  # CSS px of the text column: 600 px minus 2 x 20 px padding
    thumb_width: int = 80  # CSS px of an archive cover thumbnail
    archive_entries: int = 12  # the newest earlier issues listed; the site lists them all

    @property
    def budget_bytes(self) -> int:
        return int(self.budget_kb * 1024)

    @classmethod
    def load(cls, layouts: Path) -> EmailSettings:
        path = layouts / "email" / SETTINGS_FILE
        if not path.is_file():
            return cls()
        try:
            text = path.read_text(encoding="utf-8")
            data: dict[str, Any] = tomllib.loads(text)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise PublisherError(f"cannot read the email settings: {exc}", path) from exc
        known = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise PublisherError(f"unknown email setting '{key}': expected one of "
                                     f"{', '.join(sorted(known))}", path, line_of_key(text, key))
            default = known[key].default
            if isinstance(default, int | float) and (
                    not isinstance(value, int | float) or isinstance(value, bool) or value <= 0):
                raise PublisherError(f"email setting '{key}' must be a positive number",
                                     path, line_of_key(text, key))
            values[key] = type(default)(value)
        if values.get("images", "link") not in ("embed", "link"):
            raise PublisherError("email setting 'images' must be \"embed\" or \"link\"",
                                 path, line_of_key(text, "images"))
        return cls(**values)


@dataclass(frozen=True)
class EmailParts:
    """The rendered email before packing: what the size budget is measured on."""

    html: str  # inlined and folded
    text: str
    shortened: dict[str, int]  # slug -> LEAD or TEASER
    full_html: str  # before any cut: the web version, where "continue reading" leads
    traces: tuple[Traced, ...] = ()  # the renders, for where a value came from


def layout_policy(context: BuildContext) -> confine.Policy:
    """An email carries no layout files: a mail client would fetch any address the
    layout gave (a tracking pixel), blocks ``data:`` URLs, and has no ``layouts/``."""
    folder = context.layouts / "email"
    return confine.Policy(
        "email", context.layouts, (folder,), template_base=folder, data_urls=False,
        carries=False, fix="an email shows only the issue's own images; remove it from "
                           "the layout")


class EmailRenderer:
    name = "email"

    def __init__(self, settings: EmailSettings | None = None):
        self.settings = settings

    def layout_policy(self, context: BuildContext) -> confine.Policy:
        return layout_policy(context)

    def render(self, context: BuildContext) -> list[Output]:
        policy = layout_policy(context)
        confine.checked(context.shared, policy)
        settings = self.settings or EmailSettings.load(context.layouts)
        issue = context.issue
        pub = issue.publication
        images = EmailImages(settings.images, pub.issue_url(issue.month),
                             max_width=settings.max_image_width,
                             jpeg_quality=settings.jpeg_quality)
        view = _map_images(issue, lambda image: images.display(image, settings.content_width))
        thumbs = {
            entry.month: images.show(entry.cover_image, settings.thumb_width,
                                     f"Cover of {entry.label}: {entry.cover_story}")
            for entry in issue.archive.entries[:settings.archive_entries]
            if entry.cover_image is not None
        }
        parts = _fit(view, context.layouts, settings, images, thumbs)
        made = {images.src(f) for f in images.files}
        for html in dict.fromkeys((parts.html, parts.full_html)):  # what template code made
            confine.check_output(policy, html, made.__contains__,
                                 context.layouts / "email" / "email.html", parts.traces)
        subject = f"{pub.title} {issue.month.label}: {issue.cover_story}"
        # Only the images the final HTML shows (a cut article leaves its figures out),
        # and, when articles were cut, those of the full web version too.
        shown = parts.html + (parts.full_html if parts.shortened else "")
        used = [f for f in images.files if images.src(f) in shown]
        # Inside the message: only what the message itself shows (not a cut article's).
        embedded = ([f for f in used if images.src(f) in parts.html]
                    if settings.images == "embed" else ())
        eml = build_message(issue, subject, parts.text, parts.html, embedded)
        if len(eml) > settings.max_message_kb * 1024:
            log.warning("email: the message is %s, over %s; set images = \"link\" in "
                        "layouts/email/%s or use smaller images", human_size(len(eml)),
                        human_size(int(settings.max_message_kb * 1024)), SETTINGS_FILE)
        def named(role: str) -> str:
            return EMAIL.file_name(role, pub, issue.month)

        outputs = [
            Output(named("html"), parts.html.encode()),
            Output(named("text"), parts.text.encode()),
            Output(named("message"), eml),
        ]
        if parts.shortened:
            # The site's web version of the issue (what "continue reading" links to)
            # must hold the full text, not the email's leads.
            outputs.append(Output(named("web"), parts.full_html.encode()))
        if settings.images == "link":
            outputs += [Output(f"{IMAGE_FOLDER}/{f.name}", f.data) for f in used]
        return outputs


# -- fitting the budget ----------------------------------------------------------


def _fit(view: m.Issue, layouts: Path, settings: EmailSettings, images: EmailImages,
         thumbs: dict[m.Month, Shown]) -> EmailParts:
    """Render, inline and measure; cut the longest articles until the HTML fits."""
    levels = {article.slug: FULL for article in view.articles}
    full_html = ""
    traces: dict[str, Traced] = {}  # the first (uncut) and the last render
    while True:
        issue = _shortened(view, levels)
        traced = _render(issue, layouts, settings, images, thumbs, levels)
        traces.setdefault("full", traced)
        traces["last"] = traced
        raw = traced.text
        html = fold_lines(inline_css(raw)).rstrip("\n") + "\n"
        size = len(html.encode())
        full_html = full_html or html
        if size <= settings.budget_bytes:
            break
        # Inlining grows the HTML by about html/raw: cut that much, estimated on the
        # raw fragments of the articles, then measure again.
        excess = (size - settings.budget_bytes) * len(raw) / size
        cut = _choose_cuts(view, levels, layouts, images, excess)
        if not cut:
            log.warning("email: the HTML is %s even with every article cut to a teaser, "
                        "over the %s budget: Gmail will clip it", human_size(size),
                        human_size(settings.budget_bytes))
            break
        levels.update(cut)
    if full_html != html:
        _warn_cuts(levels, len(full_html.encode()), size, settings.budget_bytes)
    shortened = {slug: level for slug, level in levels.items() if level != FULL}
    return EmailParts(html, text_part(raw), shortened, full_html,
                      tuple(dict.fromkeys(traces.values())))


def _warn_cuts(levels: dict[str, int], full: int, size: int, budget: int) -> None:
    """One warning for every cut made: which articles, how far, and the sizes."""
    for level, one, many in ((LEAD, "its lead", "their leads"),
                             (TEASER, "its title and dek", "their titles and deks")):
        slugs = [slug for slug, at in levels.items() if at == level]
        if not slugs:
            continue
        named = ", ".join(f"'{slug}'" for slug in slugs[:5])
        if len(slugs) > 5:
            named += f" and {len(slugs) - 5} more"
        log.warning("email: the HTML is %s, over the %s budget: %s %s cut to %s with a link "
                    "to the full text (now %s)", human_size(full), human_size(budget), named,
                    *(("is", one) if len(slugs) == 1 else ("are", many)), human_size(size))


def _choose_cuts(view: m.Issue, levels: dict[str, int], layouts: Path, images: EmailImages,
                 excess: float) -> dict[str, int]:
    """The articles to cut one level further, longest first, to save about ``excess``."""
    env = environment(layouts, "email", _options(images, view, levels))
    body = env.filters["body"]

    def size(article: m.Article, level: int) -> int:
        return len(str(body(_cut(article, level))))

    for level in (LEAD, TEASER):
        candidates = [a for a in view.articles if levels[a.slug] < level]
        candidates.sort(key=lambda a: -size(a, levels[a.slug]))
        cuts: dict[str, int] = {}
        saved = 0
        for article in candidates:
            saving = size(article, levels[article.slug]) - size(article, level)
            if saving <= 0:
                continue  # already no longer than its lead
            cuts[article.slug] = level
            saved += saving
            if saved >= excess:
                break
        if cuts:
            return cuts
    return {}


def _cut(article: m.Article, level: int) -> m.Article:
    """An article cut to its lead (the first paragraphs) or to nothing but its heading."""
    if level == FULL:
        return article
    body: list[m.Block] = []
    if level == LEAD:
        length = 0
        for block in article.body:
            if not isinstance(block, m.Paragraph) or (body and length >= LEAD_CHARS):
                if body:
                    break
                continue
            body.append(block)
            length += len(m.plain_text(block.children))
    used = {ref.number for ref in _find(tuple(body), m.FootnoteRef)}
    notes = tuple(note for note in article.footnotes if note.number in used)
    return dataclasses.replace(article, body=tuple(body), footnotes=notes)


def _shortened(view: m.Issue, levels: dict[str, int]) -> m.Issue:
    if all(level == FULL for level in levels.values()):
        return view
    articles = tuple(_cut(a, levels[a.slug]) for a in view.articles)
    return dataclasses.replace(view, articles=articles)


# -- rendering ------------------------------------------------------------------


def _options(images: EmailImages, issue: m.Issue, levels: dict[str, int]) -> HtmlOptions:
    present = _ids(_shortened(issue, levels))
    page = issue.publication.issue_url(issue.month)

    def link_href(url: str) -> str:
        # A place the email leaves out (a subhead of a cut article) is on the web page.
        return url if url[1:] in present else f"{page}{url}"

    return HtmlOptions(footnotes="endnotes", image_src=images.src_of, link_href=link_href)


def _render(issue: m.Issue, layouts: Path, settings: EmailSettings, images: EmailImages,
            thumbs: dict[m.Month, Shown], levels: dict[str, int]) -> Traced:
    pub = issue.publication
    env = environment(layouts, "email", _options(images, issue, levels))
    return render_traced(
        env.get_template("email.html"),
        issue=issue,
        publication=pub,
        direction="rtl" if pub.language.split("-")[0].lower() in RTL_LANGUAGES else "ltr",
        preheader=_preheader(issue) + PREHEADER_PAD,
        placeholders=placeholders,
        links={
            "browser": pub.issue_url(issue.month),
            "pdf": pub.download_url(issue.month, "pdf"),
            "epub": pub.download_url(issue.month, "epub"),
            "unsubscribe": placeholders.UNSUBSCRIBE_URL,
        },
        shortened={slug for slug, level in levels.items() if level != FULL},
        show_cover_image=_show_cover_image(issue),
        thumbs=thumbs,
        thumb_width=settings.thumb_width,
        archive=issue.archive.entries[:settings.archive_entries],
        archive_url=f"{pub.base_url}/",
    )


def _show_cover_image(issue: m.Issue) -> bool:
    """The cover photo, unless the first article opens with the same photo."""
    cover = issue.cover_image
    if cover is None:
        return False
    first = issue.articles[0].lead_image if issue.articles else None
    return first is None or first.path != cover.path


def _preheader(issue: m.Issue) -> str:
    """The preview line: the first article's dek, else the cover lines, else the story."""
    for article in issue.articles:
        if article.dek:
            return article.dek
    return " · ".join(issue.cover_lines) or issue.cover_story


def _ids(issue: m.Issue) -> set[str]:
    """Every id the email's HTML holds, for internal links."""
    ids: set[str] = set()
    for article in issue.articles:
        ids.add(article.anchor)
        ids.update(b.id for b in m.walk_blocks(article.body) if isinstance(b, m.Heading))
        for note in article.footnotes:
            ids.update((note.id, f"{note.id}-ref"))
    ids.update(b.id for b in m.walk_blocks(issue.editors_note) if isinstance(b, m.Heading))
    return ids


def _find(node: Any, kind: type) -> Any:
    """Every ``kind`` object inside ``node`` (a model object), depth first."""
    if isinstance(node, kind):
        yield node
    if isinstance(node, tuple):
        for item in node:
            yield from _find(item, kind)
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            yield from _find(getattr(node, f.name), kind)


def _map_images(node: Any, change: Any) -> Any:
    """``node`` (a model object) with every :class:`~publisher.model.Image` changed."""
    if isinstance(node, m.Image):
        return change(node)
    if isinstance(node, tuple):
        mapped = tuple(_map_images(item, change) for item in node)
        return node if all(a is b for a, b in zip(mapped, node, strict=True)) else mapped
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        changes = {}
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            new = _map_images(value, change)
            if new is not value:
                changes[f.name] = new
        return dataclasses.replace(node, **changes) if changes else node
    return node
