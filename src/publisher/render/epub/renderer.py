"""The EPUB 3: the shared HTML writer's XHTML, packaged by ebooklib.

Every content document is rendered from ``layouts/epub/`` and parsed once
with lxml (a template that is not well-formed XML fails here, not in a
reading system); page-break markers go in where the print layout, which the
build hands over (``context.print_layout``), starts each printed page
(:mod:`publisher.render.epub.pages`).  ebooklib writes the
package document, the NCX and the zip; the zip is then rewritten so that the
same issue always gives the same bytes.  The navigation document is the
layout's ``nav.xhtml``, not ebooklib's, so the table of contents, the
landmarks and the page list are written as the layout says.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import logging
import posixpath
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from ebooklib import epub
from lxml import etree

from publisher import model as m
from publisher.render import confine
from publisher.render.base import BuildContext, Output
from publisher.render.epub import EPUB
from publisher.render.epub.assets import (
    LAYOUT_MEDIA_TYPES,
    Asset,
    asset_href,
    fit_image,
    layout_assets,
    reproducible_zip,
)
from publisher.render.epub.cover import cover_jpeg
from publisher.render.epub.pages import XHTML, PageTarget, Paginator
from publisher.render.epub.text import HANGUL_RUN, mark_language_of_parts
from publisher.render.html import HtmlOptions, block_id
from publisher.render.templates import Traced, environment, render_traced

log = logging.getLogger(__name__)

# Stable identifiers: uuid5 over this namespace and "<publication title>/<month>".
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://webzine.example.org/publisher/epub")
CONFORMS_TO = "EPUB Accessibility 1.1 - WCAG 2.1 Level AA"
STYLESHEET = "css/style.css"
COVER_IMAGE = "images/cover-image.jpg"
ASSETS_KEY = "epub-assets"
ENV_KEY = "epub-environment"
DOCS_KEY = "epub-documents"


def identifier(issue: m.Issue) -> str:
    """``urn:uuid:…``, the same for every build of the same publication and month."""
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{issue.publication.title}/{issue.month}')}"


@dataclass
class Doc:
    """One content document of the spine."""

    file_name: str
    title: str
    template: str
    values: dict[str, Any] = field(default_factory=dict)
    tree: Any = None  # lxml ElementTree, once rendered
    trace: Traced | None = None  # where the rendered template's values came from


@dataclass(frozen=True)
class NavEntry:
    title: str
    href: str | None
    children: tuple[NavEntry, ...] = ()


def _article_file(article: m.Article) -> str:
    """``article-<slug>.xhtml``: no own document's name starts with ``article-``."""
    return f"{article.anchor}.xhtml"


def _id_files(issue: m.Issue) -> dict[str, str]:
    """Every id an internal link may point at, to the document holding it."""
    files: dict[str, str] = {}
    for article in issue.articles:
        name = _article_file(article)
        files[article.anchor] = name
        for n, _ in enumerate(article.body, 1):
            files[block_id(article, n)] = name
        for heading in article.headings:
            files[heading.id] = name
        for note in article.footnotes:
            files[note.id] = name
            files[f"{note.id}-ref"] = name
    return files


def _accessibility_summary(issue: m.Issue, paginated: bool) -> str:
    pages = (" Page-break markers and a page list give the page numbers of the printed "
             "magazine." if paginated else "")
    return (f"{issue.title} is a reflowable EPUB whose reading order follows the magazine. "
            "Articles are marked up with headings, sections, figures with captions, "
            "and footnotes; every image has a text alternative; a table of contents and "
            f"landmarks allow navigation.{pages} The text relies on the reading system’s "
            "fonts and can be resized. No hazards are known.")


def layout_policy(context: BuildContext) -> confine.Policy:
    """The EPUB's layout may refer to files in its folders of ``layouts/`` that it can
    pack (CSS, images, fonts) at a place inside the package: ``style.css`` is ``css/style.css``,
    the content documents are at the top."""
    stylesheet_dir = posixpath.dirname(STYLESHEET)
    stylesheet = context.layouts / "epub" / "style.css"
    return confine.Policy(
        "epub", context.layouts, confine.keyed_folders(context.layouts, EPUB),
        template_base=context.layouts / "epub",
        data_urls=False, suffixes=frozenset(LAYOUT_MEDIA_TYPES),
        fix="refer to a file in layouts/epub/ by a relative path (it is packed into the EPUB)",
        output_dir=lambda path: stylesheet_dir if path == stylesheet else "")


