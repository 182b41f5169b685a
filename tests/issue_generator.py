"""Issues nobody wrote by hand: a seeded generator of valid, varied issue sources.

``IssueGenerator(seed)`` makes the content of one month at a time (a full issue
or an archive-only one) and writes it into a folder that ``publisher new MONTH``
created, using the fields the README documents: sections, cover lines, an
optional cover image, the news ticker, the editor's note, articles in YAML or
TOML front matter with lead images, subheads, figures, footnotes, tables, pull
quotes, lists, block quotes and links, and images of random size, aspect,
mode and format made with Pillow.

Every piece of prose is generated twice at once: its Markdown *source* (straight
quotes, ``--``, ``...``, ``*emphasis*``, links: what an editor types) and its
*final* text (what the typographer must make of it: curly quotes, dashes, an
ellipsis, no markup). The tests look for the final text in every output, so the
typographer is checked too, against an expectation it did not compute. Text uses
only characters the layout's fonts have (the build refuses the others:
:func:`publisher.render.fonts.uncovered`, the glyph check of
:mod:`publisher.render.pdf.glyphs`); words with others are dropped from the
vocabulary when the generator is made.

Same seed, same issues: a failing run is replayed with its seed
(``PUBLISHER_GEN_SEED``, see tests/test_generated_issues.py).

Cases left out, each because of a known bug another branch is fixing (remove the
restriction when it lands):

* callouts (``> [!NOTE]``) and footnotes never referenced or never defined
  (h12-source, "footnote/callout warnings"): every footnote is referenced once;
* more than one footnote per issue: the print PDF misplaces and loses them (no branch
  yet: see :data:`MAX_FOOTNOTES_PER_ISSUE`);
* issues without ``sections`` (h12-source, "sections"): every issue lists them.

Zero articles is not a valid issue (the reader refuses it: "no articles: add
Markdown files to articles/"), so a full issue has at least one. TIFF is not an
accepted image format (``publisher.source.images.SUPPORTED``), so none is written.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from PIL import Image, ImageCms, ImageDraw, features

from publisher.model import Month, slug
from publisher.render.fonts import uncovered

#: Names the EPUB package uses for its own documents: an article may have them (its
#: documents and ids live in their own namespace), and some generated ones do.
RESERVED_SLUGS = frozenset({"cover", "nav", "colophon", "archive", "ticker", "editors-note",
                            "style", "toc"})

#: The print PDF sets footnotes on the wrong pages: WeasyPrint 70 decides whether the
#: footnote area overflows by comparing floats with no tolerance
#: (``LayoutContext._update_footnote_area``), and with the print layout's ``@footnote``
#: (border-top 0.5pt, padding-top 2mm, margin-top 4mm) rounding says it always does: each
#: note moves to the next page, then one note per page, into the back matter, and the last
#: are lost under the back cover. One note per issue is only displaced, which the test
#: tolerates; raise this when the print footnotes are fixed.
MAX_FOOTNOTES_PER_ISSUE = 1

#: Image formats the reader accepts (publisher.source.images.SUPPORTED) and Pillow can write here.
IMAGE_FORMATS = ("JPEG", "PNG", "GIF", *(("WEBP",) if features.check("webp") else ()))
#: Modes each format can hold.
FORMAT_MODES = {
    "JPEG": ("RGB", "L", "CMYK"),
    "PNG": ("RGB", "L", "RGBA", "P", "LA", "I;16", "1"),
    "GIF": ("P", "L"),
    "WEBP": ("RGB", "RGBA"),
}
EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp"}


def slugify(text: str) -> str:
    """The slug the reader gives an article or a subhead titled ``text``."""
    return slug(text, default="section")


# -- vocabulary -------------------------------------------------------------------

PLACES = ("Seoul", "Busan", "Jeonju", "Gyeongju", "Chuncheon", "Incheon", "Jeju", "Daegu",
          "Gwangju", "Andong", "Suwon", "Sokcho", "Tongyeong", "Kraków", "São Paulo",
          "Łódź", "Åland", "İstanbul", "Gdańsk", "Reykjavík", "Zürich", "Malmö")
NAMES = ("Kim Min-ji", "Sohn Ji-ae", "Park Jae-hyun", "Lee Seo-yeon", "Choi Woo-sik",
         "Zoë Brontë", "José Núñez", "Søren Kierkegård", "Anaïs Delacroix", "Jürgen Weiß",
         "Dvořák", "Małgorzata Wróbel", "Chloé Lefèvre", "O'Neill", "김민지", "박서준",
         "Ji-woo Han", "Marie-Thérèse Côté")
HANGUL_NOUNS = ("한옥", "서울", "부산", "김치", "한글", "전주", "비빔밥", "막걸리", "한국",
                "춘천", "경주", "불고기", "시장", "음악", "나무", "바다", "도서관", "친구",
                "사람들", "떡볶이", "한복", "궁궐", "하늘", "우리말",
                "韓國")  # Hanja: not in the shipped fonts, so the coverage filter drops it
HANGUL_ADJ = ("아름답다", "조용하다", "붐빈다", "오래되었다", "따뜻하다", "새롭다", "맛있다")
HANGUL_VERBS = ("만났다", "찾았다", "보았다", "기억한다", "좋아한다", "그렸다")
ADJECTIVES = ("quiet", "crowded", "ancient", "new", "bright", "narrow", "wide", "hidden",
              "famous", "modest", "naïve", "elegant", "rainy", "old-fashioned", "well-known",
              "small", "remarkable", "restless", "generous", "unexpected", "long-awaited",
              "bilingual", "coastal", "mountainous", "digital", "traditional")
NOUNS = ("market", "harbour", "palace", "museum", "teacher", "festival", "village", "café",
         "façade", "river", "bridge", "library", "studio", "kitchen", "garden", "temple",
         "orchestra", "ferry", "school", "archive", "exhibition", "craftsman", "résumé",
         "smörgåsbord", "piñata", "jalapeño", "crème brûlée", "tea house", "fishmonger",
         "poet", "engineer", "shipyard", "office", "office-holder", "stage", "alley")
VERBS = ("visited", "restored", "opened", "described", "photographed", "remembered",
         "welcomed", "rebuilt", "celebrated", "studied", "painted", "crossed", "found",
         "fixed", "filled", "finished", "reflected on", "flew over", "shuffled through")
ADVERBS = ("slowly", "quietly", "finally", "already", "once again", "eagerly", "officially")
NUMBERS = ("1,000", "12,400", "3.5", "42%", "1988", "2,019", "7", "250,000", "0.75", "99",
           "1.2 million", "₩15,000", "$3.2 billion", "€40", "£12", "½", "25 °C", "100 km",
           "6 × 4", "±2", "No. 9", "§ 4")
CONTRACTIONS = ("it's", "don't", "we're", "they'll", "couldn't", "she'd", "isn't", "I'm")
SECTIONS = ("Current Korea", "Culture", "People & Places", "Travel", "Food & Drink",
            "Science – Technology", "한류 Hallyu", "Arts", "Letters", "Café Society")
CREDITS = ("ⓒ Office of the President", "ⓒ Korea.net", "Photo: Zoë Brontë", "ⓒ 김민지",
           "ⓒ Yonhap", "Courtesy of the Jeonju Hanok Village", "© Søren Kierkegård")
LINK_HOSTS = ("https://www.korea.net/NewsFocus", "https://example.org/news",
              "https://webzine.example.org/korea/notes", "http://archive.example.com/a?b=1&c=2")


@dataclass(frozen=True)
class Piece:
    """A run of text as the editor types it (``source``) and as readers see it
    (``final``)."""

    source: str
    final: str


def _same(text: str) -> Piece:
    return Piece(text, text)


class Vocabulary:
    """The word pools, less every word with a character the layout's fonts lack."""

    def __init__(self, font_dir: Path):
        pools = {name: value for name, value in globals().items()
                 if name.isupper() and isinstance(value, tuple) and name not in (
                     "IMAGE_FORMATS",)}
        chars = {ord(c) for pool in pools.values() for word in pool for c in word
                 if not c.isspace()}
        missing = uncovered(chars, font_dir)
        self.dropped: list[str] = []
        for name, pool in pools.items():
            kept = tuple(w for w in pool if not any(ord(c) in missing for c in w))
            self.dropped += [w for w in pool if w not in kept]
            setattr(self, name.lower(), kept)

    places: tuple[str, ...]
    names: tuple[str, ...]
    hangul_nouns: tuple[str, ...]
    hangul_adj: tuple[str, ...]
    hangul_verbs: tuple[str, ...]
    adjectives: tuple[str, ...]
    nouns: tuple[str, ...]
    verbs: tuple[str, ...]
    adverbs: tuple[str, ...]
    numbers: tuple[str, ...]
    contractions: tuple[str, ...]
    sections: tuple[str, ...]
    credits: tuple[str, ...]
    link_hosts: tuple[str, ...]


