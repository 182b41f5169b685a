"""Layout confinement: a corpus of hostile references in the CSS and templates of every
format, each refused as one ``path:line`` naming the layout file; hyperlinks and the
layout's own files still allowed; the EPUB packs what its layout refers to."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from conftest import FIXTURES, LAYOUTS
from epub_support import NS, Epub
from publisher.build.builder import Paths
from publisher.errors import PublisherError, SourceErrors
from publisher.model import Month
from publisher.render import confine
from publisher.render.base import BuildContext
from publisher.render.email import renderer as email
from publisher.render.epub import renderer as epub
from publisher.render.layoutrefs import css_references, markup_references
from publisher.render.pdf import renderer as pdf
from publisher.source.reader import read_issue

JAN = "2024-01"
ISSUE_DIR = FIXTURES / JAN
#: format -> (its folder in layouts/, its stylesheet, its main template, the policy)
FORMATS: dict[str, tuple[str, str, str, Any]] = {
    "pdf": ("print", "print.css", "base.html", pdf.layout_policy),
    "epub": ("epub", "style.css", "base.xhtml", epub.layout_policy),
    "email": ("email", "email.css", "email.html", email.layout_policy),
}
LEAD = "/* line 1 */\n/* line 2 */\n"  # the hostile line is line 3

HOSTILE_CSS = {
    "file url": ".x { background: url(file:///etc/passwd) }",
    "http url": '.x { background: url("http://tracker.example/p.png") }',
    "https url": ".x { background: url('https://example.org/x.png') }",
    "network path": ".x { background: url(//example.org/x.png) }",
    "upper-case scheme": '.x { background: url("FILE:///etc/passwd") }',
    "escaped scheme": r".x { background: url(fil\65:///etc/passwd) }",
    "tab in the scheme": r'.x { background: url("htt\9p://example.org/x.png") }',
    "absolute path": ".x { background: url(/etc/passwd) }",
    "climbing out": ".x { background: url(../../../../../../../../etc/passwd) }",
    "import string": '@import "http://example.org/x.css";',
    "import url": "@import url(file:///etc/passwd);",
    "image-set": '.x { background-image: image-set("http://example.org/a.png" 1x) }',
    "font-face": "@font-face { font-family: X; src: url(http://example.org/f.woff) }",
    "nested in media": "@media print { .y { background: url(http://example.org/x) } }",
    "symlink out": ".x { background: url(leak.png) }",
    "missing file": ".x { background: url(nothere.png) }",
    "malformed url": ".x { background: url(a b) }",
}

HOSTILE_MARKUP = {
    "img file": '<img src="file:///etc/passwd" alt="">',
    "img charref": '<img src="&#102;ile:///etc/passwd" alt="">',
    "srcset": '<img srcset="http://example.org/x2.png 2x" alt="">',
    "stylesheet link": '<link rel="stylesheet" href="http://example.org/x.css">',
    "icon link": '<link rel="icon" href="file:///etc/passwd">',
    "background attribute": '<table><tr><td background="http://example.org/bg.png"></td></tr></table>',
    "style attribute": '<div style="background: url(http://example.org/bg.png)"></div>',
    "style element": "<style>.x { background: url(http://example.org/bg.png) }</style>",
    "outlook vml": '<!--[if mso]><v:fill src="http://example.org/bg.png" /><![endif]-->',
    "script": '<script src="http://example.org/x.js"></script>',
    "object": '<object data="file:///etc/passwd"></object>',
    "svg image": '<svg><image href="http://example.org/x.png"/></svg>',
    "scheme before template code": '<img src="http://example.org/{{ issue.month }}.png" alt="">',
    "data url": '<img src="data:image/png;base64,iVBORw0KGgo=" alt="">',
}

#: Markup that makes a reader's program send a request of its own: refused whatever it
#: names, a file of the layout included, in every format.
REQUESTS = {
    "a ping": '<a href="https://example.org/" ping="http://tracker.example/ping">a</a>',
    "relative ping": '<a href="https://example.org/" ping="print.css">a</a>',
    "area ping": '<map name="m"><area href="https://example.org/" ping="/p" alt="x"></map>',
    "meta refresh": '<meta http-equiv="Refresh" content="0;url=http://example.org/r">',
    "meta refresh, no url": '<meta http-equiv="refresh" content="30">',
    "base href": '<base href="http://example.org/">',
    "relative base href": '<base href="sub/">',
    "form action": '<form action="http://example.org/f"><p>x</p></form>',
    "button formaction": '<button formaction="https://example.org/f">x</button>',
    "html manifest": '<html manifest="cache.appcache"></html>',
    "dns-prefetch": '<link rel="dns-prefetch" href="//example.org">',
    "preconnect": '<link rel="preconnect" href="https://example.org">',
    "prefetch": '<link rel="prefetch" href="https://example.org/next.html">',
    "preload of a layout file": '<link rel="preload" as="style" href="print.css">',
    "template code in a ping": '<a href="#x" ping="{{ links.browser }}">a</a>',
}

#: Not resources, or judged only once rendered: never refused in the template.
HARMLESS_MARKUP = [
    '<a href="http://example.org/">a hyperlink</a>',
    '<a href="{{ links.unsubscribe }}">Unsubscribe</a>',
    '<link rel="alternate" href="http://example.org/feed.xml">',
    '<img src="{{ thumb.src }}" alt="">',
    '<p>http://example.org/x.png is only text</p>',
    '{# <img src="http://example.org/x.png"> #}',
    '<svg><use href="#icon"/></svg>',
]


def _context(layouts: Path) -> BuildContext:
    issue: Any = SimpleNamespace(source_dir=ISSUE_DIR)
    return BuildContext(issue=issue, layouts=layouts)


def _layout(tmp_path: Path, fmt: str, name: str, text: str) -> Path:
    folder = tmp_path / "layouts" / FORMATS[fmt][0]
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "leak.png").is_symlink():
        (folder / "leak.png").symlink_to("/etc/passwd")
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _problems(tmp_path: Path, fmt: str) -> list[str]:
    policy = FORMATS[fmt][3](_context(tmp_path / "layouts"))
    try:
        confine.check(policy)
    except SourceErrors as failure:
        return [str(error) for error in failure.errors]
    return []


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", HOSTILE_CSS)
def test_a_hostile_stylesheet_reference_is_one_line_naming_the_file(tmp_path, fmt, case):
    path = _layout(tmp_path, fmt, FORMATS[fmt][1], LEAD + HOSTILE_CSS[case] + "\n")
    problems = _problems(tmp_path, fmt)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:3: "), problems


@pytest.mark.parametrize("fmt, case", [
    (fmt, case) for fmt in FORMATS for case in HOSTILE_MARKUP
    if (fmt, case) != ("pdf", "data url")])  # the print layout may (see the next test)
def test_a_hostile_template_reference_is_one_line_naming_the_file(tmp_path, fmt, case):
    text = f"<p>one</p>\n<p>two</p>\n{HOSTILE_MARKUP[case]}\n"
    path = _layout(tmp_path, fmt, FORMATS[fmt][2], text)
    problems = _problems(tmp_path, fmt)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:3: "), problems


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", REQUESTS)
def test_markup_that_makes_a_request_of_its_own_is_refused(tmp_path, fmt, case):
    text = f"<p>one</p>\n<p>two</p>\n{REQUESTS[case]}\n"
    path = _layout(tmp_path, fmt, FORMATS[fmt][2], text)
    _layout(tmp_path, fmt, "print.css", "p { color: black }\n")
    problems = _problems(tmp_path, fmt)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:3: <"), problems
    assert problems[0].endswith(": remove it from the layout"), problems


def test_a_ping_made_by_template_code_is_found_in_the_rendered_email(
        layouts_copy, fixture_copy, cli):
    template = layouts_copy / "email" / "email.html"
    text = template.read_text(encoding="utf-8")
    old = '{{ issue.title }} · <a href="{{ links.browser }}">'
    assert text.count(old) == 1
    text = text.replace(old, '{% set track = \'ping="http://tracker.example/c"\' %}'
                             + old[:-1] + " {{ track | safe }}>")
    template.write_text(text, encoding="utf-8")
    line = next(n for n, s in enumerate(text.splitlines(), 1) if "tracker.example" in s)
    run = cli("build", JAN, "--format", "email",
              paths=Paths(fixture_copy.issues, layouts_copy, fixture_copy.dist))
    assert run.status == 1
    assert run.err_lines == [
        f"error: {template}:{line}: <a ping> 'http://tracker.example/c' is click tracking (a "
        "request to it on every click): remove it from the layout"]
    assert not fixture_copy.dist.exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_layout_file_of_another_format_is_out_of_reach(tmp_path, fmt):
    """Only the folders the build cache keys the format on (a change there rebuilds it)."""
    site = tmp_path / "layouts" / "site"
    site.mkdir(parents=True)
    (site / "logo.png").write_bytes(b"\x89PNG")
    path = _layout(tmp_path, fmt, FORMATS[fmt][1], ".x { background: url(../site/logo.png) }")
    [problem] = _problems(tmp_path, fmt)
    assert problem.startswith(f"{path}:1: url() '../site/logo.png' ")
    assert "leads outside the folders it may use" in problem


@pytest.mark.parametrize("fmt, allowed", [("pdf", True), ("epub", False), ("email", False)])
def test_data_urls_only_where_the_format_allows_them(tmp_path, fmt, allowed):
    _layout(tmp_path, fmt, FORMATS[fmt][1], ".x { background: url(data:image/png;base64,AA==) }")
    assert (_problems(tmp_path, fmt) == []) is allowed


@pytest.mark.parametrize("fmt", FORMATS)
def test_hyperlinks_and_template_values_are_not_refused_in_the_template(tmp_path, fmt):
    _layout(tmp_path, fmt, FORMATS[fmt][2], "\n".join(HARMLESS_MARKUP))
    _layout(tmp_path, fmt, "extra.css", "@namespace svg url(http://www.w3.org/2000/svg);\n"
                                        ".x { filter: url(#blur) }")
    assert _problems(tmp_path, fmt) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_layout_file_that_is_a_symlink_leading_outside_is_refused(tmp_path, fmt):
    outside = tmp_path / "elsewhere.css"
    outside.write_text(".x { color: red }")
    folder = tmp_path / "layouts" / FORMATS[fmt][0]
    folder.mkdir(parents=True)
    (folder / FORMATS[fmt][1]).symlink_to(outside)
    [problem] = _problems(tmp_path, fmt)
    assert problem.startswith(f"{folder / FORMATS[fmt][1]}: is a symlink to {outside}")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_hostile_reference_in_a_shared_partial_is_refused_in_every_format(tmp_path, fmt):
    """``layouts/_partials/`` is part of every format's layout: checked with each."""
    partial = tmp_path / "layouts" / confine.PARTIALS / "archive.html"
    partial.parent.mkdir(parents=True)
    partial.write_text("{% macro text(entry) %}\n<p>{{ entry.label }}</p>\n"
                       '<img src="http://tracker.example/p.gif" alt="">\n{% endmacro %}\n',
                       encoding="utf-8")
    _layout(tmp_path, fmt, FORMATS[fmt][2], "<p>one</p>\n")
    [problem] = _problems(tmp_path, fmt)
    assert problem.startswith(f"{partial}:3: <img src> 'http://tracker.example/p.gif' "), problem