class EpubRenderer:
    name = "epub"

    def layout_policy(self, context: BuildContext) -> confine.Policy:
        return layout_policy(context)

    def prepare(self, context: BuildContext) -> None:
        """The work that does not wait for the print layout: the images, the cover
        and every content document but the colophon."""
        confine.checked(context.shared, layout_policy(context))
        context.shared[DOCS_KEY] = _documents(context)

    def render(self, context: BuildContext) -> list[Output]:
        """The EPUB, with the print pages of ``context.print_layout``: the EPUB follows
        the print layout, which the build lays out and hands over
        (:func:`publisher.render.print_layout` lays it out for other callers)."""
        issue = context.issue
        if context.print_layout is None:
            raise ValueError("the EPUB follows the print layout: set context.print_layout "
                             "(publisher.render.print_layout(context) lays it out)")
        data = build_epub(context, context.print_layout.pages)
        return [Output(EPUB.file_name("book", issue.publication, issue.month), data)]


def build_epub(context: BuildContext, page_map: Mapping[str, str] | None) -> bytes:
    """The EPUB bytes of ``context.issue``; with ``page_map``, with print page numbers."""
    issue = context.issue
    policy = layout_policy(context)
    carried = confine.checked(context.shared, policy)
    images, cover = _assets(context)
    env = _environment(context)
    # Print pages only when the map names elements of this issue (an empty or
    # foreign map would declare pages that the book cannot show); an issue with no
    # articles has no element to map, and nothing to warn about.
    mappable = _id_files(issue).keys()
    paginated = page_map is not None and not mappable.isdisjoint(page_map)
    if page_map is not None and not paginated and mappable:
        log.warning("the print page map names no element of %s: no print page numbers",
                    issue.month)
    summary = _accessibility_summary(issue, paginated)
    ident = identifier(issue)
    common = {"issue": issue, "stylesheet": STYLESHEET}

    docs, first_article, back = _documents(context)
    nav, colophon = docs[1], docs[-1]
    colophon.values.update(paginated=paginated, accessibility_summary=summary,
                           identifier=ident)
    colophon.tree, colophon.trace = _render_doc(env, colophon, common, images)
    pages: list[PageTarget] = []
    if page_map is not None and paginated:
        paginator = Paginator(page_map)
        for doc in docs:
            if doc is not nav:
                paginator.paginate(doc.tree.getroot(), doc.file_name)
        pages = paginator.targets

    toc = _toc(issue, docs, first_article)
    landmarks = [
        {"type": "cover", "href": "cover.xhtml", "title": "Cover"},
        {"type": "toc", "href": "nav.xhtml#toc", "title": "Contents"},
        {"type": "bodymatter", "href": docs[first_article].file_name,
         "title": docs[first_article].title},
    ]
    if back < len(docs):
        landmarks.append({"type": "backmatter", "href": docs[back].file_name,
                          "title": docs[back].title})
    nav.trace = render_traced(env.get_template("nav.xhtml"), **common, toc=toc,
                              landmarks=landmarks, pages=pages)
    nav.tree = _parse(nav.trace.text, nav.file_name)

    book = _book(issue, ident, summary, paginated, images)
    book.set_cover(COVER_IMAGE, cover, create_page=False)
    css = env.loader.get_source(env, "style.css")[0]  # type: ignore[union-attr]
    book.add_item(epub.EpubItem(uid="style", file_name=STYLESHEET, media_type="text/css",
                                content=css.encode("utf-8")))
    package = {STYLESHEET, COVER_IMAGE, "toc.ncx", "content.opf",
               *(asset.href for asset in images.values()), *(doc.file_name for doc in docs)}
    for n, asset in enumerate(layout_assets(carried, package)):
        book.add_item(epub.EpubItem(uid=f"layout-{n:02d}", file_name=asset.href,
                                    media_type=asset.media_type, content=asset.data))
        package.add(asset.href)
    items: dict[str, _Document] = {}
    for n, doc in enumerate(docs):
        content = _serialize(doc.tree)
        confine.check_output(policy, content.decode("utf-8"), _in_package(package),
                             context.layouts / "epub" / doc.template,
                             [doc.trace] if doc.trace else [])
        item = _Document(uid=f"doc-{n:02d}-{doc.file_name.rsplit('.', 1)[0]}",
                         file_name=doc.file_name, title=doc.title, content=content)
        if doc is nav:
            item.properties.append("nav")
        book.add_item(item)
        items[doc.file_name] = item
    book.spine = [items[doc.file_name] for doc in docs]
    book.toc = _ncx_toc(toc, items)
    book.add_item(epub.EpubNcx())

    raw = io.BytesIO()
    modified = dt.datetime.combine(issue.date, dt.time(0, 0))
    writer = _Writer(raw, book, {"raise_exceptions": True, "mtime": modified,
                                 "epub3_pages": False, "epub3_landmark": False,
                                 "epub2_guide": False})
    writer.process()
    writer.write()
    return reproducible_zip(raw.getvalue(), issue.date)


