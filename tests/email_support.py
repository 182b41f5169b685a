"""Helpers of the email tests: a lint for email-unsafe CSS, a browser, cid images.

The lint knows what the big mail clients ignore or break on (caniemail.com):
Outlook for Windows (Word's HTML engine) and Gmail drop flexbox, grid,
``position`` and CSS custom properties; web fonts (``@font-face``, font
services) are not loaded by most clients; ``@import`` would also be fetched.
"""

from __future__ import annotations

import base64
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import tinycss2

UNSAFE_PROPERTY = re.compile(
    r"^(position|inset|inset-.+|flex|flex-.+|grid|grid-.+|gap|row-gap|column-gap|order|"
    r"justify-.+|align-content|align-items|align-self|place-.+)$")
UNSAFE_DISPLAY = {"flex", "inline-flex", "grid", "inline-grid"}
UNSAFE_AT_RULES = {"font-face", "import", "property", "layer", "container"}
WEB_FONT = re.compile(r"\.(woff2?|ttf|otf|eot)\b|fonts\.googleapis|use\.typekit", re.I)

BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]


def css_problems(css: str, where: str) -> list[str]:
    """Every email-unsafe thing in a style sheet (or a style="" value)."""
    problems: list[str] = []
    _check_rules(tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True),
                 where, problems)
    return problems


def declaration_problems(style: str, where: str) -> list[str]:
    problems: list[str] = []
    _check_declarations(tinycss2.parse_blocks_contents(style, skip_comments=True,
                                                       skip_whitespace=True), where, problems)
    return problems


def _check_rules(rules: list, where: str, problems: list[str]) -> None:
    for rule in rules:
        if rule.type == "error":
            problems.append(f"{where}:{rule.source_line}: CSS syntax error: {rule.message}")
        elif rule.type == "at-rule":
            name = rule.lower_at_keyword
            if name in UNSAFE_AT_RULES:
                problems.append(f"{where}:{rule.source_line}: @{name} is not email-safe")
            elif rule.content is not None:
                inner = tinycss2.parse_blocks_contents(rule.content, skip_comments=True,
                                                       skip_whitespace=True)
                if any(r.type == "declaration" for r in inner):
                    _check_declarations(inner, where, problems)
                else:
                    _check_rules(tinycss2.parse_rule_list(rule.content, skip_comments=True,
                                                          skip_whitespace=True),
                                 where, problems)
        elif rule.type == "qualified-rule":
            _check_declarations(tinycss2.parse_blocks_contents(
                rule.content, skip_comments=True, skip_whitespace=True), where, problems)


def _check_declarations(items: list, where: str, problems: list[str]) -> None:
    for item in items:
        if item.type == "error":
            problems.append(f"{where}:{item.source_line}: CSS syntax error: {item.message}")
            continue
        if item.type != "declaration":
            if item.type == "qualified-rule":  # nested rules
                _check_declarations(tinycss2.parse_blocks_contents(
                    item.content, skip_comments=True, skip_whitespace=True), where, problems)
            continue
        name = item.name  # tinycss2 lower-cases it, except custom properties
        value = tinycss2.serialize(item.value).strip().lower()
        line = f"{where}:{item.source_line}"
        if name.startswith("--"):
            problems.append(f"{line}: CSS custom property {name} is not email-safe")
        elif UNSAFE_PROPERTY.match(name):
            problems.append(f"{line}: '{name}' is not email-safe")
        elif name == "display" and value in UNSAFE_DISPLAY:
            problems.append(f"{line}: 'display: {value}' is not email-safe")
        elif name == "word-break" and value.startswith("break-word"):
            problems.append(f"{line}: 'word-break: break-word' is deprecated (word-break: "
                            "break-all where a long word may break anywhere)")
        if "var(" in value:
            problems.append(f"{line}: var() is not email-safe")
        if WEB_FONT.search(value):
            problems.append(f"{line}: web fonts are not email-safe")


_STYLE_ELEMENT = re.compile(r"<style[^>]*>(.*?)</style>", re.S | re.I)
_STYLE_ATTR = re.compile(r"""\sstyle\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
_LINK = re.compile(r"<link\b[^>]*>", re.I)


def html_problems(html: str, where: str) -> list[str]:
    """Email-unsafe CSS in an HTML file or template: style elements and attributes, links."""
    problems: list[str] = []
    for match in _STYLE_ELEMENT.finditer(html):
        css = re.sub(r"\{%.*?%\}", "", match.group(1))  # a Jinja include of a linted .css
        problems += css_problems(css, where)
    for match in _STYLE_ATTR.finditer(html):
        problems += declaration_problems(match.group(1) or match.group(2) or "", where)
    for match in _LINK.finditer(html):
        if "stylesheet" in match.group().lower() or WEB_FONT.search(match.group()):
            problems.append(f"{where}: {match.group()} loads a style sheet or a font")
    return problems


def layout_problems(folder: Path) -> list[str]:
    problems: list[str] = []
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".css":
            problems += css_problems(path.read_text(encoding="utf-8"), path.name)
        elif path.suffix in (".html", ".j2", ".jinja"):
            problems += html_problems(path.read_text(encoding="utf-8"), path.name)
    return problems


# -- the message ---------------------------------------------------------------------


def parse_eml(path: Path) -> EmailMessage:
    with path.open("rb") as handle:
        message = BytesParser(policy=policy.default).parse(handle)
    assert isinstance(message, EmailMessage)
    return message


def related_images(message: EmailMessage) -> dict[str, EmailMessage]:
    """The image parts of the message by Content-ID (without angle brackets)."""
    return {part["Content-ID"].strip("<>"): part for part in message.walk()
            if part.get_content_maintype() == "image" and part["Content-ID"]}


def with_data_urls(html: str, message: EmailMessage) -> str:
    """``html`` with every ``cid:`` source replaced by the part's bytes as a data: URL.

    A browser cannot resolve cid: (a mail client looks it up in the message), so
    this is what a mail client shows: each image comes from the message itself.
    An unknown cid is left as it is, and fails to load.
    """
    for cid, part in related_images(message).items():
        data = base64.b64encode(part.get_content()).decode("ascii")
        html = html.replace(f"cid:{cid}", f"data:{part.get_content_type()};base64,{data}")
    return html