def test_every_problem_of_a_file_is_listed_each_on_its_line(tmp_path):
    text = ".a { background: url(http://example.org/a.png) }\n\n.b { background: url(/etc/x) }"
    path = _layout(tmp_path, "email", "email.css", text)
    assert [p.split(" ", 1)[0] for p in _problems(tmp_path, "email")] == [
        f"{path}:1:", f"{path}:3:"]


def test_the_shipped_layouts_pass_and_the_print_layout_carries_its_fonts_and_profile():
    carried = confine.check(pdf.layout_policy(_context(LAYOUTS)))
    names = {item.path.name for item in carried}
    assert {"fonts.css", "FOGRA39L.icc", "NanumMyeongjo.ttf"} <= names
    assert confine.check(epub.layout_policy(_context(LAYOUTS))) == []
    assert confine.check(email.layout_policy(_context(LAYOUTS))) == []


def test_reference_lines_inside_tags_styles_and_comments():
    markup = ('<p>\n<img alt=""\n     src="a.png">\n<style>\n\n.x { background: url(b.png) }'
              '\n</style>\n<!--[if mso]>\n<v:fill src="c.png"/><![endif]-->')
    assert [(r.url, r.line) for r in markup_references(markup)] == [
        ("a.png", 3), ("b.png", 6), ("c.png", 9)]
    assert [(r.url, r.what) for r in css_references("@import url(x.css);\n.a{b:url(y.png)}")] == [
        ("x.css", "@import"), ("y.png", "url()")]