def _in_package(package: set[str]) -> Any:
    """Whether a reference of a content document (all at the top of the package) names
    one of the package's files."""
    def inside(url: str) -> bool:
        parts = urlsplit(url)
        return (not parts.scheme and not parts.netloc
                and posixpath.normpath(unquote(parts.path)) in package)
    return inside


def _assets(context: BuildContext) -> tuple[dict[str, Asset], bytes]:
    """The book's images, scaled (by source path), and the composed cover (JPEG).

    Computed once per build and kept in ``context.shared``, so the build can
    have them made while the print pages are laid out.
    """
    cached = context.shared.get(ASSETS_KEY)
    if cached is not None:
        return cached
    issue = context.issue
    images: dict[str, Asset] = {}
    taken = {COVER_IMAGE}  # the composed cover's name is the package's own
    for image in issue.images:
        if image is issue.cover_image and not any(
                image.path == other.path for a in issue.articles for other in a.images):
            continue  # only in the composed cover
        if image.path.as_posix() not in images:
            asset = fit_image(image)
            href = _unique(asset.href, taken)
            taken.add(href)
            images[image.path.as_posix()] = dataclasses.replace(asset, href=href)
    assets = images, cover_jpeg(issue, context.layouts)
    context.shared[ASSETS_KEY] = assets
    return assets


def _unique(href: str, taken: set[str]) -> str:
    """``href``, or ``stem-2.ext``, ``stem-3.ext``...: two issue images can make one name
    (``a b.jpg`` and ``a-b.jpg``; ``a.png`` re-encoded beside ``a.jpg``)."""
    stem, dot, ext = href.rpartition(".")
    if not dot:
        stem, ext = href, ""
    n = 1
    while href in taken:
        n += 1
        href = f"{stem}-{n}{dot}{ext}"
    return href


def _environment(context: BuildContext) -> Any:
    """The Jinja2 environment of ``layouts/epub/`` with the HTML writer's EPUB options
    (links to the document holding each id, the scaled images); one per build."""
    cached = context.shared.get(ENV_KEY)
    if cached is not None:
        return cached
    issue = context.issue
    id_files = _id_files(issue)
    anchors = {a.anchor for a in issue.articles}
    images, _ = _assets(context)

    def link_href(url: str) -> str:
        target = url[1:]
        name = id_files.get(target)
        if name is None:
            return url
        return name if target in anchors else f"{name}#{target}"

    def image_src(image: m.Image) -> str:
        asset = images.get(image.path.as_posix())
        return asset.href if asset else asset_href(image)

    options = HtmlOptions(footnotes="epub", xhtml=True, block_ids=True, link_href=link_href,
                          image_src=image_src)
    env = environment(context.layouts, "epub", options)
    context.shared[ENV_KEY] = env
    return env


