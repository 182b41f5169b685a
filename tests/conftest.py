"""Shared fixtures: the project's paths, fixture issues, and a CLI runner."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from publisher.build.builder import Paths
from publisher.cli.main import main

PROJECT = Path(__file__).resolve().parent.parent
ISSUES = PROJECT / "issues"
LAYOUTS = PROJECT / "layouts"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "issues"
# A copy of ../shared/seeds/korea-2023-08-raw.txt, the article as received (with its mojibake).
SEED = Path(__file__).resolve().parent / "fixtures" / "seeds" / "korea-2023-08-raw.txt"

# pg_server (a throwaway PostgreSQL cluster per session) and pg_url (an empty database);
# mailroom (a project with a built email and 1,000 subscribers, for the sending tests);
# dns_server (a local DNS server) and dkim_keys (DKIM keys made once a session).
pytest_plugins = ["pg_fixtures", "mailroom", "dns_support"]


@dataclass
class Run:
    status: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        """The error and warning lines (progress lines left out)."""
        return [line for line in self.err.splitlines()
                if line.startswith(("error:", "warning:"))]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, one for the whole session (Playwright's sync API
    allows one running instance per process); a missing browser is an error, not a skip."""
    from playwright.sync_api import sync_playwright

    from email_support import BROWSER_ARGS

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                              args=BROWSER_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def built_2023_08(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    """A copy of the project's issues with every format of 2023-08 built and the site
    written: shared by the tests that need the whole thing (treat it as read-only)."""
    from publisher.build.builder import build
    from publisher.model import Month
    from publisher.site.pages import build_site

    root = tmp_path_factory.mktemp("built-2023-08")
    shutil.copytree(ISSUES, root / "issues")
    paths = Paths(issues=root / "issues", layouts=LAYOUTS, dist=root / "dist")
    build(Month(2023, 8), paths)
    build_site(paths)
    return paths


@pytest.fixture
def project_copy(tmp_path: Path) -> Paths:
    """A writable copy of the project's issues, with dist/ in the temporary folder."""
    shutil.copytree(ISSUES, tmp_path / "issues")
    return Paths(issues=tmp_path / "issues", layouts=LAYOUTS, dist=tmp_path / "dist")


@pytest.fixture
def fixture_copy(tmp_path: Path) -> Paths:
    """A writable copy of the test fixture issues."""
    shutil.copytree(FIXTURES, tmp_path / "issues")
    return Paths(issues=tmp_path / "issues", layouts=LAYOUTS, dist=tmp_path / "dist")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """Run ``publisher`` in-process with the given paths; capture its output."""

    def run(*args: str, paths: Paths | None = None) -> Run:
        argv = list(args)
        if paths is not None and len(argv) > 0:
            argv[1:1] = ["--issues", str(paths.issues), "--layouts", str(paths.layouts),
                         "--dist", str(paths.dist)]
        capsys.readouterr()
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse usage errors and --help
            status = int(exc.code or 0)
        captured = capsys.readouterr()
        return Run(status, captured.out, captured.err)

    return run


def seed_sentences() -> list[str]:
    """Every sentence of the seed article's body, with its mojibake repaired."""
    import re

    raw = SEED.read_text(encoding="utf-8")
    text = re.sub(r"[\xa1-\xfe]{2}", lambda m: m.group().encode("latin-1").decode("cp949"), raw)
    body = text[text.index("Korea has been seeking") : text.index("News Ticker")]
    sentences: list[str] = []
    for line in body.splitlines():
        line = line.strip()
        if len(line) < 40:  # subheads
            continue
        sentences.extend(s for s in re.split(r"(?<=[.”])\s+(?=[A-Z“])", line) if s)
    return sentences
