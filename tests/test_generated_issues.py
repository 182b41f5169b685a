"""Months nobody wrote by hand: generated issues, built as the README shows, every
output read back.

In a scratch copy of the project (``issues/`` and ``layouts/``, as a clone has them),
each month after the newest one is started with ``publisher new MONTH``, filled by
:mod:`issue_generator` (seeded), and built with ``python -m publisher build MONTH`` and
every default (relative ``issues``, ``layouts``, ``dist``); some months in between are
archive-only. Each built month is then checked: EPUBCheck with no error or warning,
``qpdf --check`` on both PDFs, only the layout's fonts in the reader's PDF, every text of
every article (sentences, footnotes, captions, credits, pull quotes, list items, table
cells), the editor's note and the ticker in the reader's PDF, the EPUB and the email's
text (an article the email's budget cut: its lead there, the rest on the web version
the "continue reading" link opens), and the archive of earlier months in order. At the
end every month rebuilds as "up to date" writing nothing, and the site's web versions
hold the full text.

The default run is short (3 months); ``PUBLISHER_GEN_MONTHS=12`` (or
``PUBLISHER_GEN_LONG=1``, 12 months of any size) runs longer. The seed follows the
committed sources (new issues for every change, the same for the same change);
``PUBLISHER_GEN_RANDOM=1`` draws a fresh one. A failure names its seed:
``PUBLISHER_GEN_SEED=<seed>`` replays the same issues.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import os
import random
import re
import shutil
import subprocess
import sys
import time
import unicodedata
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from lxml import html as lxml_html

from conftest import ISSUES, LAYOUTS, PROJECT
from epub_support import NS, Epub, epubcheck
from issue_generator import GenArticle, GenIssue, IssueGenerator, months_after, write_issue
from publisher.model import Month, article_id
from publisher.source.catalog import issue_folders

TITLE = "KOREA"
STEM = "korea"
#: The families of layouts/fonts/fonts.css: no other font may be embedded.
SHIPPED_FONTS = ("+Publisher-Serif", "+Publisher-Sans", "+Publisher-Hangul")
#: What ``layouts/email/settings.toml`` says: the newest twelve earlier issues.
EMAIL_ARCHIVE_ENTRIES = 12
#: The print archive sets the newest five in full (publisher.render.pdf.renderer.ARCHIVE_FEATURED).
PRINT_ARCHIVE_FEATURED = 5


def _default_seed() -> int:
    """New issues for every change of the code, the layouts, the issues or the tests, and
    the same issues for the same change (so CI builds what its author last saw pass): the
    seed is drawn from the git trees of those folders. ``PUBLISHER_GEN_RANDOM=1``, or a
    copy without git, draws a fresh seed."""
    if os.environ.get("PUBLISHER_GEN_RANDOM", "") in ("", "0"):
        trees = subprocess.run(["git", "rev-parse", "HEAD:src", "HEAD:layouts", "HEAD:issues",
                                "HEAD:tests"], cwd=PROJECT, capture_output=True, text=True,
                               check=False)
        if trees.returncode == 0:
            return int(hashlib.sha256(trees.stdout.encode()).hexdigest()[:8], 16)
    return random.SystemRandom().randrange(10**9)


def _settings() -> tuple[int, int, bool]:
    seed = int(os.environ.get("PUBLISHER_GEN_SEED") or _default_seed())
    long = os.environ.get("PUBLISHER_GEN_LONG", "") not in ("", "0")
    months = int(os.environ.get("PUBLISHER_GEN_MONTHS") or (12 if long else 3))
    return seed, months, long


# -- running the publisher ---------------------------------------------------------


@dataclass
class Done:
    status: int
    err: str
    seconds: float


def publisher(cwd: Path, *args: str) -> Done:
    """``python -m publisher ARGS`` in ``cwd``, as a user runs it (no path flags)."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "publisher", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600, check=False)
    return Done(proc.returncode, proc.stderr, time.monotonic() - start)


def run(*args: str | Path) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False,
                          timeout=300)
    assert done.returncode == 0, f"{args[0]} failed: {done.stderr}{done.stdout}"
    return done.stdout


# -- reading text back, and what may differ ------------------------------------------

HANGUL = "\uac00-\ud7a3"
LIGATURES = re.compile("[\ufb00-\ufb06]")