# -- through the command line, and the rendered output --------------------------------------


@pytest.fixture
def layouts_copy(tmp_path: Path) -> Path:
    layouts = tmp_path / "layouts"
    shutil.copytree(LAYOUTS, layouts)
    return layouts


def _append(path: Path, text: str) -> int:
    """Append ``text`` to ``path``; the line it starts on."""
    before = path.read_text(encoding="utf-8")
    path.write_text(before.rstrip("\n") + "\n" + text, encoding="utf-8")
    return before.rstrip("\n").count("\n") + 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_build_with_a_hostile_layout_fails_in_one_line_and_writes_nothing(
        fmt, layouts_copy, fixture_copy, cli):
    folder, stylesheet, _, _ = FORMATS[fmt]
    css = layouts_copy / folder / stylesheet
    line = _append(css, '.x { background: url("file:///etc/passwd") }\n')
    paths = Paths(fixture_copy.issues, layouts_copy, fixture_copy.dist)
    run = cli("build", JAN, "--format", fmt, paths=paths)
    assert run.status == 1
    assert run.err_lines == [f"error: {css}:{line}: url() 'file:///etc/passwd' is a URL, not a "
                             f"layout file: {FORMATS[fmt][3](_context(layouts_copy)).fix}"]
    assert "Traceback" not in run.err
    assert not fixture_copy.dist.exists()