def _documents(context: BuildContext) -> tuple[list[Doc], int, int]:
    """The spine's documents, rendered and parsed but for the nav and the colophon (which
    wait for the print layout), with the index of the first article and of the back matter.

    Taken from ``context.shared`` when the build made them while the print pages were
    laid out (once: pagination changes the trees), else made here.
    """
    made = context.shared.pop(DOCS_KEY, None)
    if made is not None:
        return made
    issue = context.issue
    images, _ = _assets(context)
    env = _environment(context)
    common = {"issue": issue, "stylesheet": STYLESHEET}
    docs: list[Doc] = [Doc("cover.xhtml", "Cover", "cover.xhtml", {
        "cover_href": COVER_IMAGE, "cover_alt": _cover_alt(issue)})]
    docs.append(Doc("nav.xhtml", "Contents", "nav.xhtml"))
    if issue.editors_note:
        docs.append(Doc("editors-note.xhtml", "Editor’s Note", "editors-note.xhtml"))
    first_article = len(docs) if issue.articles else len(docs) - 1
    for article in issue.articles:
        docs.append(Doc(_article_file(article), article.title, "article.xhtml",
                        {"article": article}))
    if issue.ticker:
        docs.append(Doc("ticker.xhtml", "News Ticker", "ticker.xhtml"))
    back = len(docs)
    if issue.archive:
        docs.append(Doc("archive.xhtml", "Earlier Issues", "archive.xhtml"))
    docs.append(Doc("colophon.xhtml", "Colophon", "colophon.xhtml", {
        "date_label": f"{issue.date:%-d %B %Y}", "issn": issue.issn or issue.publication.issn,
        "copyright_holder": issue.publication.copyright_holder or issue.publication.publisher,
        "credits": _credits(issue)}))
    for doc in docs:
        if doc.template not in ("nav.xhtml", "colophon.xhtml"):
            doc.tree, doc.trace = _render_doc(env, doc, common, images)
    return docs, first_article, back


def _render_doc(env: Any, doc: Doc, common: Mapping[str, Any],
                images: Mapping[str, Asset]) -> tuple[Any, Traced]:
    """``doc`` rendered from its template and parsed, Hangul runs marked ``lang="ko"``,
    images given the scaled files' sizes; and where the template's values came from."""
    traced = render_traced(env.get_template(doc.template), **common, **doc.values)
    tree = _parse(traced.text, doc.file_name)
    mark_language_of_parts(tree.getroot(), HANGUL_RUN, "ko")
    by_href = {asset.href: asset for asset in images.values()}
    for img in tree.iter(f"{{{XHTML}}}img"):
        asset = by_href.get(img.get("src", ""))
        if asset is not None:
            img.set("width", str(asset.width))
            img.set("height", str(asset.height))
    return tree, traced


class _Writer(epub.EpubWriter):
    """ebooklib's writer, with the package document's language on its root element
    (``xml:lang``: reading systems and Ace read it as the metadata's language)."""

    def _write_opf_file(self, root: Any) -> None:
        root.set("{http://www.w3.org/XML/1998/namespace}lang", self.book.language)
        super()._write_opf_file(root)


class _Document(epub.EpubHtml):
    """A content document written as the layout rendered it (ebooklib's
    :class:`~ebooklib.epub.EpubHtml` would re-parse it as HTML and rebuild it)."""

    def get_content(self, default: bytes | None = None) -> bytes:
        return self.content


