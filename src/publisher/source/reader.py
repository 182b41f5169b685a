"""Reads ``issues/<YYYY-MM>/`` into one validated :class:`~publisher.model.Issue`.

The reader checks everything and reports every problem at once, each as
``path:line: message``; renderers can then trust the model completely.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import logging
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from publisher import model as m
from publisher.diagnostics import Diagnostics
from publisher.errors import PublisherError
from publisher.source.archive import read_archive
from publisher.source.catalog import (
    ISSUE_FILE,
    articles_problem,
    ignored_name,
    is_archive_only,
    issue_folders,
)
from publisher.source.config import load_publication
from publisher.source.files import (
    check_keys,
    check_values,
    line_of_key,
    link_problem,
    load_toml,
    read_text,
    string_field,
)
from publisher.source.images import load_image
from publisher.source.markdown import Body, BodyConverter, smarten
from publisher.source.markdown_lint import check_plain_text
from publisher.source.mojibake import find_mojibake

log = logging.getLogger(__name__)

ISSUE_REQUIRED = ("month", "cover_story")
ISSUE_OPTIONAL = ("date", "cover_lines", "cover_image", "editors_note", "sections", "ticker",
                  "issn", "issue_number")
ARTICLE_REQUIRED = ("title", "section", "byline")
ARTICLE_OPTIONAL = ("dek", "photo_credit", "lead_image", "slug")
IMAGE_REQUIRED = ("file",)
IMAGE_OPTIONAL = ("alt", "caption", "credit", "focus")  # images.load_image insists on alt
_NUMBER_PREFIX = re.compile(r"^\d+[-_]")
_TICKER_TABLE = re.compile(r"^[ \t]*\[\[[ \t]*ticker[ \t]*\]\]", re.MULTILINE)
# Files in articles/ that look meant as articles but are not read (only *.md is).
_TEXT_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd", ".txt", ".text")


def date_range(month: m.Month) -> tuple[dt.date, dt.date]:
    """The dates an issue of ``month`` may carry: from the first day of the month before
    (an issue out ahead of its month) to the last day of the month after (one out late)."""
    first = month.first_day
    earliest = (first - dt.timedelta(days=1)).replace(day=1) if first > dt.date.min else first
    if (month.year, month.month) >= (dt.MAXYEAR, 11):  # the calendar ends on 9999-12-31
        return earliest, dt.date.max
    return earliest, (first + dt.timedelta(days=62)).replace(day=1) - dt.timedelta(days=1)


def find_issue(root: Path, month: m.Month) -> Path:
    """The folder of ``month``, or an error listing the months there are."""
    folders = issue_folders(root)
    folder = root / str(month)
    if month not in folders and folder.is_dir():  # a folder made by hand, or damaged
        toml = folder / ISSUE_FILE
        what = "is a folder, not a file" if toml.is_dir() else "no such file"
        raise PublisherError(f"{what}: an issue's folder needs its {ISSUE_FILE} (publisher "
                             f"new {month} writes one in a new folder)", toml)
    if month not in folders:
        known = ", ".join(str(k) for k in sorted(folders)) or "none"
        raise PublisherError(f"no issue {month} in {root}/ (available: {known})")
    return folders[month]


def read_issue(root: Path, month: m.Month, diag: Diagnostics | None = None) -> m.Issue:
    """Read and validate one full issue; raise with every error found."""
    diag = diag if diag is not None else Diagnostics()
    folder = find_issue(root, month)
    problem = articles_problem(folder)
    if problem is not None:
        raise PublisherError(problem, folder / "articles")
    if is_archive_only(folder):
        raise PublisherError(
            f"{month} is an archive-only issue (it has no articles/ folder): it is listed in "
            "later archives but cannot be built", folder / ISSUE_FILE)
    publication = load_publication(root, diag)
    problem = link_problem(folder, folder / ISSUE_FILE)
    if problem is not None:
        raise PublisherError(problem, folder / ISSUE_FILE)
    loaded = load_toml(folder / ISSUE_FILE, diag)
    if publication is None or loaded is None:
        diag.raise_if_errors()
        raise AssertionError("unreachable")
    issue = IssueReader(root, folder, month, publication, diag).read(*loaded)
    diag.raise_if_errors()
    assert issue is not None
    return issue


def _no_front_matter(lines: list[str]) -> str:
    """What to say of an article whose first line opens no front matter: that it starts
    further down, after blank lines or an invisible byte-order mark, or that it is missing.

    A fence further down is not taken: front matter is the first line of the file for
    every tool that reads it (Jekyll, Hugo, python-frontmatter, gray-matter), and to
    CommonMark a '---' after a blank line is a rule, so a Markdown preview would show the
    fields as text."""
    for number, line in enumerate(lines, 1):
        shown = line.replace("\ufeff", "").strip()
        if not shown:
            continue
        if shown in ("---", "+++"):
            before = []
            if number > 1:
                before.append("the blank line" if number == 2
                              else f"the {number - 1} blank lines")
            if "\ufeff" in "".join(lines[:number]):
                before.append("the invisible byte-order mark (U+FEFF)")
            return (f"the front matter must start on the first line: delete "
                    f"{' and '.join(before)} before its '{shown}' on line {number}")
        break
    return ("missing front matter: start the file with '---', the fields (title, section, "
            "byline, ...), and '---'")


@dataclass
class _Source:
    """An article file split into front matter and body."""

    path: Path
    text: str
    meta: dict[str, Any]
    meta_lines: dict[str, int]
    body: str
    body_offset: int  # lines before the body starts
    slug: str


class IssueReader:
    def __init__(self, root: Path, folder: Path, month: m.Month, publication: m.Publication,
                 diag: Diagnostics):
        self.root = root
        self.folder = folder
        self.month = month
        self.publication = publication
        self.diag = diag

    def read(self, data: dict[str, Any], text: str) -> m.Issue | None:
        path = self.folder / ISSUE_FILE
        diag = self.diag
        self._check_mojibake(path, text)
        check_keys(data, ISSUE_REQUIRED, ISSUE_OPTIONAL, path, text, diag, missing_line=1)
        self._check_month(data, path, text)
        sections = self._string_list(data, "sections", path, text)
        cover_lines = self._string_list(data, "cover_lines", path, text)
        for key, values in (("cover_story", [str(data.get("cover_story", ""))]),
                            ("cover_lines", cover_lines)):
            for value in values:
                check_plain_text(value, key, path, line_of_key(text, key), diag)
        date = self._date(data, path, text)
        cover_image = None
        if "cover_image" in data:
            cover_image = self._image_table(data["cover_image"], "cover_image", path, text, 0)
        ticker = self._ticker(data.get("ticker", []), path, text)
        editors_note: tuple[m.Block, ...] = ()
        if data.get("editors_note"):
            note = str(data["editors_note"])
            offset = (line_of_key(text, "editors_note") or 1) - 1
            editors_note = self._converter(m.EDITORS_NOTE_ID, path, offset, {}).convert(note).blocks
        articles = self._articles(sections)
        # A 'sections' of the wrong type has its own error.
        if isinstance(data.get("sections", []), list):
            self._check_sections(sections, articles, bool(editors_note), path, text)
        archive = read_archive(self.root, self.month, self.publication, diag)
        if diag.errors:
            return None
        return m.Issue(
            publication=self.publication,
            month=self.month,
            date=date,
            cover_story=smarten(string_field(data, "cover_story", path, text, diag)),
            articles=articles,
            archive=archive,
            source_dir=self.folder,
            cover_lines=tuple(smarten(c) for c in cover_lines),
            cover_image=cover_image,
            editors_note=editors_note,
            sections=tuple(sections),
            ticker=ticker,
            issn=string_field(data, "issn", path, text, diag) or self.publication.issn,
            number=string_field(data, "issue_number", path, text, diag) or None,
        )

    def _check_mojibake(self, path: Path, text: str) -> None:
        for found in find_mojibake(text):
            self.diag.error(
                f"mojibake {found.found!r} (CP949 read as Latin-1) should be {found.repaired!r}: "
                f"run 'publisher check --fix {self.month}'", path, found.line)

    # -- issue.toml fields -------------------------------------------------

    def _check_month(self, data: dict[str, Any], path: Path, text: str) -> None:
        raw = data.get("month")
        if raw is None:
            return
        try:
            declared = m.Month.parse(str(raw))
        except ValueError as exc:
            self.diag.error(str(exc), path, line_of_key(text, "month"))
            return
        if declared != self.month:
            self.diag.error(f"month '{declared}' does not match the folder name '{self.month}'",
                            path, line_of_key(text, "month"))

    def _check_sections(self, sections: list[str], articles: tuple[m.Article, ...],
                        has_note: bool, path: Path, text: str) -> None:
        """Every article's section is listed, once (an issue without articles needs none)."""
        line = line_of_key(text, "sections") or 1
        if articles and not sections:
            used = ", ".join(f'"{s}"' for s in dict.fromkeys(a.section for a in articles))
            self.diag.error("no 'sections' list: list the articles' sections in the order the "
                            f"issue sets them, e.g. sections = [{used}]", path, line)
        for name in sorted({s for s in sections if sections.count(s) > 1}):
            self.diag.error(f"section '{name}' is listed twice in 'sections': list it once",
                            path, line)
        if not articles and not has_note and not self.diag.errors:
            self.diag.warn("the issue has no articles (articles/*.md) and no editors_note: it "
                           "has only its cover, ticker and archive", path)

    def _date(self, data: dict[str, Any], path: Path, text: str) -> dt.date:
        raw = data.get("date")
        if raw is None:
            return self.month.first_day
        if isinstance(raw, dt.datetime):
            raw = raw.date()
        if not isinstance(raw, dt.date):
            self.diag.error("'date' must be a TOML date such as 2023-08-01", path,
                            line_of_key(text, "date"))
            return self.month.first_day
        earliest, latest = date_range(self.month)
        if not earliest <= raw <= latest:
            # A typo of the year (1923, 2203) would date every output, the PDFs' and the
            # EPUB's metadata, the web edition's and the feed's, decades away.
            self.diag.error(f"'date' {raw.isoformat()} is not near the issue's month "
                            f"{self.month}: give a date from {earliest.isoformat()} to "
                            f"{latest.isoformat()} (or none: the 1st of the month)", path,
                            line_of_key(text, "date"))
            return self.month.first_day
        return raw

    def _string_list(self, data: dict[str, Any], key: str, path: Path, text: str) -> list[str]:
        raw = data.get(key, [])
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            self.diag.error(f"'{key}' must be a list of strings", path, line_of_key(text, key))
            return []
        return [x.strip() for x in raw if x.strip()]

    def _ticker(self, raw: Any, path: Path, text: str) -> tuple[m.TickerItem, ...]:
        if not isinstance(raw, list):
            self.diag.error("'ticker' must be a list of [[ticker]] tables", path,
                            line_of_key(text, "ticker"))
            return ()
        items = []
        # Each item's part of the text, from its [[ticker]] line: for the lines of its keys.
        starts = [found.start() for found in _TICKER_TABLE.finditer(text)]
        for n, entry in enumerate(raw):
            start = starts[n] if n < len(starts) else 0
            part, offset = text[start:], text.count("\n", 0, start)
            line = offset + 1 if n < len(starts) else line_of_key(text, "ticker")
            if not isinstance(entry, dict):
                self.diag.error("each [[ticker]] item needs a headline", path, line)
                continue
            check_keys(entry, ("headline",), ("link",), path, part, self.diag,
                       line_offset=offset, missing_line=line, prefix="ticker.")
            headline = string_field(entry, "headline", path, part, self.diag, offset)
            link = string_field(entry, "link", path, part, self.diag, offset) or None
            if link and not link.startswith(("https://", "http://")):
                self.diag.error(f"ticker link '{link}' must be an http(s) URL", path,
                                line_of_key(part, "link", offset))
            if headline:
                items.append(m.TickerItem(smarten(headline), link))
        return tuple(items)

    def _image_table(self, raw: Any, key: str, path: Path, text: str,
                     offset: int, line: int | None = None) -> m.Image | None:
        if not isinstance(raw, dict):
            self.diag.error(f"'{key}' must be a table with file, alt, caption and credit",
                            path, line or line_of_key(text, key, offset))
            return None
        check_keys(raw, IMAGE_REQUIRED, IMAGE_OPTIONAL, path, text, self.diag,
                   line_offset=offset, missing_line=line or line_of_key(text, key, offset),
                   prefix=f"{key}.")
        if not raw.get("file"):
            return None
        caption = str(raw.get("caption", "") or "").strip()
        check_plain_text(caption, f"{key}.caption", path,
                         line_of_key(text, "caption", offset) or line, self.diag)
        focus = None
        if "focus" in raw:
            focus = parse_focus(raw["focus"])
            if focus is None:
                self.diag.error(
                    f"'{key}.focus' must be two numbers from 0 to 1, 'x, y' (where the "
                    "subject is, from the top left: 0.5, 0.5 is the centre)", path,
                    line_of_key(text, "focus", offset) or line)
        image = load_image(
            self.folder, str(raw["file"]), str(raw.get("alt", "") or ""),
            (m.Text(smarten(caption)),) if caption else (),
            smarten(str(raw.get("credit", "") or "").strip()),
            path, line or line_of_key(text, "file", offset), self.diag)
        return image if image is None or focus is None else replace(image, focus=focus)

    # -- articles ----------------------------------------------------------

    def _articles(self, sections: list[str]) -> tuple[m.Article, ...]:
        folder = self.folder / "articles"
        # An editor's system's litter (macOS's ._01-story.md) is no article: the build
        # cache does not key on it either.
        present = sorted(p for p in folder.iterdir() if not ignored_name(p.name))
        # A link that leads out of the issue folder or to nothing is an article all the
        # same, refused by _split: left out unsaid, the issue would lose it silently.
        files = [p for p in present if p.suffix == ".md" and (p.is_file() or p.is_symlink())]
        for other in present:
            if other.suffix != ".md" and other.suffix.lower() in _TEXT_SUFFIXES:
                self.diag.warn(f"{other.name} is left out: only files ending in '.md' are "
                               "articles (rename it to end in .md)", other)
        if not files:
            return ()
        sources = [s for s in (self._split(p) for p in files) if s is not None]
        unreadable = {p.name for p in files} - {s.path.name for s in sources}
        seen: dict[str, Path] = {}
        for source in sources:
            if source.slug in seen:
                self.diag.error(f"two articles have the slug '{source.slug}' (the other is "
                                f"{seen[source.slug].name}): rename one or set 'slug'",
                                source.path, source.meta_lines.get("slug", 1))
            seen.setdefault(source.slug, source.path)
        # Links into an article that could not be read are not reported as broken:
        # its own error says what to fix.
        slugs = {name: m.slug(_NUMBER_PREFIX.sub("", Path(name).stem), default="section")
                 for name in unreadable}
        unchecked = {m.article_id(slug) for slug in slugs.values()}
        slugs.update({s.path.name: s.slug for s in sources})
        articles: list[m.Article] = []
        link_checks = []
        known_ids = {m.article_id(slug) for slug in slugs.values()}
        order = {name: i for i, name in enumerate(sections)}
        for source in sources:
            article, body = self._article(source, slugs)
            if article is None or body is None:
                unchecked.add(m.article_id(source.slug))
                continue
            if sections and article.section not in order:
                self.diag.error(f"section '{article.section}' is not in the 'sections' list of "
                                f"{ISSUE_FILE} ({', '.join(sections)})", source.path,
                                source.meta_lines.get("section"))
            articles.append(article)
            known_ids |= body.heading_ids
            link_checks.extend((source.path, link) for link in body.links)
        for path, link in link_checks:
            into_unreadable = any(link.target == u or link.target.startswith(f"{u}--")
                                  for u in unchecked)
            if link.target not in known_ids and not into_unreadable:
                file, _, fragment = link.href.partition("#")
                self.diag.error(f"broken link '{link.href}': {file or 'this article'} has no "
                                f"subhead '{fragment}' (link to a subhead by its text, as "
                                "'#united-response' for '## United Response')", path, link.line)
        articles.sort(key=lambda a: order.get(a.section, len(order)))
        return tuple(articles)

    def _split(self, path: Path) -> _Source | None:
        problem = link_problem(self.folder, path)
        if problem is not None:
            self.diag.error(problem, path)
            return None
        text = read_text(path, self.diag)
        if text is None:
            return None
        self._check_mojibake(path, text)
        lines = text.splitlines(keepends=True)
        fence = lines[0].strip() if lines else ""
        if fence not in ("---", "+++"):
            self.diag.error(_no_front_matter(lines), path, 1)
            return None
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == fence), None)
        if end is None:
            self.diag.error(f"front matter is not closed: add a line '{fence}' after the fields",
                            path, 1)
            return None
        header = "".join(lines[1:end])
        meta, meta_lines = (self._yaml(header, path) if fence == "---"
                            else self._toml(header, path))
        if meta is None:
            return None
        raw_slug = meta.get("slug") or _NUMBER_PREFIX.sub("", path.stem)
        slug = m.slug(str(raw_slug), default="")
        if not slug:
            # Every such article would be named alike ('section'), its web page and ids
            # too: say so here rather than as a clash of two names nobody wrote.
            if meta.get("slug"):
                self.diag.error(f"slug '{raw_slug}' has no letter or digit: write one (it "
                                "names the article's web page)", path,
                                meta_lines.get("slug", 1))
            else:
                self.diag.error("the file name has no letter or digit to name the article "
                                "by: rename the file or set 'slug'", path, 1)
            return None
        return _Source(path, text, meta, meta_lines, "".join(lines[end + 1 :]), end + 1, slug)

    def _yaml(self, header: str, path: Path) -> tuple[dict[str, Any] | None, dict[str, int]]:
        try:
            node, data = _parsed_yaml(header)
        except yaml.YAMLError as exc:
            # The context mark is where the broken construct starts (an unclosed
            # bracket, say): the line to look at, rather than where YAML gave up.
            mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
            line = mark.line + 2 if mark is not None else 1
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            context = getattr(exc, "context", None)
            problem = f"{context}: {problem}" if context else problem
            self.diag.error(f"malformed front matter: {problem}", path, line)
            return None, {}
        if data is None:
            data, node = {}, None
        if not isinstance(data, dict):
            self.diag.error("malformed front matter: expected 'key: value' lines", path, 2)
            return None, {}
        for key, first, again in _repeated_keys(node):
            self.diag.error(f"field '{key}' is given twice (also on line {first}): YAML keeps "
                            "only the last; keep one", path, again)
        lines = _key_lines(node)
        check_values(data, path, lambda key: lines.get(key) or lines.get(key.partition(".")[0]),
                     self.diag)
        return data, lines

    def _toml(self, header: str, path: Path) -> tuple[dict[str, Any] | None, dict[str, int]]:
        try:
            data = tomllib.loads(header)
        except tomllib.TOMLDecodeError as exc:
            match = re.search(r"line (\d+)", str(exc))
            line = int(match.group(1)) + 1 if match else 1
            self.diag.error(f"malformed front matter: {str(exc).split(' (at')[0]}", path, line)
            return None, {}
        check_values(data, path, lambda key: line_of_key(header, key.rpartition(".")[2], 1),
                     self.diag)
        return data, {k: line_of_key(header, k, 1) or 1 for k in data}

    def _article(self, source: _Source, slugs: dict[str, str]
                 ) -> tuple[m.Article | None, Body | None]:
        meta, path, diag = source.meta, source.path, self.diag
        check_keys(meta, ARTICLE_REQUIRED, ARTICLE_OPTIONAL, path, source.text, diag,
                   missing_line=1)
        fields = {k: string_field(meta, k, path, source.text, diag)
                  for k in ("title", "section", "byline", "dek", "photo_credit")}
        for key, value in fields.items():
            check_plain_text(value, key, path, source.meta_lines.get(key), diag)
        lead = None
        if "lead_image" in meta:
            lead = self._image_table(meta["lead_image"], "lead_image", path, source.text, 0,
                                     source.meta_lines.get("lead_image.file")
                                     or source.meta_lines.get("lead_image"))
        if not source.body.strip():
            diag.error("empty article: write the article text below the front matter", path,
                       source.body_offset + 1)
            return None, None
        body = self._converter(m.article_id(source.slug), path, source.body_offset,
                               slugs).convert(source.body)
        article = m.Article(
            slug=source.slug,
            title=smarten(fields["title"]),
            section=fields["section"],
            byline=smarten(fields["byline"]),
            dek=smarten(fields["dek"]),
            photo_credit=smarten(fields["photo_credit"]),
            lead_image=lead,
            body=body.blocks,
            footnotes=body.footnotes,
            source=path,
        )
        return article, body

    def _converter(self, owner: str, path: Path, offset: int, slugs: dict[str, str]
                   ) -> BodyConverter:
        folder, diag = self.folder, self.diag

        def loader(src: str, alt: str, caption: tuple[m.Inline, ...], credit: str,
                   line: int) -> m.Image | None:
            return load_image(folder, src, alt, caption, credit, path, line, diag)

        return BodyConverter(owner, path, offset, slugs, loader, diag)