def test_a_tracking_pixel_made_by_template_code_is_found_in_the_rendered_email(
        layouts_copy, fixture_copy, cli):
    template = layouts_copy / "email" / "email.html"
    text = template.read_text(encoding="utf-8")
    text = text.replace("<body class=\"body\">\n",
                        '<body class="body">\n{% set pixel = "http://tracker.example/p.gif" %}\n'
                        '<img src="{{ pixel }}" alt="" width="1" height="1">\n')
    template.write_text(text, encoding="utf-8")
    line = text.splitlines().index('{% set pixel = "http://tracker.example/p.gif" %}') + 1
    paths = Paths(fixture_copy.issues, layouts_copy, fixture_copy.dist)
    run = cli("build", JAN, "--format", "email", paths=paths)
    assert run.status == 1
    assert run.err_lines == [
        f"error: {template}:{line}: <img src> 'http://tracker.example/p.gif' is not a file of "
        "this email layout or issue: an email shows only the issue's own images; remove it "
        "from the layout"]
    assert not fixture_copy.dist.exists()


JOINED = '<img src="{{ "ht" ~ "tp://tracker.example/p.gif" }}" alt=""/>'


@pytest.mark.parametrize("fmt, name, before", [
    ("epub", "base.xhtml", "{% block content %}"),  # extended by every document
    ("email", "email.html", '<div class="preheader no-text">'),
    ("pdf", "cover.html", '  <header class="masthead">'),  # included by base.html
])
def test_an_address_joined_by_template_code_is_named_at_its_expression(
        layouts_copy, fixture_copy, cli, fmt, name, before):
    template = layouts_copy / FORMATS[fmt][0] / name
    text = template.read_text(encoding="utf-8")
    assert text.count(before) == 1
    template.write_text(text.replace(before, JOINED + "\n" + before), encoding="utf-8")
    line = text[: text.index(before)].count("\n") + 1
    paths = Paths(fixture_copy.issues, layouts_copy, fixture_copy.dist)
    run = cli("build", JAN, "--format", fmt, paths=paths)
    assert run.status == 1
    [error] = [e for e in run.err_lines if e.startswith("error:")]
    assert error.startswith(f"error: {template}:{line}: "), error
    assert "http://tracker.example/p.gif" in error
    assert not fixture_copy.dist.exists()


@pytest.mark.parametrize("fmt, before", [
    ("pdf", '<p class="archive-month">'),  # the archive entry's text, printed
    ("email", '<p class="archive-month">'),
    ("epub", "{% if online %}"),  # its downloads, described
])
def test_an_address_joined_by_template_code_in_a_partial_is_named_at_its_expression(
        layouts_copy, fixture_copy, cli, fmt, before):
    partial = layouts_copy / confine.PARTIALS / "archive.html"
    text = partial.read_text(encoding="utf-8")
    assert text.count(before) == 1
    partial.write_text(text.replace(before, JOINED + "\n" + before), encoding="utf-8")
    line = text[: text.index(before)].count("\n") + 1
    paths = Paths(fixture_copy.issues, layouts_copy, fixture_copy.dist)
    run = cli("build", JAN, "--format", fmt, paths=paths)
    assert run.status == 1
    [error] = [e for e in run.err_lines if e.startswith("error:")]
    assert error.startswith(f"error: {partial}:{line}: "), error
    assert "http://tracker.example/p.gif" in error
    assert not fixture_copy.dist.exists()

