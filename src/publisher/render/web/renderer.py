"""The web edition: the issue as web pages, from ``layouts/web/`` and the shared HTML writer.

``dist/<MONTH>/web/`` receives ``index.html`` (the issue: cover, contents by section,
editor's note, ticker, downloads, the archive of earlier issues), ``<slug>/index.html``
for each article, ``_web/web.css`` and ``_web/img/`` (each image in a few widths, for
``srcset``), and ``manifest.json`` (the pages, which ``publisher site`` reads for the
sitemap and the feed).  Every link between the pages is relative, so the folder works
wherever it is served; the canonical URLs, Open Graph and Twitter tags and the
schema.org JSON-LD give the public addresses under ``base_url``.  No script runs: the
JSON-LD is data.  The same issue gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from html import escape
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from publisher import model as m
from publisher.render import confine
from publisher.render.base import BuildContext, Output
from publisher.render.html import HtmlOptions
from publisher.render.templates import Traced, environment, render_traced
from publisher.render.web import WEB
from publisher.render.web.images import WebImages

FOLDER = WEB.output("pages").pattern  # "web"
STYLESHEET = "_web/web.css"
MANIFEST = "manifest.json"
#: The ``sizes`` of an image in the text column, and of the cover and lead image.
BODY_SIZES = "(min-width: 46rem) 42rem, 100vw"
WIDE_SIZES = "(min-width: 62rem) 58rem, 100vw"


def layout_policy(context: BuildContext) -> confine.Policy:
    """The web layout may refer to files of its own folder (``web.css`` refers to what it
    shows, published beside it in ``_web/``)."""
    return confine.Policy(
        "web", context.layouts, confine.keyed_folders(context.layouts, WEB),
        template_base=context.layouts / "web", data_urls=False,
        fix="refer to a file in layouts/web/ by a relative path from web.css",
        output_dir=lambda _path: "_web")


def page_path(article: m.Article) -> str:
    """``<slug>/index.html``: an article's page inside the issue's folder."""
    return f"{article.slug}/index.html"


def article_url(publication: m.Publication, month: m.Month, article: m.Article) -> str:
    """The public address of an article's page."""
    return f"{publication.issue_url(month)}{quote(article.slug)}/"


@dataclass
class _Page:
    """Where the page being rendered is: how far up the issue's folder is, its article."""

    up: str = ""
    article: str | None = None


ENV_KEY = "web-environment"


class _Current:
    """The edition an environment renders now (its filters ask it for links and images)."""

    edition: WebEdition


def _environment(context: BuildContext) -> tuple[Any, _Current]:
    """The Jinja environment of ``layouts/web/``, kept in ``context.shared``: a caller
    that renders again with the same ``shared`` (the preview) reuses its compiled
    templates, which Jinja recompiles when their file changes."""
    found = context.shared.get(ENV_KEY)
    if found is not None:
        return found
    current = _Current()
    options = HtmlOptions(footnotes="endnotes",
                          link_href=lambda url: current.edition._link(url),
                          image_src=lambda image: current.edition._src(image),
                          image_attributes=lambda image: current.edition._body_image(image),
                          table_wrap=True, pullquote_role="doc-pullquote")
    env = environment(context.layouts, "web", options)
    env.globals.update(picture=lambda *args, **kw: current.edition._picture(*args, **kw),
                       local=lambda url: current.edition._local(url))
    context.shared[ENV_KEY] = (env, current)
    return env, current


class WebRenderer:
    name = "web"

    def layout_policy(self, context: BuildContext) -> confine.Policy:
        return layout_policy(context)

    def render(self, context: BuildContext) -> list[Output]:
        policy = layout_policy(context)
        carried = confine.checked(context.shared, policy)
        return WebEdition(context, policy, carried).outputs()