def common(text: str) -> str:
    """What is normalised on both sides (expected and found), for every format:
    whitespace runs are one space; spacing around dashes is not compared (a line may
    break after a dash, where the source has no space); nor is it between two Hangul
    syllables (a line may break between them, without a hyphen)."""
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r" ?([–—]) ?", r"\1", text)
    return re.sub(f"(?<=[{HANGUL}]) (?=[{HANGUL}])", "", text).strip()


def pdf_text(pdf: Path, furniture: set[str],
             footnotes: list[tuple[int, str]]) -> tuple[str, list[str]]:
    """The reader's PDF as text, with the page furniture (running heads, folios, list
    markers) and the footnotes (``footnotes``: their numbers and texts, in this order;
    set at the page foot, they can split a sentence that runs on to the next page) taken
    out; returns the text and the footnotes not found.

    Undone: ligatures (U+FB00-FB06, never in a source: the generator writes none),
    soft hyphens, and WeasyPrint's automatic hyphenation (U+2010 at a line end, never
    in a source); a hyphen of the text (``office-holder``) at a line end stays.
    """
    raw = run("pdftotext", "-raw", pdf, "-")
    lines = []
    for line in raw.replace("\f", "\n").splitlines():
        bare = line.replace(" ", "")
        # Folios, running heads, and list markers (drawn after the page's text, so a
        # sentence that runs on to the next page has them in between).
        if not bare or bare.isdigit() or bare in furniture or bare == "•":
            continue
        lines.append(line)
    text = _drop_numbered_markers("\n".join(lines))
    text = LIGATURES.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)
    text = text.replace("\u00ad", "")
    text = re.sub(r"(\w)-\n(\w)", r"\1-\2", text)
    text = common(text)
    missing = []
    for number, note in footnotes:
        # The note as set: "N. text", maybe hyphenated at its own line ends.
        pattern = rf"(?<!\S){number}\. " + "".join(
            re.escape(c) + ("(?:\u2010 )?" if c.isalpha() else "") for c in common(note))
        text, found = re.subn(pattern, " ", text, count=1)
        if not found:
            missing.append(note)
    text = re.sub(r"(\w)\u2010 (\w)", r"\1\2", re.sub(r"\s+", " ", text))
    return text, missing


def _drop_numbered_markers(text: str) -> str:
    """Take out the markers of an ordered list, "1." "2." ... each alone on its line,
    two or more in a row (a line "2017." alone is the end of a sentence)."""
    def drop(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.findall(r"\d+", match.group())]
        consecutive = numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        return "\n" if consecutive else match.group()

    return re.sub(r"(?m)(?:^\d+\.\n){2,}", drop, text + "\n").rstrip("\n")


def epub_text(epub: Epub) -> str:
    return common(epub.text())


def email_text(text: str) -> str:
    """email.txt: each link is followed by its URL (``words <URL>``); the URL goes."""
    return common(re.sub(r" ?<(?:https?|mailto):[^>\s]*>", "", text))


def html_text(path: Path) -> str:
    tree = lxml_html.document_fromstring(path.read_bytes())
    for dropped in tree.xpath("//head | //style | //script"):
        dropped.drop_tree()
    return common(tree.text_content())


def absent(texts: list[str], haystack: str) -> list[str]:
    return [t for t in texts if common(t) not in haystack]


# -- what each month must contain ------------------------------------------------------


def article_texts(article: GenArticle) -> list[str]:
    texts = [article.title.final, *article.texts(), *article.footnote_texts()]
    if article.dek is not None:
        texts.append(article.dek.final)
    if article.lead_image is not None and article.lead_image.caption:
        texts.append(article.lead_image.caption)
    return texts


def issue_texts(issue: GenIssue) -> list[str]:
    """What every format shows besides the articles: the note and the ticker."""
    return [*(t for block in issue.editors_note for t in block.texts),
            *(headline.final for headline, _ in issue.ticker)]


def lead_texts(article: GenArticle) -> list[str]:
    """What the email keeps of an article cut to its lead (publisher.render.email.renderer._cut):
    the first paragraphs, up to about LEAD_CHARS characters, before any other block."""
    from publisher.render.email.renderer import LEAD_CHARS

    kept: list[str] = []
    length = 0
    started = False
    for block in article.blocks:
        if block.kind != "p" or (started and length >= LEAD_CHARS):
            if started:
                break
            continue
        started = True
        kept += block.texts
        length += len(" ".join(block.texts))
    return kept