# HTML's void elements; any other element is written with an end tag even when
# empty (``<span></span>``), as reading systems that parse XHTML as HTML need.
_VOID = frozenset(f"{{{XHTML}}}{tag}" for tag in (
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr"))


def _parse(text: str, name: str) -> Any:
    try:
        root = etree.fromstring(text.encode("utf-8"), etree.XMLParser(resolve_entities=False))
    except etree.XMLSyntaxError as exc:  # a layout bug, not a source problem
        raise ValueError(f"layouts/epub: {name} is not well-formed XHTML: {exc}") from exc
    return root.getroottree()


def _serialize(tree: Any) -> bytes:
    for element in tree.iter(f"{{{XHTML}}}*"):
        if element.text is None and len(element) == 0 and element.tag not in _VOID:
            element.text = ""
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def _cover_alt(issue: m.Issue) -> str:
    parts = [f"Cover of {issue.title}: {issue.cover_story}."]
    parts += [f"{line}." for line in issue.cover_lines]
    if issue.cover_image is not None:
        parts.append(f"Photo: {issue.cover_image.alt}.")
    return " ".join(parts)


def _credits(issue: m.Issue) -> list[str]:
    seen: dict[str, None] = {}
    if issue.cover_image is not None and issue.cover_image.credit:
        seen.setdefault(f"cover {issue.cover_image.credit}", None)
    for article in issue.articles:
        if article.photo_credit:
            seen.setdefault(f"“{article.title}” {article.photo_credit}", None)
    return list(seen)


def _toc(issue: m.Issue, docs: list[Doc], first_article: int) -> list[NavEntry]:
    by_file = {_article_file(a): a for a in issue.articles}
    entries: list[NavEntry] = []
    for doc in docs[2:first_article]:
        entries.append(NavEntry(doc.title, doc.file_name))
    for section in issue.sections:
        articles = [a for a in issue.articles if a.section == section]
        if not articles:
            continue
        children = tuple(
            NavEntry(a.title, _article_file(a), tuple(
                NavEntry(m.plain_text(h.children), f"{_article_file(a)}#{h.id}")
                for h in a.headings if h.level == 2))
            for a in articles)
        entries.append(NavEntry(section, None, children))
    for doc in docs[first_article:]:
        if doc.file_name not in by_file:
            entries.append(NavEntry(doc.title, doc.file_name))
    return entries


def _ncx_toc(toc: list[NavEntry], items: Mapping[str, _Document]) -> list[Any]:
    """The same contents for the NCX (older reading systems), flattened one level:
    a magazine section's articles stand at the top with their subheads."""
    out: list[Any] = []
    for entry in toc:
        if entry.href is None:
            for article in entry.children:
                out.append((items[article.href or ""], [
                    epub.Link(sub.href, sub.title, uid=f"ncx-{(sub.href or '').split('#')[-1]}")
                    for sub in article.children]) if article.children
                    else items[article.href or ""])
        else:
            out.append(items[entry.href])
    return out


def _book(issue: m.Issue, ident: str, summary: str, paginated: bool,
          images: Mapping[str, Asset]) -> epub.EpubBook:
    pub = issue.publication
    book = epub.EpubBook()
    book.IDENTIFIER_ID = "pub-id"
    book.metadata = {}
    book.set_identifier(ident)
    book.set_title(issue.title)
    book.set_language(pub.language)
    for n, creator in enumerate(issue.creators, 1):
        book.add_author(creator, uid=f"creator-{n}", role="aut")
    book.add_metadata("DC", "publisher", pub.publisher)
    book.add_metadata("DC", "date", issue.date.isoformat())
    description = f"{issue.cover_story}. " + " ".join(f"{line}." for line in issue.cover_lines)
    if pub.description:
        description += f" {pub.description}"
    book.add_metadata("DC", "description", description)
    for subject in dict.fromkeys(("Korea", *issue.sections)):
        book.add_metadata("DC", "subject", subject)
    holder = pub.copyright_holder or pub.publisher
    book.add_metadata("DC", "rights", f"ⓒ {issue.date.year} {holder}")
    if paginated:
        book.add_metadata("DC", "source", pub.download_url(issue.month, "pdf"),
                          {"id": "print-source"})
        book.add_metadata(None, "meta", "pagination",
                          {"refines": "#print-source", "property": "source-of"})

    def meta(prop: str, value: str) -> None:
        book.add_metadata(None, "meta", value, {"property": prop})

    meta("schema:accessMode", "textual")
    if images or issue.cover_image is not None:
        meta("schema:accessMode", "visual")
    meta("schema:accessModeSufficient", "textual")
    features = ["structuralNavigation", "tableOfContents", "readingOrder", "alternativeText",
                "displayTransformability"]
    if paginated:
        features += ["printPageNumbers", "pageBreakMarkers", "pageNavigation"]
    for feature in features:
        meta("schema:accessibilityFeature", feature)
    meta("schema:accessibilityHazard", "none")
    meta("schema:accessibilitySummary", summary)
    meta("dcterms:conformsTo", CONFORMS_TO)
    for n, asset in enumerate(images.values(), 1):
        book.add_item(epub.EpubImage(uid=f"img-{n:02d}-" + re.sub(r"[^A-Za-z0-9]+", "-",
                                                                 asset.href.split("/", 1)[1]),
                                     file_name=asset.href, media_type=asset.media_type,
                                     content=asset.data))
    return book
