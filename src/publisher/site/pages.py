"""The download site: ``dist/site/``, where readers find every issue.

An index of every issue, newest first (cover, month, cover story, download
links with sizes), a page per built issue that is the web version of its
email, and an Atom feed whose entries carry the downloads as enclosures.
Static files with relative links; it reads only ``issues/``, ``layouts/site/``
(with the partials it imports from ``layouts/_partials/``) and the built outputs in
``dist/<MONTH>/``.
"""

from __future__ import annotations

import datetime as dt
import logging
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
    page: str | None  # relative link to the web version
    cover: str | None  # relative link to the thumbnail

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
        index = env.get_template("index.html").render(publication=publication, issues=issues)
        unsubscribe = env.get_template("unsubscribe.html").render(
            publication=publication, state="static", address="", action="")
    written.append(write_atomic(site / "index.html", index.encode()))
    written.append(write_atomic(site / "unsubscribe.html", unsubscribe.encode(), quiet=True))
    written.append(write_atomic(site / "site.css",
                                (paths.layouts / "site" / "site.css").read_bytes(), quiet=True))
    written.append(write_atomic(site / "feed.xml", atom_feed(publication, issues)))
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
    page = None
    email = built.path("email", "html")
    if built.path("email", "web").is_file():  # the email was shortened to fit its budget
        email = built.path("email", "web")
    if email.is_file():
        written.append(write_atomic(out_dir / "index.html",
                                    web_version(email, publication), quiet=True))
        images = built.path("email", "images")
        if images.is_dir():
            for image in sorted(images.iterdir()):
                written.append(_copy(image, out_dir / images.name / image.name))
        page = f"{month}/index.html"
    if not archive_only and not (downloads["pdf"] and downloads["epub"] and page):
        diag.warn(f"{month} is not fully built: run 'make issue MONTH={month}' first",
                  folder / "issue.toml")
    cover = None
    if entry.cover_image is not None:
        written.append(write_atomic(out_dir / "cover.jpg", thumbnail(entry.cover_image),
                                    quiet=True))
        cover = f"{month}/cover.jpg"
    issue = SiteIssue(entry, downloads["pdf"], downloads["epub"], page, cover)
    return issue, written


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
                         (placeholders.UNSUBSCRIBE_MAILTO, "../unsubscribe.html")):
        html = html.replace(token, value)
    return html.encode("utf-8")


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


def _copy(source: Path, target: Path) -> Path:
    """Copy ``source`` to ``target`` (:func:`write_atomic`), unless it is there already."""
    data = source.read_bytes()
    if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
        return target
    return write_atomic(target, data, quiet=True)
