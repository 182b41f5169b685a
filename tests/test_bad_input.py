"""Bad input: one clear line per problem with file and line, exit 1, nothing written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ARTICLE = Path("2024-01/articles/01-features.md")
CULTURE = Path("2024-01/articles/02-culture.md")
ISSUE = Path("2024-01/issue.toml")


def _edit(root: Path, rel: Path, old: str, new: str) -> Path:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_bytes().split(b"\n"), 1):
        if needle.encode() in line:
            return number
    raise AssertionError(needle)


def _assert_one_error(run, path: Path, line: int | None, *words: str) -> None:
    assert run.status == 1, run.err
    assert "Traceback" not in run.err
    lines = run.err_lines
    assert len(lines) == 1, lines
    where = f"{path.name}:{line}:" if line else f"{path.name}"
    assert where in lines[0], (where, lines[0])
    for word in words:
        assert word in lines[0], (word, lines[0])


CASES = {
    # name: (file, old, new, needle for the line (None: no line), words in the message)
    "malformed TOML": (ISSUE, 'cover_story = "A', 'cover_story = A', "cover_story = A",
                       ("malformed TOML",)),
    "malformed front matter": (ARTICLE, "section: Features", "section: [Features",
                               "section: [Features", ("malformed front matter",)),
    "missing required field": (CULTURE, "byline: Lee Jun-ho\n", "", None,
                               ("missing required field 'byline'",)),
    "unknown front matter key": (CULTURE, "byline: Lee", "bylin: X\nbyline: Lee", "bylin:",
                                 ("unknown field 'bylin'",)),
    "image leaving the issue": (ARTICLE, "file: images/lead.png", "file: ../../etc/passwd",
                                "../../etc/passwd", ("leaves the issue folder",)),
    "absolute image path": (ARTICLE, "file: images/lead.png", "file: /etc/passwd",
                            "/etc/passwd", ("absolute path",)),
    "image URL": (ARTICLE, "images/figure.png", "https://example.org/x.png", "example.org/x",
                  ("is a URL",)),
    "missing image": (ARTICLE, "images/figure.png", "images/nope.png", "nope.png",
                      ("not found",)),
    "image without alt": (ARTICLE, "![A red test card]", "![]", "![](", ("no alt text",)),
    "lead image without alt": (ARTICLE, "  alt: A green test card\n", "", "file: images/lead",
                               ("no alt text",)),
    "broken internal link": (CULTURE, "Text about culture.", "See [x](#nowhere).", "#nowhere",
                             ("broken link '#nowhere'", "has no subhead 'nowhere'")),
    "link to a missing article": (CULTURE, "Text about culture.", "See [x](03-gone.md).",
                                  "03-gone", ("broken link",)),
    "mojibake": (CULTURE, "Text about culture.", "Korea\u00a1\u00afs culture.", "Korea",
                 ("mojibake", "’", "check --fix")),
    "empty article": (CULTURE, "Text about culture.\n\n## Hanok\n\nA hanok (한옥) is a "
                      "traditional Korean house.\n", "\n", None, ("empty article",)),
    "duplicate slug": (CULTURE, "byline: Lee Jun-ho", "byline: Lee Jun-ho\nslug: features",
                       "slug: features", ("two articles have the slug 'features'",)),
    "section not listed": (CULTURE, "section: Culture", "section: Cultur", "section: Cultur",
                           ("section 'Cultur' is not in the 'sections' list",)),
    "month mismatch": (ISSUE, 'month = "2024-01"', 'month = "2024-02"', 'month = "2024-02"',
                       ("does not match",)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_source_gives_one_line(name, fixture_copy, cli):
    rel, old, new, needle, words = CASES[name]
    path = _edit(fixture_copy.issues, rel, old, new)
    line = _line_of(path, needle) if needle else None
    if name in ("missing required field", "empty article"):
        line = {"missing required field": 1, "empty article": 6}[name]
    run = cli("build", "2024-01", paths=fixture_copy)
    _assert_one_error(run, path, line, *words)
    assert not fixture_copy.dist.exists()


def test_not_utf8_names_the_byte_and_line(fixture_copy, cli):
    path = fixture_copy.issues / CULTURE
    data = path.read_bytes().replace(b"Text about culture.", b"Text about caf\xe9 culture.")
    path.write_bytes(data)
    run = cli("check", "2024-01", paths=fixture_copy)
    _assert_one_error(run, path, 7, "not UTF-8", "0xE9")


@pytest.mark.parametrize("command", ["check", "build", "new", "send"])
@pytest.mark.parametrize("month, words", [
    ("2023-8", ("YYYY-MM",)),
    ("23-08", ("YYYY-MM",)),
    ("foo", ("YYYY-MM",)),
    ("2023-13", ("no month 13",)),
    ("2023-00", ("no month 00",)),
    ("0000-01", ("no year 0000",)),  # was: new wrote 'date = 0000-01-01', invalid TOML
])
def test_malformed_month_is_a_usage_error(command, month, words, fixture_copy, cli):
    """A month that is not YYYY-MM is a usage error (exit 2) for every command taking one."""
    before = sorted(p.relative_to(fixture_copy.issues) for p in fixture_copy.issues.rglob("*"))
    run = cli(command, month, paths=fixture_copy)
    assert run.status == 2 and "Traceback" not in run.err
    (line,) = run.err_lines
    for word in words:
        assert word in line
    assert not fixture_copy.dist.exists()
    assert sorted(p.relative_to(fixture_copy.issues)
                  for p in fixture_copy.issues.rglob("*")) == before


def test_month_without_an_issue_is_a_source_error(fixture_copy, cli):
    run = cli("build", "2030-01", paths=fixture_copy)
    assert run.status == 1 and "Traceback" not in run.err
    (line,) = run.err_lines
    assert "no issue 2030-01" in line and "available: 2023-12, 2024-01" in line
    assert not fixture_copy.dist.exists()


def test_archive_only_issue_cannot_be_built(fixture_copy, cli):
    run = cli("build", "2023-12", paths=fixture_copy)
    assert run.status == 1
    (line,) = run.err_lines
    assert "2023-12/issue.toml" in line and "archive-only" in line


def test_every_error_is_reported_at_once(fixture_copy, cli):
    _edit(fixture_copy.issues, CULTURE, "byline: Lee Jun-ho\n", "")
    _edit(fixture_copy.issues, ARTICLE, "images/figure.png", "images/nope.png")
    _edit(fixture_copy.issues, ISSUE, 'month = "2024-01"', 'month = "2024-02"')
    run = cli("check", "2024-01", paths=fixture_copy)
    assert run.status == 1
    assert len(run.err_lines) == 3
    assert all(re.match(r"error: \S+:\d+: ", line) for line in run.err_lines)


@pytest.mark.parametrize("argv", [(), ("build",), ("frobnicate", "2023-08"),
                                  ("build", "2023-08", "--format", "docx")])
def test_usage_errors_exit_2(argv, cli):
    assert cli(*argv).status == 2


def test_quiet_bad_input_is_exactly_one_line(fixture_copy, cli):
    _edit(fixture_copy.issues, CULTURE, "byline: Lee Jun-ho\n", "")
    run = cli("build", "-q", "2024-01", paths=fixture_copy)
    assert run.status == 1
    assert len(run.err.splitlines()) == 1


@pytest.mark.parametrize("damage", ["missing", "folder"])
def test_an_issue_folder_without_its_toml_says_so(damage, fixture_copy, cli):
    """A month's folder without issue.toml (made by hand), or with a folder by that name:
    it was 'no issue 2024-01 in issues/ (available: ...)', the folder right there."""
    toml = fixture_copy.issues / "2024-01" / "issue.toml"
    toml.unlink()
    if damage == "folder":
        toml.mkdir()
    what = "is a folder, not a file" if damage == "folder" else "no such file"
    for command in ("check", "build"):
        run = cli(command, "2024-01", paths=fixture_copy)
        assert run.status == 1
        assert run.err_lines == [f"error: {toml}: {what}: an issue's folder needs its "
                                 "issue.toml (publisher new 2024-01 writes one in a new folder)"]
    assert not fixture_copy.dist.exists()


def test_an_images_path_that_is_a_file_says_so(fixture_copy, cli):
    """``images`` saved as a file: each reference says so, at its line (was: 'not found in
    2024-01/', the file right there)."""
    import shutil

    images = fixture_copy.issues / "2024-01" / "images"
    shutil.rmtree(images)
    images.write_text("not a folder\n")
    run = cli("check", "2024-01", paths=fixture_copy)
    assert run.status == 1 and "Traceback" not in run.err
    assert len(run.err_lines) == 3, run.err_lines  # the cover, the lead image, the figure
    for line in run.err_lines:
        assert re.match(r"error: \S+:\d+: image 'images/\w+\.png': 2024-01/images is a file "
                        r"where a folder is expected: make it a folder of the images$", line), line


@pytest.mark.parametrize(("month", "damaged"), [("2024-01", "2024-01"), ("2024-01", "2023-12"),
                                                ("2023-12", "2023-12")])
def test_an_articles_path_that_is_a_file_is_an_error(month, damaged, fixture_copy, cli):
    """``articles`` saved as a file, in the issue built or in an earlier one of its archive:
    one line naming it (was: the issue taken for an archive-only one, unsaid)."""
    import shutil

    articles = fixture_copy.issues / damaged / "articles"
    shutil.rmtree(articles, ignore_errors=True)
    articles.write_text("not a folder\n")
    for command in ("check", "build"):
        run = cli(command, month, paths=fixture_copy)
        assert run.status == 1 and "Traceback" not in run.err
        assert run.err_lines == [f"error: {articles}: is a file where the articles folder is "
                                 "expected: make it a folder of the issue's .md files (an "
                                 "issue without one is archive-only)"]
    assert not fixture_copy.dist.exists()


def test_an_articles_link_to_nothing_is_an_error(fixture_copy, cli):
    import shutil

    articles = fixture_copy.issues / "2024-01" / "articles"
    shutil.rmtree(articles)
    articles.symlink_to("gone")
    run = cli("check", "2024-01", paths=fixture_copy)
    assert run.status == 1 and "Traceback" not in run.err
    assert run.err_lines == [f"error: {articles}: is a link that leads to no folder where the "
                             "articles folder is expected: make it a folder of the issue's .md "
                             "files (an issue without one is archive-only)"]