def _january(layouts: Path) -> BuildContext:
    return BuildContext(issue=read_issue(FIXTURES, Month(2024, 1)), layouts=layouts)


def test_an_epub_resource_made_by_template_code_is_found_in_the_rendered_book(layouts_copy):
    template = layouts_copy / "epub" / "cover.xhtml"
    text = template.read_text(encoding="utf-8").replace(
        'role="doc-cover"/>',
        'role="doc-cover"/>\n<img src="{{ \'file:///etc/\' ~ \'passwd\' }}" alt=""/>')
    template.write_text(text, encoding="utf-8")
    line = next(n for n, s in enumerate(text.splitlines(), 1) if "passwd" in s)
    with pytest.raises(SourceErrors) as failure:
        epub.build_epub(_january(layouts_copy), None)
    assert [str(e) for e in failure.value.errors] == [
        f"{template}:{line}: <img src> 'file:///etc/passwd' is not a file of this epub layout "
        f"or issue: {epub.layout_policy(_january(layouts_copy)).fix}"]


def test_the_epub_packs_the_files_its_stylesheet_refers_to(layouts_copy):
    (layouts_copy / "epub" / "img").mkdir()
    shutil.copy(ISSUE_DIR / "images" / "figure.png", layouts_copy / "epub" / "img" / "rule.png")
    _append(layouts_copy / "epub" / "style.css", "hr { background: url(img/rule.png) }\n")
    data = epub.build_epub(_january(layouts_copy), None)
    book = Epub(data)
    assert book.read("EPUB/css/img/rule.png") == (ISSUE_DIR / "images" / "figure.png").read_bytes()
    [media] = book.opf.xpath("//opf:item[@href='css/img/rule.png']/@media-type", namespaces=NS)
    assert media == "image/png"
    # the stylesheet refers to it where it now is: css/style.css + img/rule.png
    assert b"url(img/rule.png)" in book.read("EPUB/css/style.css")


def test_a_packed_layout_file_may_not_replace_the_books_own(layouts_copy):
    (layouts_copy / "epub" / "css").mkdir()
    (layouts_copy / "epub" / "css" / "style.css").write_text("p { margin: 0 }")
    base = layouts_copy / "epub" / "base.xhtml"
    own = '<link rel="stylesheet" type="text/css" href="{{ stylesheet }}"/>'
    text = base.read_text(encoding="utf-8")
    base.write_text(text.replace(own, own + '\n<link rel="stylesheet" href="css/style.css"/>'))
    line = text.splitlines().index(own) + 2
    with pytest.raises(PublisherError) as failure:
        epub.build_epub(_january(layouts_copy), None)
    assert str(failure.value) == (
        f"{base}:{line}: 'css/style.css' would replace a file of the EPUB itself: give the "
        "layout file another name")


@pytest.mark.parametrize(("value", "urls"), [
    ("x.png 2x,http://tracker.example/p.gif", ["x.png", "http://tracker.example/p.gif"]),
    ("a.png 1x, b.png 2x", ["a.png", "b.png"]),
    ("a.png,b.png", ["a.png,b.png"]),  # no white space: one URL (the HTML standard)
    ("a.png 100w (min(1,2)), b.png", ["a.png", "b.png"]),
    ("  , a.png,, ", ["a.png"]),
])
def test_a_srcset_is_parsed_as_the_html_standard_does(value, urls):
    from publisher.render.layoutrefs import _srcset

    assert _srcset(value) == urls


def test_a_tracker_as_the_last_srcset_candidate_is_refused_in_the_rendered_email(tmp_path):
    from types import SimpleNamespace

    from publisher.errors import SourceErrors
    from publisher.render import confine
    from publisher.render.email import renderer as email

    layouts = tmp_path / "layouts"
    shutil.copytree(LAYOUTS, layouts)
    policy = email.layout_policy(SimpleNamespace(layouts=layouts))
    markup = '<img alt="" srcset="a.png 2x,https://tracker.example/p.gif">'
    with pytest.raises(SourceErrors) as refused:
        confine.check_output(policy, markup, lambda url: url == "a.png",
                             layouts / "email" / "email.html")
    assert "https://tracker.example/p.gif" in str(refused.value)