def cuts(stderr: str, email_html: Path) -> dict[str, str]:
    """The articles the email's budget cut: slug -> "lead" or "teaser" (as the build's
    warnings name them), or "cut" (one of the "and N more" a warning does not name).
    The email's own "continue reading" links say which were cut."""
    tree = lxml_html.document_fromstring(email_html.read_bytes())
    linked = {href.rpartition("#")[2].removeprefix(article_id("")) for href in
              tree.xpath("//p[contains(@class, 'continue')]/a/@href")}
    named: dict[str, str] = {}
    for line in stderr.splitlines():
        match = re.search(r"budget: (.*) (?:is|are) cut to (its lead|their leads|its title "
                          r"and dek|their titles and deks)", line)
        if match:
            level = "lead" if "lead" in match.group(2) else "teaser"
            for slug in re.findall(r"'([^']+)'", match.group(1)):
                named[slug] = level
    assert set(named) <= linked, f"cut without a continue-reading link: {set(named) - linked}"
    assert bool(linked) == bool(named), f"links {linked}, warnings {named}"
    return {slug: named.get(slug, "cut") for slug in linked}


# -- the test ---------------------------------------------------------------------------


def test_generated_months_build_and_every_text_reaches_every_format(tmp_path):
    seed, count, long = _settings()
    started = time.monotonic()
    try:
        _months(tmp_path, seed, count, long)
    except BaseException as exc:
        exc.add_note(f"replay: PUBLISHER_GEN_SEED={seed} PUBLISHER_GEN_MONTHS={count}"
                     f"{' PUBLISHER_GEN_LONG=1' if long else ''} "
                     f".venv/bin/python -m pytest tests/{Path(__file__).name}")
        raise
    finally:
        sys.stderr.write(f"generated issues: seed {seed}, {count} months, "
                         f"{time.monotonic() - started:.1f} s\n")


#: The short run's email budget (KB), set in the scratch copy's layouts/email/settings.toml:
#: the shipped 100 KB takes some ten long articles to cross (a 40 s print layout), this
#: one a few short ones. The long run keeps the shipped budget.
SHORT_RUN_BUDGET_KB = 30


def _plan(rng: random.Random, count: int, long: bool) -> list[tuple[bool, str]]:
    """(archive-only, size) of each month: the first and last are full issues; the
    short run has a small issue (under its budget) and medium ones (over it)."""
    if long:
        sizes = [rng.choice(("small", "medium", "large", "over-budget")) for _ in range(count)]
    else:
        sizes = ["small", *("medium" for _ in range(count - 1))]
        rng.shuffle(sizes)
    plan = []
    for i, size in enumerate(sizes):
        archive_only = 0 < i < count - 1 and rng.random() < (0.25 if long else 0.1)
        plan.append((archive_only, size))
    return plan


def _months(tmp_path: Path, seed: int, count: int, long: bool) -> None:
    started = time.monotonic()
    project = tmp_path / "project"
    shutil.copytree(ISSUES, project / "issues")
    shutil.copytree(LAYOUTS, project / "layouts")
    if not long:
        settings = project / "layouts" / "email" / "settings.toml"
        text = settings.read_text(encoding="utf-8")
        assert "\nbudget_kb = 100\n" in text
        settings.write_text(text.replace("\nbudget_kb = 100\n",
                                         f"\nbudget_kb = {SHORT_RUN_BUDGET_KB}\n"),
                            encoding="utf-8")
    generator = IssueGenerator(seed, project / "layouts" / "fonts")
    assert generator.vocab.dropped == ["韓國"], "the vocabulary has characters the fonts lack"
    newest = max(issue_folders(project / "issues"))
    plan = _plan(random.Random(seed), count, long)
    built: list[tuple[GenIssue, Done]] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        checks: list[Future[None]] = []
        for month, (archive_only, size) in zip(months_after(newest, count), plan,
                                               strict=True):
            issue = generator.issue(month, archive_only=archive_only, size=size)
            sys.stderr.write(f"  {issue.describe()}\n")
            if archive_only:
                _archive_only(project, issue, generator)
                continue
            made = publisher(project, "new", str(month))
            assert made.status == 0, made.err
            write_issue(issue, project / "issues" / str(month), generator)
            done = publisher(project, "build", str(month))
            assert done.status == 0 and "Traceback" not in done.err, (
                f"{month} did not build ({issue.describe()}):\n{done.err}")
            assert not [line for line in done.err.splitlines() if line.startswith("error")]
            built.append((issue, done))
            sys.stderr.write(f"    built in {done.seconds:.1f} s; the email cut "
                             f"{cuts(done.err, project / 'dist' / str(month) / 'email.html')}\n")
            # EPUBCheck and the text checks of this month run while the next one builds.
            checks.append(pool.submit(_check_epub, project, month))
            checks.append(pool.submit(_check_month, project, issue, done))
        for check in checks:
            check.result()
    sys.stderr.write(f"  checked: {time.monotonic() - started:.1f} s\n")
    _check_rebuilds(project, [issue.month for issue, _ in built])
    _check_site(project, built)


