"""Markdown bodies to model blocks, with markdown-it-py.

CommonMark plus: smart quotes and dashes (the typographer), tables,
footnotes (``[^1]``), attributes on images (``{credit="..."}``) and a
pull-quote container::

    ::: pullquote Yoon Suk Yeol
    “In this ultra-connected era, the security of Europe and Asia cannot be separated.”
    :::

An image alone in its paragraph is a figure; its title is the caption.  Raw
HTML is never passed through: it becomes visible text, with a warning.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.attrs import attrs_plugin
from mdit_py_plugins.container import container_plugin
from mdit_py_plugins.footnote import footnote_plugin

from publisher import model as m
from publisher.diagnostics import Diagnostics
from publisher.source import markdown_lint as lint
from publisher.source import typography

ImageLoader = Callable[[str, str, tuple[m.Inline, ...], str, int], m.Image | None]


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"typographer": True, "html": True})
    md.enable(["replacements", "smartquotes", "table"])
    md.use(footnote_plugin)
    md.use(container_plugin, "pullquote")
    md.use(attrs_plugin)
    typography.use(md)
    return md


_MD = _parser()


def smarten(text: str) -> str:
    """Typographer quotes and dashes for a one-line string (titles, deks)."""
    tokens = _MD.parseInline(text.replace("\\", "\\\\").replace("<", "\\<").replace("`", "\\`"))
    return "".join(c.content for c in tokens[0].children or () if c.type == "text") or text


@dataclass
class LinkTarget:
    """An internal link to check once every article is read."""

    target: str  # the id it points at, without '#'
    line: int
    href: str = ""  # as written


@dataclass
class Body:
    blocks: tuple[m.Block, ...]
    footnotes: tuple[m.Footnote, ...]
    heading_ids: set[str] = field(default_factory=set)
    links: list[LinkTarget] = field(default_factory=list)


class BodyConverter:
    """Walks markdown-it tokens of one article and builds model blocks.

    ``owner`` is the id the body's ids are made from (``article-<slug>``, or
    ``editors-note``: see *Anchors* in :mod:`publisher.model`).
    """

    def __init__(
        self,
        owner: str,
        path: Path,
        line_offset: int,
        article_slugs: dict[str, str],
        load_image: ImageLoader,
        diag: Diagnostics,
    ):
        self.owner = owner
        self.path = path
        self.offset = line_offset
        self.article_slugs = article_slugs  # file name -> slug
        self.load_image = load_image
        self.diag = diag
        self.heading_ids: set[str] = set()
        self.links: list[LinkTarget] = []
        self.footnote_numbers: dict[int, int] = {}  # markdown-it id -> number
        self._line = line_offset + 1
        self._inline: Token | None = None  # the inline block being converted
        self._html_lines: set[int] = set()

    # -- entry point -------------------------------------------------------

    def convert(self, text: str) -> Body:
        env: dict[str, Any] = {}
        tokens = _MD.parse(text, env)
        lint.check_leftovers(text, tokens, env, self._place())
        body_tokens, note_tokens = _split_footnotes(tokens)
        blocks = tuple(self._blocks(body_tokens))
        notes = tuple(self._footnotes(note_tokens))
        return Body(blocks, notes, self.heading_ids, self.links)

    # -- blocks ------------------------------------------------------------

    def _blocks(self, tokens: Sequence[Token]) -> list[m.Block]:
        out: list[m.Block] = []
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if tok.map:
                self._line = self.offset + tok.map[0] + 1
            end = _closing(tokens, i) if tok.nesting == 1 else i
            if tok.type == "container_pullquote_open" and tokens[end].markup != ":::":
                self.diag.warn("the pull quote opened here is never closed, so everything "
                               "after it is part of the quote: add a line ':::' after the "
                               "quotation", self.path, self._line)
            inner = tokens[i + 1 : end]
            block = self._block(tok, inner)
            if block is not None:
                out.append(block)
            i = end + 1
        return out

    def _block(self, tok: Token, inner: Sequence[Token]) -> m.Block | None:
        kind = tok.type
        if kind == "paragraph_open":
            return self._paragraph(inner[0])
        if kind == "heading_open":
            return self._heading(tok, inner[0])
        if kind == "blockquote_open":
            lint.check_callout(inner, self._place())
            return m.BlockQuote(tuple(self._blocks(inner)))
        if kind == "container_pullquote_open":
            attribution = tok.info.strip().removeprefix("pullquote").strip()
            children: list[m.Inline] = []
            for block in self._blocks(inner):
                if isinstance(block, m.Paragraph):
                    if children:
                        children.append(m.LineBreak())
                    children.extend(block.children)
            return m.PullQuote(tuple(children), attribution)
        if kind in ("bullet_list_open", "ordered_list_open"):
            items = [tuple(self._blocks(tokens)) for tokens in _children(inner, "list_item_open")]
            start = int(tok.attrs.get("start", 1)) if kind == "ordered_list_open" else 1
            return m.ListBlock(kind == "ordered_list_open", tuple(items), start)
        if kind == "table_open":
            return self._table(inner)
        if kind in ("fence", "code_block"):
            return m.CodeBlock(tok.content.rstrip("\n"), tok.info.strip())
        if kind == "hr":
            return m.Rule()
        if kind == "html_block":
            self._raw_html(tok.content)
            return m.Paragraph((m.Text(tok.content.strip()),))
        self.diag.warn(f"unsupported Markdown construct '{kind}' left out", self.path, self._line)
        return None

    def _place(self) -> lint.Place:
        return lint.Place(self.path, self.offset, self._line, self.diag)

    def _paragraph(self, inline: Token) -> m.Block:
        self._inline = inline
        children = inline.children or []
        if len(children) == 1 and children[0].type == "image":
            image = self._figure_image(children[0])
            if image is not None:
                return m.Figure(image)
            return m.Paragraph(())
        return m.Paragraph(self._inlines(children))

    def _figure_image(self, tok: Token) -> m.Image | None:
        caption = ()
        title = str(tok.attrs.get("title", "") or "")
        if title:
            lint.check_plain_text(title, "caption", self.path, self._line, self.diag)
            caption = (m.Text(smarten(title)),)
        known = {"src", "alt", "title", "credit"}
        for key in tok.attrs:
            if key not in known:
                self.diag.warn(f"unknown image attribute '{key}' ignored", self.path, self._line)
        credit = smarten(str(tok.attrs.get("credit", "") or ""))
        # markdown-it percent-encodes the path (a space, Hangul): the file has the real name.
        return self.load_image(unquote(str(tok.attrs.get("src", ""))), tok.content, caption,
                               credit, self._line)

    def _heading(self, tok: Token, inline: Token) -> m.Heading:
        level = int(tok.tag[1])
        if level == 1:
            self.diag.warn("a '#' heading in the body is set as a subhead: the title comes from "
                           "the front matter; use '##' for subheads", self.path, self._line)
            level = 2
        self._inline = inline
        children = self._inlines(inline.children or [])
        base = m.heading_id(self.owner, m.slug(m.plain_text(children), default="section"))
        ident, n = base, 2
        while ident in self.heading_ids:
            ident, n = f"{base}-{n}", n + 1
        self.heading_ids.add(ident)
        return m.Heading(min(level, 4), ident, children)

    def _table(self, inner: Sequence[Token]) -> m.Table:
        head: list[tuple[m.TableCell, ...]] = []
        body: list[tuple[m.TableCell, ...]] = []
        section = head
        for i, tok in enumerate(inner):
            if tok.type == "thead_open":
                section = head
            elif tok.type == "tbody_open":
                section = body
            elif tok.type == "tr_open":
                cells = []
                for cell_tokens, opener in _children_with_opener(inner[i + 1 : _closing(inner, i)],
                                                                 ("th_open", "td_open")):
                    style = str(opener.attrs.get("style", ""))
                    align = style.removeprefix("text-align:") if style else ""
                    self._inline = cell_tokens[0]
                    cells.append(m.TableCell(self._inlines(cell_tokens[0].children or []), align))
                section.append(tuple(cells))
        return m.Table(tuple(head), tuple(body))

    def _footnotes(self, tokens: Sequence[Token]) -> list[m.Footnote]:
        notes = []
        for note_tokens, opener in _children_with_opener(tokens, ("footnote_open",)):
            md_id = int(opener.meta["id"])
            number = self.footnote_numbers.get(md_id)
            if number is None:  # markdown-it keeps only referenced notes; reported above
                continue
            blocks = self._blocks([t for t in note_tokens if t.type != "footnote_anchor"])
            notes.append(m.Footnote(number, m.footnote_id(self.owner, number), tuple(blocks)))
        return sorted(notes, key=lambda n: n.number)

    # -- inlines -----------------------------------------------------------

    def _inlines(self, tokens: Sequence[Token]) -> tuple[m.Inline, ...]:
        out: list[m.Inline] = []
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            kind = tok.type
            if kind in ("em_open", "strong_open", "link_open"):
                end = _closing(tokens, i)
                children = self._inlines(tokens[i + 1 : end])
                if kind == "em_open":
                    out.append(m.Emph(children))
                elif kind == "strong_open":
                    out.append(m.Strong(children))
                else:
                    out.append(self._link(tok, children))
                i = end + 1
                continue
            if kind == "text":
                if out and isinstance(out[-1], m.Text):
                    out[-1] = m.Text(out[-1].text + tok.content)
                else:
                    out.append(m.Text(tok.content))
            elif kind == "code_inline":
                out.append(m.Code(tok.content))
            elif kind == "softbreak":
                out.append(m.SoftBreak())
            elif kind == "hardbreak":
                out.append(m.LineBreak())
            elif kind == "html_inline":
                self._raw_html(tok.content, self._here(tok.content))
                out.append(m.Text(tok.content))
            elif kind == "footnote_ref":
                md_id = int(tok.meta["id"])
                number = self.footnote_numbers.setdefault(md_id, len(self.footnote_numbers) + 1)
                out.append(m.FootnoteRef(number, m.footnote_id(self.owner, number)))
            elif kind == "image":
                self.diag.error("an image must stand alone in its paragraph (it becomes a figure "
                                "with a caption)", self.path,
                                self._here(str(tok.attrs.get("src", ""))))
            else:
                out.append(m.Text(tok.content))
            i += 1
        return _merge_text(out)

    def _link(self, tok: Token, children: tuple[m.Inline, ...]) -> m.Link:
        href = str(tok.attrs.get("href", ""))
        line = self._here(unquote(href))
        title = str(tok.attrs.get("title", "") or "")
        scheme = href.split(":", 1)[0].lower() if ":" in href else ""
        if scheme in lint.LINK_SCHEMES:
            return m.Link(href, children, title)
        if scheme:
            self.diag.error(lint.scheme_message(href, scheme), self.path, line)
            return m.Link("#", children, title)
        target = self._internal_target(href)
        if target is None:
            self.diag.error(f"broken link '{href}': link to another article as 'file.md' or "
                            "'file.md#heading', or to a heading here as '#heading'",
                            self.path, line)
            return m.Link("#", children, title)
        self.links.append(LinkTarget(target, line, href))
        return m.Link(f"#{target}", children, title)

    def _internal_target(self, href: str) -> str | None:
        # markdown-it percent-encodes what is not ASCII (#김치 arrives as #%EA%B9%80%EC%B9%98):
        # ids and file names are compared as the editor wrote them.
        file, _, fragment = unicodedata.normalize("NFC", unquote(href)).partition("#")
        if not file:
            return (m.heading_id(self.owner, m.slug(fragment, default="section"))
                    if fragment else None)
        slug = self.article_slugs.get(Path(unquote(file)).name)
        if slug is None:
            return None
        owner = m.article_id(slug)
        return m.heading_id(owner, m.slug(fragment, default="section")) if fragment else owner

    def _here(self, text: str) -> int:
        """The file line of ``text`` in the inline block being converted."""
        inline = self._inline
        return self._place().line_in(inline, text) if inline is not None else self._line

    def _raw_html(self, content: str, line: int | None = None) -> None:
        """Warn once per line (``<b>bold</b>`` is one problem, not two)."""
        line = line or self._line
        if line in self._html_lines:
            return
        self._html_lines.add(line)
        snippet = content.strip().splitlines()[0][:40] if content.strip() else content
        self.diag.warn(f"raw HTML {snippet!r} is shown as text, not markup: use Markdown",
                       self.path, line)


def _merge_text(nodes: list[m.Inline]) -> tuple[m.Inline, ...]:
    merged: list[m.Inline] = []
    for node in nodes:
        if merged and isinstance(node, m.Text) and isinstance(merged[-1], m.Text):
            merged[-1] = m.Text(merged[-1].text + node.text)
        else:
            merged.append(node)
    return tuple(merged)


def _closing(tokens: Sequence[Token], start: int) -> int:
    """Index of the token closing ``tokens[start]`` (an opening token)."""
    depth = 0
    for j in range(start, len(tokens)):
        depth += tokens[j].nesting
        if depth == 0:
            return j
    raise ValueError("unbalanced Markdown tokens")


def _children(tokens: Sequence[Token], opener: str) -> list[Sequence[Token]]:
    return [inner for inner, _ in _children_with_opener(tokens, (opener,))]


def _children_with_opener(
    tokens: Sequence[Token], openers: tuple[str, ...]
) -> list[tuple[Sequence[Token], Token]]:
    found = []
    i = 0
    while i < len(tokens):
        if tokens[i].type in openers:
            end = _closing(tokens, i)
            found.append((tokens[i + 1 : end], tokens[i]))
            i = end + 1
        else:
            i += 1
    return found


def _split_footnotes(tokens: Sequence[Token]) -> tuple[list[Token], list[Token]]:
    body: list[Token] = []
    notes: list[Token] = []
    inside = False
    for tok in tokens:
        if tok.type == "footnote_block_open":
            inside = True
        elif tok.type == "footnote_block_close":
            inside = False
        elif inside:
            notes.append(tok)
        else:
            body.append(tok)
    return body, notes