class WebEdition:
    """One build of the web edition of ``context.issue``."""

    def __init__(self, context: BuildContext, policy: confine.Policy,
                 carried: list[confine.Carried]):
        self.context = context
        self.issue = context.issue
        self.pub = context.issue.publication
        self.policy = policy
        self.carried = carried
        self.images = WebImages()
        self.page = _Page()
        self.owners = _owners(self.issue)
        self.env, current = _environment(context)
        current.edition = self

    def _src(self, image: m.Image) -> str:
        return self.images.src(image, self.page.up)

    # -- links and images ----------------------------------------------------------------

    def _link(self, url: str) -> str:
        target = url[1:]
        owner = self.owners.get(target)
        if owner is None or owner == self.page.article:
            return url
        anchor = "" if target == m.article_id(owner) else f"#{target}"
        return f"{self.page.up}{quote(owner)}/{anchor}"

    def _body_image(self, image: m.Image) -> str:
        return (f' srcset="{escape(self.images.srcset(image, self.page.up))}" '
                f'sizes="{BODY_SIZES}" loading="lazy" decoding="async"')

    def _picture(self, image: m.Image, css_class: str = "", eager: bool = False) -> Markup:
        """An image outside the body (the cover, a lead image): wide, eager when first."""
        cls = f' class="{escape(css_class)}"' if css_class else ""
        loading = "" if eager else ' loading="lazy" decoding="async"'
        return Markup(
            f'<img{cls} src="{escape(self.images.src(image, self.page.up))}" '
            f'srcset="{escape(self.images.srcset(image, self.page.up))}" sizes="{WIDE_SIZES}" '
            f'alt="{escape(image.alt)}" width="{image.width}" height="{image.height}"{loading}>')

    def _local(self, url: str) -> str:
        """A public address under ``base_url`` as a relative link (the site's pages are
        one folder below its top); any other address as it is."""
        base = self.pub.base_url + "/"
        if url.startswith(base):
            return f"{self.page.up}../{url[len(base):]}"
        return url

    def _image_url(self, image: m.Image | None) -> str:
        if image is None:
            return ""
        return f"{self.pub.issue_url(self.issue.month)}_web/img/{self.images.largest(image).name}"

    # -- pages ----------------------------------------------------------------------------

    def outputs(self) -> list[Output]:
        issue = self.issue
        pages: list[tuple[str, Traced]] = []
        manifest: list[dict[str, str]] = []
        common = self._common()
        self.page = _Page()
        issue_page = self._render("issue.html", common, kind="issue",
                                  canonical=self.pub.issue_url(issue.month),
                                  title=f"{self.pub.title} {issue.month.label}: "
                                        f"{issue.cover_story}",
                                  description=self._issue_description(),
                                  image=self._image_url(issue.cover_image),
                                  jsonld=self._issue_jsonld())
        pages.append(("index.html", issue_page))
        manifest.append({"path": "index.html", "url": self.pub.issue_url(issue.month),
                         "title": f"{issue.month.label}: {issue.cover_story}"})
        for n, article in enumerate(issue.articles):
            self.page = _Page(up="../", article=article.slug)
            url = article_url(self.pub, issue.month, article)
            lead = article.lead_image
            traced = self._render(
                "article.html", common, kind="article", article=article, canonical=url,
                title=f"{article.title} | {self.pub.title} {issue.month.label}",
                description=article.dek or _first_words(article),
                image=self._image_url(lead or issue.cover_image),
                jsonld=self._article_jsonld(article, url),
                previous=issue.articles[n - 1] if n else None,
                next=issue.articles[n + 1] if n + 1 < len(issue.articles) else None)
            pages.append((page_path(article), traced))
            manifest.append({"path": page_path(article), "url": url, "title": article.title})
        made = self._made()
        for _, traced in pages:
            confine.check_output(self.policy, traced.text, made.__contains__,
                                 self.context.layouts / "web" / "base.html", (traced,))
        out = [Output(f"{FOLDER}/{path}", traced.text.encode()) for path, traced in pages]
        out.append(Output(f"{FOLDER}/{STYLESHEET}",
                          (self.context.layouts / "web" / "web.css").read_bytes()))
        out += [Output(f"{FOLDER}/{c.href}", c.path.read_bytes()) for c in self.carried]
        out += [Output(f"{FOLDER}/_web/img/{r.name}", r.data) for r in self.images.files()]
        out.append(Output(f"{FOLDER}/{MANIFEST}", json.dumps(
            {"month": str(issue.month), "date": issue.date.isoformat(), "pages": manifest},
            ensure_ascii=False, indent=1, sort_keys=True).encode() + b"\n"))
        return _unique(out)

    def _made(self) -> set[str]:
        """Every address of a file this edition makes, as its pages refer to it."""
        names = [STYLESHEET, *(c.href for c in self.carried),
                 *(f"_web/img/{r.name}" for r in self.images.files())]
        return {f"{up}{name}" for up in ("", "../") for name in names}

    def _common(self) -> dict[str, Any]:
        issue = self.issue
        sections = [(section, [a for a in issue.articles if a.section == section])
                    for section in issue.sections]
        return {
            "publication": self.pub, "issue": issue,
            "sections": [(s, arts) for s, arts in sections if arts],
            "pdf_name": self.pub.download_url(issue.month, "pdf").rsplit("/", 1)[1],
            "epub_name": self.pub.download_url(issue.month, "epub").rsplit("/", 1)[1],
            "archive": [_localised(entry, self.pub.base_url) for entry in issue.archive],
            "stylesheet": STYLESHEET,
        }

    def _render(self, template: str, common: Mapping[str, Any], **values: Any) -> Traced:
        values["jsonld"] = Markup(json.dumps(values["jsonld"], ensure_ascii=False,
                                             sort_keys=True)
                                  .replace("<", "\\u003c").replace(">", "\\u003e")
                                  .replace("&", "\\u0026"))
        return render_traced(self.env.get_template(template), **common, up=self.page.up,
                             **values)

    # -- what the pages say of themselves ---------------------------------------------------

    def _issue_description(self) -> str:
        lines = "; ".join(self.issue.cover_lines)
        return f"{self.issue.cover_story}. {lines}" if lines else self.issue.cover_story

    def _periodical(self) -> dict[str, Any]:
        found: dict[str, Any] = {"@type": "Periodical", "name": self.pub.title,
                                 "url": f"{self.pub.base_url}/",
                                 "publisher": {"@type": "Organization",
                                               "name": self.pub.publisher}}
        issn = self.issue.issn or self.pub.issn
        if issn:
            found["issn"] = issn
        return found

    def _issue_jsonld(self) -> dict[str, Any]:
        issue = self.issue
        data: dict[str, Any] = {
            "@context": "https://schema.org", "@type": "PublicationIssue",
            "name": issue.cover_story, "url": self.pub.issue_url(issue.month),
            "datePublished": issue.date.isoformat(),
            "issueNumber": issue.number or str(issue.month),
            "inLanguage": self.pub.language, "isPartOf": self._periodical(),
            "hasPart": [{"@type": "NewsArticle", "headline": a.title,
                         "url": article_url(self.pub, issue.month, a)}
                        for a in issue.articles],
        }
        if issue.cover_image is not None:
            data["image"] = self._image_url(issue.cover_image)
        return data

    def _article_jsonld(self, article: m.Article, url: str) -> dict[str, Any]:
        issue = self.issue
        data: dict[str, Any] = {
            "@context": "https://schema.org", "@type": "NewsArticle",
            "headline": article.title[:110], "url": url, "mainEntityOfPage": url,
            "datePublished": issue.date.isoformat(), "dateModified": issue.date.isoformat(),
            "articleSection": article.section, "inLanguage": self.pub.language,
            "author": [{"@type": "Person", "name": article.byline}],
            "publisher": {"@type": "Organization", "name": self.pub.publisher},
            "isPartOf": {"@type": "PublicationIssue", "url": self.pub.issue_url(issue.month),
                         "issueNumber": issue.number or str(issue.month),
                         "isPartOf": self._periodical()},
        }
        if article.dek:
            data["description"] = article.dek
        image = article.lead_image or issue.cover_image
        if image is not None:
            data["image"] = [self._image_url(image)]
        return data