def _hangul_particle(word: str, with_final: str, without: str) -> str:
    """The Korean particle that follows ``word`` (it depends on its last syllable)."""
    last = ord(word[-1]) - 0xAC00
    return with_final if 0 <= last < 11172 and last % 28 else without


# -- the content model the tests check against ---------------------------------------


@dataclass
class Block:
    """One block of an article body: ``kind`` is p, h2, pull, quote, list, fig, table."""

    kind: str
    source: str  # its Markdown
    texts: list[str] = field(default_factory=list)  # final texts a reader must find
    capitals: list[str] = field(default_factory=list)  # likewise, set in capitals in print


@dataclass
class GenImage:
    file: str  # relative to the issue folder
    alt: str
    caption: str = ""  # final text
    caption_source: str = ""
    credit: str = ""
    format: str = ""
    mode: str = ""
    size: tuple[int, int] = (0, 0)


@dataclass
class GenArticle:
    file_name: str
    slug: str
    section: str
    title: Piece
    byline: str
    dek: Piece | None
    photo_credit: str
    lead_image: GenImage | None
    blocks: list[Block]
    footnotes: list[Piece]  # in the order of their references (numbers 1, 2, ...)
    footnote_labels: list[str] = field(default_factory=list)  # [^label] of each
    toml_front_matter: bool = False
    explicit_slug: bool = False

    def texts(self) -> list[str]:
        """Every final text of the body a reader must find, in order: sentences of
        paragraphs, pull quotes, block quotes, lists, captions, credits, table cells."""
        return [t for block in self.blocks for t in block.texts]

    def capitals(self) -> list[str]:
        """Texts the print layout sets in capitals: the byline, pull-quote attributions."""
        return [self.byline, *(t for block in self.blocks for t in block.capitals)]

    def footnote_texts(self) -> list[str]:
        return [note.final for note in self.footnotes]

    @property
    def paragraphs(self) -> list[Block]:
        return [b for b in self.blocks if b.kind == "p"]