def _archive_only(project: Path, issue: GenIssue, generator: IssueGenerator) -> None:
    """An archive-only month: only issue.toml (and a cover); building it is refused in
    one line, and nothing is written."""
    write_issue(issue, project / "issues" / str(issue.month), generator)
    done = publisher(project, "build", str(issue.month))
    assert done.status == 1, done.err
    assert "archive-only" in done.err and "Traceback" not in done.err, done.err
    assert len([line for line in done.err.splitlines() if line.startswith("error")]) == 1
    assert not (project / "dist" / str(issue.month)).exists()


def _check_epub(project: Path, month: Month) -> None:
    started = time.monotonic()
    result = epubcheck(project / "dist" / str(month) / f"{STEM}-{month}.epub")
    sys.stderr.write(f"    EPUBCheck {month}: {time.monotonic() - started:.1f} s\n")
    assert (result.fatals, result.errors, result.warnings) == (0, 0, 0), (
        f"EPUBCheck on {month}:\n" + "\n".join(result.messages))


def _earlier(project: Path, month: Month) -> list[Month]:
    return sorted((m for m in issue_folders(project / "issues") if m < month), reverse=True)


def _check_month(project: Path, issue: GenIssue, done: Done) -> None:
    month = issue.month
    out = project / "dist" / str(month)
    reader, press = out / f"{STEM}-{month}.pdf", out / f"{STEM}-{month}-print.pdf"
    for pdf in (reader, press):
        assert "No syntax or stream encoding errors found" in run("qpdf", "--check", pdf)
    fonts = run("pdffonts", reader).splitlines()[2:]
    foreign = [f for f in fonts if not any(name in f for name in SHIPPED_FONTS)]
    assert not foreign, f"{month}: fonts the layouts do not ship: {foreign}"

    where = f"{month} ({issue.describe()})"
    furniture = {f"{TITLE}·{month.label}".upper().replace(" ", ""), "BACKMATTER",
                 *(s.upper().replace(" ", "") for s in issue.sections)}
    # The print numbers the notes per article, articles in section order.
    order = sorted(issue.articles, key=lambda a: (issue.sections.index(a.section), a.file_name))
    every_note = [(number, note) for a in order
                  for number, note in enumerate(a.footnote_texts(), 1)]
    pdf, notes_missing = pdf_text(reader, furniture, every_note)
    assert not notes_missing, f"{where}: footnotes missing from the PDF: {notes_missing}"
    epub = Epub((out / f"{STEM}-{month}.epub").read_bytes())
    in_epub = epub_text(epub)
    text_part = email_text((out / "email.txt").read_text(encoding="utf-8"))
    _check_message(out, where)
    pdf_bare = pdf.replace(" ", "")
    cut = cuts(done.err, out / "email.html")
    for article in issue.articles:
        texts = article_texts(article)
        body = [t for t in texts if t not in article.footnote_texts()]
        capitals = article.capitals()
        for name, found in (("reader's PDF", pdf), ("EPUB", in_epub)):
            if name.endswith("PDF"):
                # Letter-spaced capitals extract with stray spaces ("DEL ACROIX"): compared
                # without any.
                missing = absent(body, found) + [
                    c for c in capitals if common(c.upper()).replace(" ", "") not in pdf_bare]
            else:
                missing = absent(texts + capitals, found)
            assert not missing, (f"{where}: {len(missing)} of {len(texts)} texts of "
                                 f"'{article.slug}' missing from the {name}, first: "
                                 f"{missing[0]!r}")
        level = cut.get(article.slug)
        if level is None:
            wanted = texts + capitals
        elif level == "lead":
            wanted = [article.title.final, *lead_texts(article)]
        else:  # its title and dek, or one of the cuts a warning does not name
            wanted = [article.title.final]
        missing = absent(wanted, text_part)
        assert not missing, (f"{where}: {len(missing)} texts of '{article.slug}' (email "
                             f"{level or 'uncut'}) missing from email.txt, first: "
                             f"{missing[0]!r}")
        if level is not None:
            assert common(f"Continue reading “{article.title.final}”") in text_part, article.slug
    others = issue_texts(issue)
    cover = [issue.cover_story.final, *(line.final for line in issue.cover_lines)]
    for name, found, wanted in (("reader's PDF", pdf, others + cover), ("EPUB", in_epub, others),
                                ("email.txt", text_part, others + cover)):
        missing = absent(wanted, found)
        assert not missing, f"{where}: cover, note or ticker missing from the {name}: {missing}"
    if cut:
        assert (out / "email-web.html").is_file(), f"{where}: cut, but no web version"
        web = html_text(out / "email-web.html")
        for article in issue.articles:
            missing = absent(article_texts(article), web)
            assert not missing, f"{where}: the web version lacks {missing[0]!r}"
    else:
        assert not (out / "email-web.html").exists()
    _check_archive(project, month, epub, pdf, out)


