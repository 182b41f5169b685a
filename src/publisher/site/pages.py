"""The download site: ``dist/site/``, where readers find every issue.

An index of every issue, newest first (cover, month, cover story, download
links with sizes); for each built issue its web edition (``dist/<MONTH>/web/``: the
issue page as ``<MONTH>/index.html``, a page per article) and the web version of its
email (``<MONTH>/email.html``; the issue page itself when the web edition is not
built); for an archive-only issue a page of its archive entry; an Atom feed whose
entries carry the downloads as enclosures and link the article pages; ``sitemap.xml``
and ``robots.txt``.  Static files with relative links; it reads only ``issues/``,
``layouts/site/`` (with the partials it imports from ``layouts/_partials/``) and the
built outputs in ``dist/<MONTH>/``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from publisher.build.atomic import write_atomic
from publisher.build.builder import Paths
from publisher.build.outputs import month_outputs
from publisher.diagnostics import Diagnostics
from publisher.errors import human_size
from publisher.model import ArchiveEntry, Month, Publication
from publisher.render.email import placeholders
from publisher.render.templates import environment, layout_errors
from publisher.source import raster as imaging
from publisher.source.archive import read_entry
from publisher.source.catalog import is_archive_only, issue_folders
from publisher.source.config import load_publication

log = logging.getLogger(__name__)
progress = logging.getLogger("publisher.progress")

THUMB_WIDTH = 480
SITE_DIR = "site"


@dataclass(frozen=True)
class Download:
    """A file readers can download: a relative link for the site, an absolute one for feeds."""

    href: str
    url: str
    size: int | None
    media_type: str

    @property
    def size_label(self) -> str:
        return human_size(self.size) if self.size is not None else ""


@dataclass(frozen=True)
class SiteIssue:
    """One issue as the site lists it: its archive entry, and what of it the site holds."""

    entry: ArchiveEntry
    pdf: Download | None
    epub: Download | None
    page: str | None  # relative link to the web edition (or the email's web version)
    cover: str | None  # relative link to the thumbnail
    #: the web edition's pages (public URL, title), the issue page first
    pages: tuple[tuple[str, str], ...] = ()
    archive_only: bool = False

    @property
    def month(self) -> Month:
        return self.entry.month

    @property
    def cover_story(self) -> str:
        return self.entry.cover_story

    @property
    def page_url(self) -> str:
        return self.entry.page_url

    @property
    def date(self) -> dt.date:
        return self.entry.month.first_day


def build_site(paths: Paths, diag: Diagnostics | None = None) -> list[Path]:
    """Write ``dist/site/``; return the files written."""
    diag = diag if diag is not None else Diagnostics()
    publication = load_publication(paths.issues, diag)
    diag.raise_if_errors()
    assert publication is not None
    site = paths.dist / SITE_DIR
    written: list[Path] = []
    issues: list[SiteIssue] = []
    for month, folder in sorted(issue_folders(paths.issues).items(), reverse=True):
        entry = read_entry(folder, month, publication, diag)
        diag.raise_if_errors()
        assert entry is not None
        issue, files = _site_issue(entry, folder, publication, paths.dist, site, diag)
        issues.append(issue)
        written.extend(files)
    env = environment(paths.layouts, "site", trailing_newline=False)
    with layout_errors():
        index = env.get_template("index.html").render(publication=publication, issues=issues,
                                                      consent=_consent(publication))
        unsubscribe = env.get_template("unsubscribe.html").render(
            publication=publication, state="static", address="", action="")
        preferences = env.get_template("preferences.html").render(
            publication=publication, state="static", address="", action="", name="",
            done="", problem="")
        search = env.get_template("search.html").render(publication=publication)
        months = {issue.month: env.get_template("month.html").render(
            publication=publication, issue=issue) for issue in issues if issue.archive_only}
    written.append(write_atomic(site / "index.html", index.encode()))
    written.append(write_atomic(site / "preferences.html", preferences.encode(), quiet=True))
    for month, html in months.items():
        written.append(write_atomic(site / str(month) / "index.html", html.encode(), quiet=True))
    written.append(write_atomic(site / "unsubscribe.html", unsubscribe.encode(), quiet=True))
    written.append(write_atomic(site / "site.css",
                                (paths.layouts / "site" / "site.css").read_bytes(), quiet=True))
    written.append(write_atomic(site / "feed.xml", atom_feed(publication, issues)))
    written.append(write_atomic(site / "sitemap.xml", sitemap(publication, issues), quiet=True))
    written.append(write_atomic(site / "robots.txt", robots(publication), quiet=True))
    written.append(write_atomic(site / "search" / "index.html", search.encode(), quiet=True))
    written.append(write_atomic(site / "search.js",
                                (paths.layouts / "site" / "search.js").read_bytes(), quiet=True))
    from publisher.site.search import index_site

    index_site(site)
    progress.info("site: %d issue(s) in %s", len(issues), site)
    return written


#: The downloads of an issue: kind -> the output (format, role) the site publishes.
DOWNLOADS = {"pdf": ("pdf", "reader"), "epub": ("epub", "book")}


def _site_issue(entry: ArchiveEntry, folder: Path, publication: Publication, dist: Path,
                site: Path, diag: Diagnostics) -> tuple[SiteIssue, list[Path]]:
    month = entry.month
    built = month_outputs(dist, publication, month)
    out_dir = site / str(month)
    written: list[Path] = []
    archive_only = is_archive_only(folder)
    page = None
    downloads: dict[str, Download | None] = {}
    for kind, media_type, url in (("pdf", "application/pdf", entry.pdf_url),
                                  ("epub", "application/epub+zip", entry.epub_url)):
        output = built.path(*DOWNLOADS[kind])
        if output.is_file():
            written.append(_copy(output, out_dir / output.name))
            downloads[kind] = Download(f"{month}/{output.name}", url, output.stat().st_size,
                                       media_type)
        elif archive_only:
            downloads[kind] = Download(url, url, None, media_type)
        else:
            downloads[kind] = None
    if archive_only:
        page = f"{month}/index.html"  # its archive page
    pages: tuple[tuple[str, str], ...] = ()
    web = built.path("web", "pages")
    if (web / "index.html").is_file():  # the web edition
        for source in sorted(web.rglob("*")):
            if source.is_file() and source.name != "manifest.json":
                written.append(_publish(source, out_dir / source.relative_to(web)))
        pages = _pages(web)
        if not pages:
            diag.warn(f"{month}: {web / 'manifest.json'} is missing or damaged: the sitemap "
                      f"lists none of its articles; rebuild it ('publisher build {month}')",
                      folder / "issue.toml")
        page = f"{month}/index.html"
    email = built.path("email", "html")
    if built.path("email", "web").is_file():  # the email was shortened to fit its budget
        email = built.path("email", "web")
    if email.is_file():
        name = "email.html" if page else "index.html"
        written.append(write_atomic(out_dir / name, web_version(email, publication), quiet=True))
        images = built.path("email", "images")
        if images.is_dir():
            for image in sorted(images.iterdir()):
                written.append(_copy(image, out_dir / images.name / image.name))
        page = page or f"{month}/index.html"
    if not archive_only and not (downloads["pdf"] and downloads["epub"] and page):
        diag.warn(f"{month} is not fully built: run 'make issue MONTH={month}' first",
                  folder / "issue.toml")
    cover = None
    if entry.cover_image is not None:
        target = out_dir / "cover.jpg"
        if not _newer(target, entry.cover_image):
            write_atomic(target, thumbnail(entry.cover_image), quiet=True)
        written.append(target)
        cover = f"{month}/cover.jpg"
    issue = SiteIssue(entry, downloads["pdf"], downloads["epub"], page, cover, pages,
                      archive_only)
    return issue, written


def _pages(web: Path) -> tuple[tuple[str, str], ...]:
    """The pages of a web edition (public URL, title), from its manifest."""
    try:
        manifest = json.loads((web / "manifest.json").read_text(encoding="utf-8"))
        pages = tuple((page["url"], page["title"]) for page in manifest["pages"])
    except (OSError, ValueError, KeyError, TypeError):
        return ()
    return pages if all(isinstance(v, str) for page in pages for v in page) else ()


def sitemap(publication: Publication, issues: list[SiteIssue]) -> bytes:
    """``sitemap.xml``: the index, every issue's page and every article's, dated by issue."""
    base = publication.base_url
    rows = [(f"{base}/", max((i.date for i in issues), default=None))]
    for issue in sorted(issues, key=lambda i: i.month, reverse=True):
        urls = [url for url, _ in issue.pages] or ([issue.page_url] if issue.page else [])
        rows += [(url, issue.date) for url in urls]
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">']
    for url, date in rows:
        lastmod = f"<lastmod>{date.isoformat()}</lastmod>" if date else ""
        lines.append(f"<url><loc>{_xml(url)}</loc>{lastmod}</url>")
    lines.append("</urlset>")
    return ("\n".join(lines) + "\n").encode()


def robots(publication: Publication) -> bytes:
    """``robots.txt``: everything may be crawled; where the sitemap is."""
    return (f"User-agent: *\nAllow: /\n\nSitemap: {publication.base_url}/sitemap.xml\n"
            ).encode()


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def web_version(email_html: Path, publication: Publication) -> bytes:
    """The email as a web page of the site.

    Personal placeholders become neutral text, and links under the public base
    URL become relative, so the page and its images work wherever the site is
    served (the preview server included).
    """
    html = email_html.read_text(encoding="utf-8")
    for quote in ('"', "'"):
        html = html.replace(f"{quote}{publication.base_url}/", f"{quote}../")
    for token, value in ((placeholders.RECIPIENT_NAME, "reader"),
                         (placeholders.RECIPIENT_EMAIL, ""),
                         (placeholders.UNSUBSCRIBE_URL, "../unsubscribe.html"),
                         (placeholders.UNSUBSCRIBE_MAILTO, "../unsubscribe.html"),
                         (placeholders.PREFERENCES_URL, "../preferences.html")):
        html = html.replace(token, value)
    return html.encode("utf-8")


def _consent(publication: Publication) -> object:
    """The consent sentence the signup form shows (its version and digest go with it)."""
    from publisher.deliver.consent import Consent

    return Consent(publication.consent_text, publication.consent_version)


def thumbnail(path: Path) -> bytes:
    """A cover thumbnail, THUMB_WIDTH wide, as a JPEG without metadata."""
    image = imaging.load(path, within=(THUMB_WIDTH, 1 << 16)).convert("RGB")
    return imaging.encode(imaging.fit(image, THUMB_WIDTH), quality=82, progressive=True).data


def atom_feed(publication: Publication, issues: list[SiteIssue]) -> bytes:
    """An Atom feed of the issues, the downloads as enclosures; dated by the issues."""
    from feedgen.feed import FeedGenerator

    feed = FeedGenerator()
    feed.id(_urn(publication, "feed"))
    feed.title(publication.title)
    feed.subtitle(publication.description or publication.title)
    feed.author({"name": publication.publisher})
    feed.link(href=f"{publication.base_url}/", rel="alternate")
    feed.link(href=f"{publication.base_url}/feed.xml", rel="self")
    feed.language(publication.language)
    feed.generator("publisher")
    newest = max((i.date for i in issues), default=dt.date(2000, 1, 1))
    feed.updated(_timestamp(newest))
    links: dict[str, list[dict[str, str]]] = {}
    for issue in sorted(issues, key=lambda i: i.month):  # feedgen lists the last added first
        item = feed.add_entry()
        ident = _urn(publication, str(issue.month))
        item.id(ident)
        item.title(f"{publication.title} — {issue.month.label}: {issue.cover_story}")
        item.link(href=issue.page_url, rel="alternate")
        item.summary(issue.cover_story)
        item.updated(_timestamp(issue.date))
        item.published(_timestamp(issue.date))
        links[ident] = [{"href": issue.page_url, "rel": "alternate", "type": "text/html"}]
        links[ident] += [{"href": url, "rel": "related", "type": "text/html", "title": title}
                         for url, title in issue.pages[1:]]  # the articles' pages
        for download in (issue.pdf, issue.epub):
            if download is not None:
                link = {"href": download.url, "rel": "enclosure", "type": download.media_type}
                if download.size is not None:
                    link["length"] = str(download.size)
                links[ident].append(link)
    return _with_links(feed.atom_str(pretty=True), links)


def _with_links(atom: bytes, links: dict[str, list[dict[str, str]]]) -> bytes:
    """Write each entry's links with all their attributes.

    feedgen 1.0.0 writes an entry's ``<link>`` with its ``href`` only: in
    ``FeedEntry.atom_entry`` the loop variable is rebound to the new element
    before ``rel``, ``type`` and ``length`` are read from it, so enclosures
    come out as plain alternate links.  Until that is fixed upstream, the
    links are rewritten here from the same data.
    """
    from lxml import etree

    ns = "{http://www.w3.org/2005/Atom}"
    root = etree.fromstring(atom)
    for entry in root.iter(f"{ns}entry"):
        ident = entry.findtext(f"{ns}id")
        for old in entry.findall(f"{ns}link"):
            entry.remove(old)
        anchor = entry.find(f"{ns}updated")
        position = list(entry).index(anchor) + 1 if anchor is not None else len(entry)
        for offset, attributes in enumerate(links.get(ident or "", [])):
            element = etree.Element(f"{ns}link", attributes)
            element.tail = "\n    "
            entry.insert(position + offset, element)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _urn(publication: Publication, name: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{publication.base_url}/{name}").urn


def _timestamp(date: dt.date) -> dt.datetime:
    return dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC)


def _newer(target: Path, source: Path) -> bool:
    """``target`` was made from ``source`` as it is now (written after its last change)."""
    try:
        return target.stat().st_mtime_ns > source.stat().st_mtime_ns
    except OSError:
        return False


def _publish(source: Path, target: Path) -> Path:
    """``source`` at ``target`` too: a hard link (a rebuild replaces the built file by a
    new one, so the site keeps what it published until it is built again), or a copy
    where a link cannot be made (another file system)."""
    try:
        if target.exists() and target.samefile(source):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.link")
        temporary.unlink(missing_ok=True)
        os.link(source, temporary)
        os.replace(temporary, target)
        return target
    except OSError:
        return _copy(source, target)


def _copy(source: Path, target: Path) -> Path:
    """Copy ``source`` to ``target`` (:func:`write_atomic`), unless it is there already."""
    data = source.read_bytes()
    if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
        return target
    return write_atomic(target, data, quiet=True)