@dataclass
class GenIssue:
    month: Month
    archive_only: bool
    cover_story: Piece
    cover_lines: list[Piece] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    cover_image: GenImage | None = None
    ticker: list[tuple[Piece, str | None]] = field(default_factory=list)
    editors_note: list[Block] = field(default_factory=list)
    issue_number: str = ""
    day: int = 1
    articles: list[GenArticle] = field(default_factory=list)
    images: dict[str, Image.Image] = field(default_factory=dict)  # file -> picture
    image_saves: dict[str, dict] = field(default_factory=dict)  # file -> save() arguments

    def describe(self) -> str:
        """One line for logs and failure messages."""
        if self.archive_only:
            return f"{self.month}: archive-only"
        kinds = sorted({b.kind for a in self.articles for b in a.blocks})
        return (f"{self.month}: {len(self.articles)} article(s), {len(self.sections)} "
                f"section(s), {sum(len(a.texts()) for a in self.articles)} texts, blocks "
                f"{'/'.join(kinds)}, {len(self.images)} image(s) "
                f"({', '.join(sorted({i.split('.')[-1] for i in self.images}))}), "
                f"ticker {len(self.ticker)}, note {'yes' if self.editors_note else 'no'}")


# -- the generator ------------------------------------------------------------------


class IssueGenerator:
    """Seeded: the same seed makes the same issues, byte for byte.

    ``size`` of :meth:`issue` scales the article count and length: ``small`` (1-3
    short articles), ``medium`` (2-6 of mixed length), ``large`` (up to 12, some long),
    ``over-budget`` (enough text that the email must cut articles to their leads).
    """

    def __init__(self, seed: int, font_dir: Path):
        self.seed = seed
        self.rng = random.Random(seed)
        self.vocab = Vocabulary(font_dir)
        self._image_count = 0
        self._notes_left = MAX_FOOTNOTES_PER_ISSUE

    # -- issues ----------------------------------------------------------------

    def issue(self, month: Month, *, archive_only: bool = False,
              size: str = "medium") -> GenIssue:
        rng = self.rng
        issue = GenIssue(month, archive_only, self.headline())
        self._notes_left = MAX_FOOTNOTES_PER_ISSUE
        if archive_only:
            if rng.random() < 0.6:
                issue.cover_image = self.image(issue, "cover", photo=True)
            return issue
        issue.day = rng.choice((1, 1, 1, 5, 15, 28))
        issue.cover_lines = [self.headline(short=True) for _ in range(rng.randint(0, 4))]
        issue.sections = rng.sample(self.vocab.sections, rng.randint(1, 4))
        if rng.random() < 0.7:
            issue.cover_image = self.image(issue, "cover", photo=True)
            issue.cover_image.alt = f"The cover photo: {self.phrase()}"
            issue.cover_image.credit = rng.choice(("", *self.vocab.credits))
        for _ in range(rng.choice((0, 0, 1, 3, 6))):
            link = rng.choice((None, f"{rng.choice(self.vocab.link_hosts)}/{rng.randint(1, 999)}"))
            issue.ticker.append((self.headline(short=True), link))
        if rng.random() < 0.5:
            issue.editors_note = [self.paragraph(rng.randint(1, 4))
                                  for _ in range(rng.randint(1, 2))]
        if rng.random() < 0.4:
            issue.issue_number = f"Vol. {rng.randint(1, 9)} No. {month.month}"
        count = {"small": (1, 2), "medium": (2, 4), "large": (4, 12),
                 "over-budget": (6, 10)}[size]
        n = rng.randint(*count)
        slugs: set[str] = set()
        for i in range(n):
            issue.articles.append(self.article(issue, i, n, slugs, size))
        # Sections in issue order; the articles come out ordered by section, then file name.
        return issue

    def article(self, issue: GenIssue, index: int, count: int, slugs: set[str],
                size: str) -> GenArticle:
        rng = self.rng
        while True:
            words = [w for w in (slugify(rng.choice(self.vocab.adjectives)),
                                 slugify(rng.choice(self.vocab.nouns)))]
            if rng.random() < 0.2:
                words.append(str(rng.randint(2, 99)))
            stem = "-".join(words)
            if rng.random() < 0.1:  # a name the EPUB package uses for its own documents
                stem = rng.choice(sorted(RESERVED_SLUGS))
            if stem not in slugs:
                break
        slugs.add(stem)
        prefix = rng.choice((f"{index + 1:02d}-", f"{index + 1}_", "")) if count < 100 else ""
        explicit = rng.random() < 0.15
        slug = stem
        if explicit:
            slug = f"{stem}-x{index}"
            slugs.add(slug)
        long = {"small": 0.0, "medium": 0.3, "large": 0.3, "over-budget": 0.9}[size]
        if rng.random() < long:
            paragraphs = rng.randint(14, 28) if size == "over-budget" else rng.randint(8, 16)
        else:
            paragraphs = rng.randint(1, 4)
        title = self.headline()
        dek = self.sentence() if rng.random() < 0.7 else None
        article = GenArticle(
            file_name=f"{prefix}{stem}.md", slug=slug, section=rng.choice(issue.sections),
            title=title, byline=rng.choice(self.vocab.names).replace("'", "’"), dek=dek,
            photo_credit=rng.choice(("", "", *self.vocab.credits)), lead_image=None,
            blocks=[], footnotes=[], toml_front_matter=rng.random() < 0.25,
            explicit_slug=explicit)
        if rng.random() < 0.5:
            article.lead_image = self.image(issue, f"lead-{stem}", photo=True)
            article.lead_image.alt = f"Lead photo: {self.phrase()}"
            if rng.random() < 0.7:
                caption = self.sentence()
                article.lead_image.caption, article.lead_image.caption_source = (
                    caption.final, caption.source)
            article.lead_image.credit = rng.choice(("", *self.vocab.credits))
        headings: list[str] = []
        for n in range(paragraphs):
            block = self.paragraph(rng.randint(1, 6), article)
            article.blocks.append(block)
            if n == paragraphs - 1:
                break
            roll = rng.random()
            if roll < 0.12:
                heading = self.headline(short=True)
                article.blocks.append(Block("h2", f"## {heading.source}"))
                headings.append(heading.final)
            elif roll < 0.18:
                article.blocks.append(self.pullquote())
            elif roll < 0.25:
                article.blocks.append(self.figure(issue, stem))
            elif roll < 0.29:
                article.blocks.append(self.table())
            elif roll < 0.32:
                article.blocks.append(self.bullets())
            elif roll < 0.35:
                article.blocks.append(self.blockquote())
        if headings and rng.random() < 0.5:
            # A link to a subhead of this article.
            target = slugify(rng.choice(headings))
            article.blocks.append(self.paragraph(1, article, link=f"#{target}"))
        return article

    # -- prose ---------------------------------------------------------------------

    def phrase(self) -> str:
        """Plain words (alt text, attributions): no markup, no typography to do."""
        rng = self.rng
        return (f"{rng.choice(('a', 'the', 'two'))} {rng.choice(self.vocab.adjectives)} "
                f"{rng.choice(self.vocab.nouns)} in {rng.choice(self.vocab.places)}")

    def headline(self, short: bool = False) -> Piece:
        rng = self.rng
        v = self.vocab
        place, noun, adjective = (rng.choice(v.places), rng.choice(v.nouns).title(),
                                  rng.choice(v.adjectives))
        forms = [
            lambda: _same(f"{place}’s {adjective.title()} {noun}"),
            lambda: Piece(f"{place}'s {noun}", f"{place}’s {noun}"),
            lambda: self._quoted(f"{adjective} {noun.lower()}",
                                 before=f"{rng.choice(v.names)} on a ".replace("'", "’")),
            lambda: _same(f"{rng.choice(v.hangul_nouns)} and the {noun}"),
            lambda: Piece(f"{place} -- {adjective.title()} Again",
                          f"{place} – {adjective.title()} Again"),
            lambda: _same(f"{rng.choice(v.numbers)} {noun}s, One {place}"),
        ]
        piece = rng.choice(forms)()
        if not short and rng.random() < 0.3:
            tail = rng.choice(v.adjectives)
            piece = Piece(f"{piece.source}: A {tail.title()} Story",
                          f"{piece.final}: A {tail.title()} Story")
        return piece

    def _quoted(self, words: str, before: str = "", after: str = "") -> Piece:
        """``"words"`` that the typographer curls, or already curly in the source."""
        if self.rng.random() < 0.5:
            return Piece(f'{before}"{words}"{after}', f"{before}“{words}”{after}")
        return _same(f"{before}“{words}”{after}")

    def _word(self) -> Piece:
        """One word or short run with something for the typographer or the fonts to do."""
        rng = self.rng
        v = self.vocab
        roll = rng.random()
        if roll < 0.35:
            return _same(rng.choice(v.nouns))
        if roll < 0.5:
            return _same(rng.choice(v.adjectives))
        if roll < 0.56:
            return _same(rng.choice(v.numbers))
        if roll < 0.58:
            return rng.choice((Piece("+-2", "±2"), Piece("(c) 2023", "© 2023"),
                               Piece("Brand(tm)", "Brand™"), Piece("wait...", "wait…"),
                               # elisions at the start of a word: the apostrophe is ’
                               Piece("the '90s", "the ’90s"), Piece("rock 'n' roll",
                                                                     "rock ’n’ roll"),
                               Piece("'tis", "’tis"), Piece("since '23", "since ’23")))
        if roll < 0.66:
            word = rng.choice(v.contractions)
            return Piece(word, word.replace("'", "’")) if rng.random() < 0.7 else _same(
                word.replace("'", "’"))
        if roll < 0.72:
            return _same(rng.choice(v.hangul_nouns))
        if roll < 0.78:
            place = rng.choice(v.places)
            return Piece(f"{place}'s", f"{place}’s")
        if roll < 0.84:
            return _same(rng.choice(v.places))
        if roll < 0.9:
            return _same(rng.choice(v.adverbs))
        return _same(rng.choice(v.verbs))

    def sentence(self) -> Piece:
        """One sentence, capitalised, with its final punctuation."""
        rng = self.rng
        v = self.vocab
        if rng.random() < 0.08:
            return self._hangul_sentence()
        subject = rng.choice((
            lambda: _same(f"The {rng.choice(v.adjectives)} {rng.choice(v.nouns)} of "
                          f"{rng.choice(v.places)}"),
            lambda: _same(rng.choice(v.names).replace("'", "’")),
            lambda: _same(f"Many {rng.choice(v.nouns)} owners"),
            lambda: _same(f"Our {rng.choice(v.nouns)}"),
            lambda: _same(f"Nearly {rng.choice(v.numbers)} visitors"),
        ))()
        parts: list[Piece] = [subject, _same(rng.choice(v.verbs))]
        for _ in range(rng.randint(2, 9)):
            parts.append(self._word())
        extra = rng.random()
        if extra < 0.12:
            parts.append(Piece("--", "–"))
            parts += [self._word() for _ in range(rng.randint(2, 4))]
        elif extra < 0.2:
            a, b = rng.choice(v.nouns), rng.choice(v.nouns)
            parts.append(Piece(f"{a}---{b}".replace(" ", "-"), f"{a}—{b}".replace(" ", "-")))
        elif extra < 0.28:
            parts.append(self._quoted(" ".join(self._word().final for _ in range(rng.randint(
                1, 4))).replace("'", "’")))
        elif extra < 0.34:
            parts.append(_same(f"({rng.choice(v.numbers)} {rng.choice(v.nouns)})"))
        elif extra < 0.4:
            year = rng.randint(1950, 2020)
            end = year + rng.randint(1, 9)
            parts.append(Piece(f"from {year}--{end}", f"from {year}–{end}"))
        elif extra < 0.45:
            parts.append(_same(f"; {rng.choice(v.adverbs)}, {rng.choice(v.nouns)}"))
        elif extra < 0.5:
            parts.append(_same(f"in {rng.choice(v.hangul_nouns)} "
                               f"({rng.choice(v.places)})"))
        elif extra < 0.55:
            parts.append(_same(f"and R&D, Q&A, {rng.choice(v.nouns)}"))
        ending = rng.random()
        if ending < 0.08:
            if not parts[-1].source.endswith("..."):
                parts[-1] = Piece(parts[-1].source + "...", parts[-1].final + "…")
            end, end_final = "", ""
        elif ending < 0.15:
            end = end_final = "?"
        elif ending < 0.19:
            end = end_final = "!"
        elif ending < 0.27:
            said = rng.choice(v.names).replace("'", "’")
            words = " ".join(self._word().final for _ in range(rng.randint(2, 6)))
            words = words.replace("'", "’")
            words = words[0].upper() + words[1:]
            parts.append(Piece(f', {said} said: "{words}."', f", {said} said: “{words}.”"))
            end = end_final = ""
        elif parts[-1].source.endswith("..."):  # "wait...." is one ellipsis to the typographer
            end = end_final = ""
        else:
            end = end_final = "."
        source = " ".join(p.source for p in parts)
        final = " ".join(p.final for p in parts)
        # Joined pieces that start with punctuation lose the space before them.
        for mark in (";", ",", ":"):
            source = source.replace(f" {mark}", mark)
            final = final.replace(f" {mark}", mark)
        return Piece(source[0].upper() + source[1:] + end, final[0].upper() + final[1:] + end_final)

    def _hangul_sentence(self) -> Piece:
        rng = self.rng
        v = self.vocab
        a, b = rng.choice(v.hangul_nouns), rng.choice(v.hangul_nouns)
        if rng.random() < 0.5:
            text = f"{a}{_hangul_particle(a, '은', '는')} {rng.choice(v.hangul_adj)}."
        else:
            text = (f"{a}에서 {b}{_hangul_particle(b, '을', '를')} "
                    f"{rng.choice(v.hangul_verbs)}.")
        return _same(text)

    def paragraph(self, sentences: int, article: GenArticle | None = None,
                  link: str | None = None) -> Block:
        """A paragraph of ``sentences``; maybe emphasis, a link, footnotes (after a
        sentence's final punctuation, where the number does not split the sentence)."""
        rng = self.rng
        sources: list[str] = []
        finals: list[str] = []
        for n in range(sentences):
            piece = self.sentence()
            source = piece.source
            if link is not None and n == 0:
                source, piece = self._with_link(piece, link)
            elif rng.random() < 0.1:
                source = self._emphasise(piece)
            elif rng.random() < 0.06:
                source, piece = self._with_link(
                    piece, f"{rng.choice(self.vocab.link_hosts)}/{rng.randint(1, 99)}")
            if article is not None and self._notes_left > 0 and rng.random() < 0.08:
                self._notes_left -= 1
                note = self.sentence()
                article.footnotes.append(note)
                number = len(article.footnotes)
                label = rng.choice((str(number), f"note-{number}"))
                source += f"[^{label}]"  # the definitions follow the body
                article.footnote_labels.append(label)
            sources.append(source)
            finals.append(piece.final)
        return Block("p", _wrap(" ".join(sources), rng), finals)

    def _emphasise(self, piece: Piece) -> str:
        """The sentence's source with one plain word in ``*...*`` or ``**...**``."""
        words = piece.source.split(" ")
        candidates = [i for i, w in enumerate(words) if w.isalpha() and i > 0]
        if not candidates:
            return piece.source
        i = self.rng.choice(candidates)
        mark = self.rng.choice(("*", "**", "_"))
        words[i] = f"{mark}{words[i]}{mark}"
        return " ".join(words)

    def _with_link(self, piece: Piece, url: str) -> tuple[str, Piece]:
        """The sentence with its first two plain words as a link to ``url``."""
        words = piece.source.split(" ")
        if len(words) < 4 or not all(w.isalpha() for w in words[1:3]):
            return piece.source + f" [(more)]({url})", Piece(piece.source, piece.final + " (more)")
        words[1] = f"[{words[1]}"
        words[2] = f"{words[2]}]({url})"
        return " ".join(words), piece

    def pullquote(self) -> Block:
        text = self.sentence()
        who = self.rng.choice(self.vocab.names).replace("'", "’")
        quoted = Piece(f'"{text.source}"', f"“{text.final}”") if '"' not in text.source \
            and "“" not in text.source else text
        return Block("pull", f"::: pullquote {who}\n{quoted.source}\n:::", [quoted.final],
                     capitals=[who])

    def blockquote(self) -> Block:
        sentences = [self.sentence() for _ in range(self.rng.randint(1, 2))]
        source = "\n".join(f"> {s.source}" for s in sentences)
        return Block("quote", source, [s.final for s in sentences])

    def bullets(self) -> Block:
        items = [self.sentence() for _ in range(self.rng.randint(2, 4))]
        mark = self.rng.choice(("-", "*", "1."))
        lines = [f"{mark} {item.source}" for item in items]
        return Block("list", "\n".join(lines), [i.final for i in items])

    def table(self) -> Block:
        rng = self.rng
        v = self.vocab
        cols = rng.randint(2, 4)
        head = [rng.choice(v.nouns).title() for _ in range(cols)]
        rows = [[rng.choice(v.places)] + [rng.choice(v.numbers) for _ in range(cols - 1)]
                for _ in range(rng.randint(1, 6))]
        align = ["|:---"] + [rng.choice(("|---:", "|:---:", "|---")) for _ in range(cols - 1)]
        lines = ["| " + " | ".join(head) + " |", "".join(align) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return Block("table", "\n".join(lines), [*head, *(c for r in rows for c in r)])

    def figure(self, issue: GenIssue, stem: str) -> Block:
        rng = self.rng
        image = self.image(issue, f"fig-{stem}")
        phrase = self.phrase()
        image.alt = phrase[0].upper() + phrase[1:]
        texts = []
        title = ""
        if rng.random() < 0.7:
            caption = self.sentence()
            while '"' in caption.source:  # the title is a "..." string: no straight quotes
                caption = self.sentence()
            image.caption, image.caption_source = caption.final, caption.source
            title = f' "{caption.source}"'
            texts.append(caption.final)
        credit = ""
        if rng.random() < 0.6:
            image.credit = rng.choice(self.vocab.credits)
            credit = f'{{credit="{image.credit}"}}'
            texts.append(image.credit)
        return Block("fig", f"![{image.alt}]({image.file}{title}){credit}", texts)

    # -- images --------------------------------------------------------------------

    def image(self, issue: GenIssue, stem: str, photo: bool = False) -> GenImage:
        """A picture of random size, aspect, mode and format, kept until :func:`write`."""
        rng = self.rng
        self._image_count += 1
        fmt = rng.choice(("JPEG", "JPEG") if photo and rng.random() < 0.5 else IMAGE_FORMATS)
        mode = rng.choice(FORMAT_MODES[fmt])
        aspect = rng.choice((0.3, 0.5, 0.75, 1.0, 1.33, 1.5, 2.0, 3.5))
        width = rng.choice((8, 40, 120, 300, 300, 640, 640, 1000, 1400))
        height = max(1, round(width / aspect))
        if width * height > 1_000_000:  # big enough to be scaled down everywhere, and quick
            width, height = round(width * 0.6), round(height * 0.6)
        picture = _picture(rng, (width, height), mode)
        name = f"images/{slugify(stem)}-{self._image_count}{EXTENSIONS[fmt]}"
        save: dict = {"format": fmt}
        if fmt == "JPEG":
            save["quality"] = rng.choice((40, 75, 92))
            if rng.random() < 0.25 and mode != "CMYK":
                exif = Image.Exif()
                exif[0x0112] = rng.choice((3, 6, 8))  # rotated by the camera
                save["exif"] = exif.tobytes()
            if rng.random() < 0.2 and mode == "RGB":
                save["icc_profile"] = ImageCms.ImageCmsProfile(
                    ImageCms.createProfile("sRGB")).tobytes()
        elif fmt == "PNG" and mode == "P" and rng.random() < 0.5:
            save["transparency"] = 0
        elif fmt == "GIF" and rng.random() < 0.3:
            # An animated GIF: the pipeline shows its first frame.
            save["save_all"] = True
            save["append_images"] = [_picture(rng, (width, height), mode)]
            save["duration"] = 200
        elif fmt == "WEBP":
            save["lossless"] = rng.random() < 0.3
        issue.images[name] = picture
        issue.image_saves[name] = save
        return GenImage(name, "", format=fmt, mode=mode, size=(width, height))


def _picture(rng: random.Random, size: tuple[int, int], mode: str) -> Image.Image:
    """Gradients and shapes: something a codec has to work at, quickly made."""
    base = Image.linear_gradient("L").resize(size)
    r, g, b = (base.point(lambda x, k=k: (x * k) % 256) for k in rng.sample((1, 2, 3, 5), 3))
    image = Image.merge("RGB", (r, g, b))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(1, 6)):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        x1, y1 = x0 + rng.randrange(1, size[0] + 1), y0 + rng.randrange(1, size[1] + 1)
        draw.rectangle((x0, y0, x1, y1), fill=tuple(rng.randrange(256) for _ in range(3)))
    if mode == "RGBA":
        alpha = Image.linear_gradient("L").rotate(rng.choice((0, 90))).resize(size)
        image.putalpha(alpha)
        return image
    if mode == "LA":
        return image.convert("L").convert("LA")
    if mode == "I;16":  # a 16-bit grey PNG, its values over the whole 16-bit range
        return image.convert("L").convert("I").point(lambda v: v * 257).convert("I;16")
    if mode == "P":
        return image.convert("P", palette=Image.Palette.ADAPTIVE, colors=rng.choice((4, 64, 256)))
    return image.convert(mode)