def _check_message(out: Path, where: str) -> None:
    """email.eml: text then HTML, the very email.txt and email.html."""
    message = email.message_from_bytes((out / "email.eml").read_bytes(),
                                       policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative", where
    parts = [(p.get_content_type(), p.get_content()) for p in message.iter_parts()]
    assert [kind for kind, _ in parts] == ["text/plain", "text/html"], where
    assert parts[0][1] == (out / "email.txt").read_text(encoding="utf-8"), where
    assert parts[1][1] == (out / "email.html").read_text(encoding="utf-8"), where


def _check_archive(project: Path, month: Month, epub: Epub, pdf: str, out: Path) -> None:
    """Every earlier issue, newest first: all in the EPUB, the newest twelve in the email,
    the newest five set in full in the PDF."""
    earlier = [m.label for m in _earlier(project, month)]
    archive = epub.doc("archive.xhtml") if earlier else None
    listed = ([] if archive is None else
              archive.xpath("//x:span[@class='month']/text()", namespaces=NS))
    assert listed == earlier, f"{month}: the EPUB archive lists {listed}"
    message = lxml_html.document_fromstring((out / "email.html").read_bytes())
    in_email = [p.text_content().strip()
                for p in message.xpath("//p[contains(@class, 'archive-month')]")]
    assert in_email == earlier[:EMAIL_ARCHIVE_ENTRIES], f"{month}: the email lists {in_email}"
    # Set in letter-spaced capitals: compared without spaces, in capitals.
    spaced = pdf.replace(" ", "").upper()
    at = spaced.index("FROMTHEARCHIVEEVERYEARLIERISSUE")  # its heading and introduction
    positions = [spaced.find(label.replace(" ", "").upper(), at)
                 for label in earlier[:PRINT_ARCHIVE_FEATURED]]
    assert -1 not in positions and positions == sorted(positions), (
        f"{month}: the print archive does not set {earlier[:PRINT_ARCHIVE_FEATURED]} in order")


def _snapshot(dist: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(dist)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(dist.rglob("*")) if p.is_file()}


def _check_rebuilds(project: Path, months: list[Month]) -> None:
    """With every month built, each one rebuilds as up to date and writes nothing."""
    before = _snapshot(project / "dist")
    for month in months:
        again = publisher(project, "build", str(month))
        assert again.status == 0 and "up to date" in again.err, f"{month}: {again.err}"
        assert "wrote" not in again.err, f"{month}: {again.err}"
    assert _snapshot(project / "dist") == before, "an unchanged rebuild wrote files"


def _check_site(project: Path, built: list[tuple[GenIssue, Done]]) -> None:
    """The site's web edition of each month holds every article in full, each on its
    page, and the issue page has the anchor the email's "continue reading" links lead
    to, ``<base_url>/<MONTH>/#<slug>``."""
    done = publisher(project, "site")
    assert done.status == 0 and "Traceback" not in done.err, done.err
    for issue, _ in built:
        folder = project / "dist" / "site" / str(issue.month)
        page = folder / "index.html"
        tree = lxml_html.document_fromstring(page.read_bytes())
        for article in issue.articles:
            text = html_text(folder / article.slug / "index.html")
            missing = absent(article_texts(article), text)
            assert not missing, f"{issue.month}: the web page lacks {missing[0]!r}"
            anchor = article_id(article.slug)
            assert tree.xpath(f"//*[@id='{anchor}']"), (
                f"{issue.month}: the web page has no anchor #{anchor}")
    index = html_text(project / "dist" / "site" / "index.html")
    labels = [m.label for m in sorted(issue_folders(project / "issues"), reverse=True)]
    positions = [index.find(label) for label in labels]
    assert -1 not in positions and positions == sorted(positions), "site index order"