def _owners(issue: m.Issue) -> dict[str, str]:
    """Every id an internal link may point at, to the slug of the article holding it."""
    owners: dict[str, str] = {}
    for article in issue.articles:
        owners[article.anchor] = article.slug
        for n, _ in enumerate(article.body, 1):
            owners[m.block_id_of(article.anchor, n)] = article.slug
        for heading in article.headings:
            owners[heading.id] = article.slug
        for note in article.footnotes:
            owners[note.id] = article.slug
            owners[f"{note.id}-ref"] = article.slug
    return owners


def _localised(entry: m.ArchiveEntry, base_url: str) -> m.ArchiveEntry:
    """An archive entry whose addresses under ``base_url`` are relative to a page of the
    issue's folder (the site's pages are one folder below its top)."""
    base = base_url + "/"

    def local(url: str) -> str:
        return "../" + url[len(base):] if url.startswith(base) else url

    return replace(entry, page_url=local(entry.page_url), pdf_url=local(entry.pdf_url),
                   epub_url=local(entry.epub_url))


def _first_words(article: m.Article, limit: int = 160) -> str:
    for block in article.body:
        if isinstance(block, m.Paragraph):
            text = m.plain_text(block.children)
            return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"
    return article.title


def _unique(outputs: list[Output]) -> list[Output]:
    seen: dict[str, Output] = {}
    for out in outputs:
        seen.setdefault(out.name, out)
    return list(seen.values())
