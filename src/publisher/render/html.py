"""The one HTML writer: model blocks and inlines to HTML fragments.

Every format's layout is HTML (print through WeasyPrint, EPUB as XHTML, the
email), so they share this writer, as Pandoc's EPUB writer reuses its HTML
writer.  What differs between formats is an :class:`HtmlOptions`: how
footnotes are set, whether output must be XHTML, and how image sources and
internal links are written.  All text is escaped: no source can inject markup.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Literal

from markupsafe import Markup

from publisher import model as m

FootnoteStyle = Literal["print", "endnotes", "epub"]


def _same(url: str) -> str:
    return url


def _image_path(image: m.Image) -> str:
    return image.src


def _no_attributes(image: m.Image) -> str:
    return ""


@dataclass(frozen=True)
class HtmlOptions:
    """How one format wants its HTML.

    ``footnotes``:
      ``print``: the note's text in a ``<span class="footnote">`` at the call
      site, for CSS ``float: footnote`` (WeasyPrint sets it at the page foot);
      ``endnotes``: a superscript link to a numbered list after the article;
      ``epub``: a ``noteref`` link to an ``<aside epub:type="footnote">``.
    ``xhtml``: close void elements (``<br/>``), as EPUB content documents need.
    ``image_src``: the ``src`` of an image (a path, a URL, a ``cid:``).
    ``link_href``: rewrites internal links (``#id``), e.g. to ``chapter.xhtml#id``.
    ``image_attributes``: more attributes of an image, written after its size, each
    with a leading space (the web edition's ``srcset``, ``sizes`` and ``loading``).
    ``table_wrap``: set each table in a ``<div class="table">`` that is a labelled,
    focusable region (a wide table scrolls inside it, not the page).
    ``pullquote_role``: the ``role`` of a pull quote's ``<aside>`` (``doc-pullquote`` on
    the web: an aside inside the article would otherwise be a landmark of its own).
    ``block_ids``: give every top-level block of an article body the id
    ``article-<slug>--b<n>`` (n from 1), the same in every format, so a place in the print
    layout (the page a block starts on) can be found again in the EPUB.
    ``html4_blocks``: no HTML5 sectioning elements (``figure``, ``figcaption``, ``aside``),
    which Outlook for Windows, Yahoo and AOL strip (caniemail.com, "HTML5 semantics"):
    a figure is a ``<div role="figure">`` with a ``<div class="figcaption">``, a pull
    quote a ``<div role="doc-pullquote">`` (text repeated from the article, as the EPUB
    marks it), for the email.
    ``url_class``: the class of a link whose text is an address (its URL, or a mailto's
    address), a long word the layout may let break anywhere.
    """

    footnotes: FootnoteStyle = "endnotes"
    xhtml: bool = False
    image_src: Callable[[m.Image], str] = field(default=_image_path)
    link_href: Callable[[str], str] = field(default=_same)
    block_ids: bool = False
    html4_blocks: bool = False
    url_class: str = ""
    image_attributes: Callable[[m.Image], str] = field(default=_no_attributes)
    table_wrap: bool = False
    pullquote_role: str = ""
    #: ``<wbr>`` in the URLs of running text (:func:`url_breaks`), for narrow justified
    #: columns: a URL may break after a slash or before a dot instead of standing whole.
    break_urls: bool = False


_URL = re.compile(r"\b(?:https?://|www\.)[^\s<]+")
_URL_BREAK = re.compile(r"(?<=[^/:]/)(?=[^/])|(?<=\w)(?=[.?#&=_-]\w)")


def url_breaks(text: str) -> str:
    """``text`` (escaped HTML) with each URL in a ``<span class="url">`` (which the layout
    keeps from hyphenating), ``<wbr>`` after each of its slashes (but those of ``://``) and
    before each dot, hyphen and query separator between word characters."""
    return _URL.sub(lambda match: '<span class="url">'
                    + _URL_BREAK.sub("<wbr>", match.group()) + "</span>", text)


def block_id(article: m.Article, n: int) -> str:
    """The id of the n-th (from 1) top-level block of an article's body."""
    return m.block_id_of(article.anchor, n)


def attr(value: str) -> str:
    return escape(value, quote=True)


class HtmlWriter:
    def __init__(self, options: HtmlOptions | None = None,
                 footnotes: Sequence[m.Footnote] = ()):
        self.options = options or HtmlOptions()
        self.notes = {note.number: note for note in footnotes}

    @property
    def _void_end(self) -> str:
        return "/>" if self.options.xhtml else ">"

    # -- blocks ------------------------------------------------------------

    def blocks(self, blocks: Sequence[m.Block]) -> str:
        return "\n".join(self.block(b) for b in blocks)

    def body(self, article: m.Article) -> str:
        """An article's body; with ``block_ids``, each block carries its id."""
        if not self.options.block_ids:
            return self.blocks(article.body)
        out = []
        for n, block in enumerate(article.body, 1):
            html = self.block(block)
            ident = block_id(article, n)
            if isinstance(block, m.Heading):  # keep the heading's own id; mark it before
                html = f'<a id="{attr(ident)}"></a>{html}' if not self.options.xhtml else (
                    f'<span id="{attr(ident)}"></span>{html}')
            else:
                tag_end = html.index(">")
                if html[tag_end - 1] == "/":
                    tag_end -= 1
                html = f'{html[:tag_end]} id="{attr(ident)}"{html[tag_end:]}'
            out.append(html)
        return "\n".join(out)

    def block(self, block: m.Block) -> str:
        if isinstance(block, m.Paragraph):
            return f"<p>{self.inlines(block.children)}</p>"
        if isinstance(block, m.Heading):
            return (f'<h{block.level} id="{attr(block.id)}">{self.inlines(block.children)}'
                    f"</h{block.level}>")
        if isinstance(block, m.BlockQuote):
            return f"<blockquote>\n{self.blocks(block.children)}\n</blockquote>"
        if isinstance(block, m.PullQuote):
            return self.pullquote(block)
        if isinstance(block, m.ListBlock):
            return self.list(block)
        if isinstance(block, m.Figure):
            return self.figure(block.image)
        if isinstance(block, m.Table):
            return self.table(block)
        if isinstance(block, m.CodeBlock):
            return f"<pre><code>{escape(block.text, quote=False)}</code></pre>"
        if isinstance(block, m.Rule):
            return f"<hr{self._void_end}"
        raise TypeError(f"unknown block {block!r}")

    def pullquote(self, quote: m.PullQuote) -> str:
        epub = (' epub:type="pullquote" role="doc-pullquote"'
                if self.options.footnotes == "epub" else
                f' role="{attr(self.options.pullquote_role)}"' if self.options.pullquote_role
                else "")
        who = (f'\n<p class="attribution">{escape(quote.attribution, quote=False)}</p>'
               if quote.attribution else "")
        tag = "aside"
        if self.options.html4_blocks:
            tag, epub = "div", ' role="doc-pullquote"'
        return (f'<{tag} class="pullquote"{epub}>\n<p>{self.inlines(quote.children)}</p>{who}\n'
                f"</{tag}>")

    def list(self, block: m.ListBlock) -> str:
        tag = "ol" if block.ordered else "ul"
        start = f' start="{block.start}"' if block.ordered and block.start != 1 else ""
        items = []
        for item in block.items:
            # A tight list item is one paragraph: set it without <p>.
            if len(item) == 1 and isinstance(item[0], m.Paragraph):
                items.append(f"<li>{self.inlines(item[0].children)}</li>")
            else:
                items.append(f"<li>{self.blocks(item)}</li>")
        return f"<{tag}{start}>\n" + "\n".join(items) + f"\n</{tag}>"

    def image(self, image: m.Image, css_class: str = "") -> str:
        cls = f' class="{attr(css_class)}"' if css_class else ""
        more = self.options.image_attributes(image)
        return (f'<img{cls} src="{attr(self.options.image_src(image))}" alt="{attr(image.alt)}" '
                f'width="{image.width}" height="{image.height}"{more}{self._void_end}')

    def figure(self, image: m.Image, css_class: str = "figure") -> str:
        caption = self.caption(image)
        if self.options.html4_blocks:
            return (f'<div class="{attr(css_class)}" role="figure">\n{self.image(image)}\n'
                    f"{caption}</div>")
        return (f'<figure class="{attr(css_class)}">\n{self.image(image)}\n'
                f"{caption}</figure>")

    def caption(self, image: m.Image) -> str:
        parts = []
        if image.caption:
            parts.append(f'<span class="caption">{self.inlines(image.caption)}</span>')
        if image.credit:
            parts.append(f'<span class="credit">{escape(image.credit, quote=False)}</span>')
        if not parts:
            return ""
        if self.options.html4_blocks:
            return f"<div class=\"figcaption\">{' '.join(parts)}</div>\n"
        return f"<figcaption>{' '.join(parts)}</figcaption>\n"

    def table(self, table: m.Table) -> str:
        def row(cells: tuple[m.TableCell, ...], tag: str) -> str:
            out = []
            for cell in cells:
                cls = f' class="align-{cell.align}"' if cell.align else ""
                out.append(f"<{tag}{cls}>{self.inlines(cell.children)}</{tag}>")
            return "<tr>" + "".join(out) + "</tr>"

        head = "".join(row(r, "th") for r in table.head)
        body = "\n".join(row(r, "td") for r in table.body)
        thead = f"<thead>{head}</thead>\n" if head else ""
        html = f"<table>\n{thead}<tbody>\n{body}\n</tbody>\n</table>"
        if self.options.table_wrap:
            return f'<div class="table" role="region" aria-label="Table" tabindex="0">{html}</div>'
        return html

    # -- inlines -----------------------------------------------------------

    def inlines(self, nodes: Sequence[m.Inline]) -> str:
        return "".join(self.inline(n) for n in nodes)

    def inline(self, node: m.Inline) -> str:
        if isinstance(node, m.Text):
            text = escape(node.text, quote=False)
            return url_breaks(text) if self.options.break_urls else text
        if isinstance(node, m.Emph):
            return f"<em>{self.inlines(node.children)}</em>"
        if isinstance(node, m.Strong):
            return f"<strong>{self.inlines(node.children)}</strong>"
        if isinstance(node, m.Code):
            return f"<code>{escape(node.text, quote=False)}</code>"
        if isinstance(node, m.Link):
            href = self.options.link_href(node.url) if node.internal else node.url
            title = f' title="{attr(node.title)}"' if node.title else ""
            if self.options.url_class and m.plain_text(node.children) in (
                    node.url, node.url.removeprefix("mailto:")):
                title += f' class="{attr(self.options.url_class)}"'
            return f'<a href="{attr(href)}"{title}>{self.inlines(node.children)}</a>'
        if isinstance(node, m.SoftBreak):
            return "\n"
        if isinstance(node, m.LineBreak):
            return f"<br{self._void_end}"
        if isinstance(node, m.FootnoteRef):
            return self.footnote_ref(node)
        raise TypeError(f"unknown inline {node!r}")

    # -- footnotes ---------------------------------------------------------

    def footnote_ref(self, ref: m.FootnoteRef) -> str:
        style = self.options.footnotes
        if style == "print":
            note = self.notes.get(ref.number)
            text = self._note_inline_text(note) if note else ""
            return f'<span class="footnote" id="{attr(ref.id)}">{text}</span>'
        href = self.options.link_href(f"#{ref.id}")
        if style == "epub":
            return (f'<a class="noteref" epub:type="noteref" role="doc-noteref" '
                    f'id="{attr(ref.id)}-ref" '
                    f'href="{attr(href)}">{ref.number}</a>')
        return (f'<sup class="noteref"><a id="{attr(ref.id)}-ref" href="{attr(href)}">'
                f"{ref.number}</a></sup>")

    def _note_inline_text(self, note: m.Footnote) -> str:
        parts = []
        for block in note.children:
            if isinstance(block, m.Paragraph):
                parts.append(self.inlines(block.children))
        return " ".join(parts)

    def footnotes(self, notes: Sequence[m.Footnote]) -> str:
        """The notes section after an article (``endnotes`` and ``epub`` styles)."""
        if not notes or self.options.footnotes == "print":
            return ""
        if self.options.footnotes == "epub":
            asides = []
            for note in notes:
                back = self.options.link_href(f"#{note.id}-ref")
                asides.append(
                    f'<aside class="footnote" epub:type="footnote" role="doc-footnote" '
                    f'id="{attr(note.id)}">\n'
                    f'<p><a class="back" href="{attr(back)}">{note.number}.</a> '
                    f"{self._note_inline_text(note)}</p>\n</aside>")
            return '<section class="footnotes" epub:type="footnotes">\n' + "\n".join(asides) + (
                "\n</section>")
        items = []
        for note in notes:
            back = self.options.link_href(f"#{note.id}-ref")
            items.append(f'<li id="{attr(note.id)}">{self._note_inline_text(note)} '
                         f'<a class="back" href="{attr(back)}" aria-label="Back to the text">'
                         "↩</a></li>")
        return '<ol class="footnotes">\n' + "\n".join(items) + "\n</ol>"


def html_filters(options: HtmlOptions) -> dict[str, Callable[..., Markup]]:
    """Jinja2 filters over model objects, for a format's template environment.

    ``{{ article | body }}``, ``{{ article | notes }}``, ``{{ inlines | inlines }}``,
    ``{{ image | figure }}``, ``{{ image | img }}``, ``{{ blocks | blocks }}``.
    """

    def body(article: m.Article) -> Markup:
        return Markup(HtmlWriter(options, article.footnotes).body(article))

    def notes(article: m.Article) -> Markup:
        return Markup(HtmlWriter(options).footnotes(article.footnotes))

    def blocks(items: Sequence[m.Block]) -> Markup:
        return Markup(HtmlWriter(options).blocks(items))

    def inlines(items: Sequence[m.Inline]) -> Markup:
        return Markup(HtmlWriter(options).inlines(items))

    def figure(image: m.Image, css_class: str = "figure") -> Markup:
        return Markup(HtmlWriter(options).figure(image, css_class))

    def img(image: m.Image, css_class: str = "") -> Markup:
        return Markup(HtmlWriter(options).image(image, css_class))

    return {"body": body, "notes": notes, "blocks": blocks, "inlines": inlines,
            "figure": figure, "img": img}