def _key_lines(node: yaml.Node | None, prefix: str = "") -> dict[str, int]:
    """File line of every key of a YAML mapping, nested keys as ``outer.inner``."""
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                name = f"{prefix}{key.value}"
                lines[name] = key.start_mark.line + 2  # +1 for 1-based, +1 for the fence
                lines.update(_key_lines(value, f"{name}."))
    return lines


def _repeated_keys(node: yaml.Node | None, prefix: str = "") -> list[tuple[str, int, int]]:
    """``(key, first line, repeated line)`` of every key given twice in a YAML mapping."""
    found: list[tuple[str, int, int]] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                name, line = f"{prefix}{key.value}", key.start_mark.line + 2
                if name in seen:
                    found.append((name, seen[name], line))
                seen.setdefault(name, line)
                found.extend(_repeated_keys(value, f"{name}."))
    return found


@functools.lru_cache(maxsize=4096)
def _composed_yaml(header: str) -> tuple[Any, Any]:
    return yaml.compose(header, Loader=yaml.SafeLoader), yaml.safe_load(header)


def _parsed_yaml(header: str) -> tuple[Any, Any]:
    """A front matter's YAML node tree and value: parsed once per text in a process (the
    preview reads every article again after an edit to one); the value a copy of its own."""
    node, data = _composed_yaml(header)
    return node, copy.deepcopy(data)


def parse_focus(value: Any) -> tuple[float, float] | None:
    """``focus: x, y`` (a string, or a list of two numbers) as fractions, or ``None``
    when it is not two finite numbers from 0 to 1."""
    if isinstance(value, str):
        parts: list[Any] = [p.strip() for p in value.split(",")]
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        return None
    if len(parts) != 2:
        return None
    numbers = []
    for part in parts:
        if isinstance(part, bool):
            return None
        try:
            number = float(part)
        except (TypeError, ValueError):
            return None
        if not 0.0 <= number <= 1.0:  # also refuses nan
            return None
        numbers.append(number)
    return numbers[0], numbers[1]