def _wrap(text: str, rng: random.Random) -> str:
    """Hard-wrap a paragraph as editors do, but only before a word that starts with a
    letter: a line that started with ``-``, ``1.``, ``#`` or ``>`` would be a new block."""
    width = rng.choice((60, 72, 80, 10_000))
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width and word[:1].isalpha():
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\n".join(lines)


# -- writing a month --------------------------------------------------------------


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def write_issue(issue: GenIssue, folder: Path, generator: IssueGenerator) -> None:
    """Fill ``folder`` (made by ``publisher new``; for an archive-only month, any
    folder) with the issue: issue.toml, articles/*.md and images/."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, picture in issue.images.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        save = dict(issue.image_saves[name])
        out = io.BytesIO()
        picture.save(out, **save)
        path.write_bytes(out.getvalue())
    if issue.archive_only:
        lines = ["# An archive-only issue (generated): listed in later archives.",
                 f'month = "{issue.month}"',
                 f"cover_story = {_toml_string(issue.cover_story.source)}"]
        if issue.cover_image is not None:
            lines.append(f"cover_image = {_toml_string(issue.cover_image.file)}")
        (folder / "issue.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return
    lines = [f"# {issue.month.label}, generated by tests/issue_generator.py "
             f"(seed {generator.seed}).",
             f'month = "{issue.month}"',
             f"date = {issue.month.first_day.replace(day=issue.day).isoformat()}",
             f"cover_story = {_toml_string(issue.cover_story.source)}",
             "cover_lines = [" + ", ".join(_toml_string(c.source) for c in issue.cover_lines)
             + "]",
             "sections = [" + ", ".join(_toml_string(s) for s in issue.sections) + "]"]
    if issue.issue_number:
        lines.append(f"issue_number = {_toml_string(issue.issue_number)}")
    if issue.editors_note:
        note = "\n\n".join(block.source for block in issue.editors_note)
        lines.append(f'editors_note = """\n{note}\n"""')
    if issue.cover_image is not None:
        lines += ["", "[cover_image]", f"file = {_toml_string(issue.cover_image.file)}",
                  f"alt = {_toml_string(issue.cover_image.alt)}"]
        if issue.cover_image.credit:
            lines.append(f"credit = {_toml_string(issue.cover_image.credit)}")
    for headline, link in issue.ticker:
        lines += ["", "[[ticker]]", f"headline = {_toml_string(headline.source)}"]
        if link:
            lines.append(f"link = {_toml_string(link)}")
    (folder / "issue.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    articles = folder / "articles"
    for old in articles.glob("*.md"):  # the template's example article
        old.unlink()
    for article in issue.articles:
        (articles / article.file_name).write_text(
            _article_source(article), encoding="utf-8")


def _article_source(article: GenArticle) -> str:
    meta: dict = {"title": article.title.source, "section": article.section,
                  "byline": article.byline}
    if article.dek is not None:
        meta["dek"] = article.dek.source
    if article.photo_credit:
        meta["photo_credit"] = article.photo_credit
    if article.explicit_slug:
        meta["slug"] = article.slug
    if article.lead_image is not None:
        image = article.lead_image
        lead = {"file": image.file, "alt": image.alt}
        if image.caption_source:
            lead["caption"] = image.caption_source
        if image.credit:
            lead["credit"] = image.credit
        meta["lead_image"] = lead
    if article.toml_front_matter:
        header = "+++\n" + _toml_table(meta) + "+++\n"
    else:
        header = "---\n" + yaml.safe_dump(meta, allow_unicode=True, sort_keys=False,
                                          width=1000) + "---\n"
    body = "\n\n".join(block.source for block in article.blocks)
    notes = "\n".join(f"[^{label}]: {note.source}"
                      for label, note in zip(article.footnote_labels, article.footnotes,
                                             strict=True))
    return header + "\n" + body + "\n" + (f"\n{notes}\n" if notes else "")


def _toml_table(meta: dict) -> str:
    plain = [f"{k} = {_toml_string(v)}" for k, v in meta.items() if not isinstance(v, dict)]
    tables = [f"\n[{k}]\n" + "".join(f"{ik} = {_toml_string(iv)}\n" for ik, iv in v.items())
              for k, v in meta.items() if isinstance(v, dict)]
    return "\n".join(plain) + "\n" + "".join(tables)


def months_after(start: Month, count: int) -> Iterator[Month]:
    year, month = start.year, start.month
    for _ in range(count):
        month += 1
        if month > 12:
            year, month = year + 1, 1
        yield Month(year, month)

