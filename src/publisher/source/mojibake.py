# This module is about curly quotes and CJK symbols: they are intended.
"""Find and repair CP949 punctuation that was mis-decoded as Latin-1.

Korean (CP949 / EUC-KR) sources encode typographic punctuation as two bytes
from the KS X 1001 symbol rows.  When such bytes are read as Latin-1 every
byte becomes one character in U+00A1..U+00FE, e.g. ``’`` (``A1 AF``) turns
into ``¡¯`` and ``ⓒ`` (``A8 CF``) into ``¨Ï``.  ftfy never tries CP949, so
this module repairs that specific kind of mojibake.

Which pairs are repaired
------------------------
A pair of characters is a *candidate* when, encoded as Latin-1, it is a valid
CP949 sequence whose lead byte is one of the KS X 1001 symbol rows that real
mojibake comes from::

    0xA1  general punctuation and symbols (quotes, ·, …, ※, °, ℃, →, ...)
    0xA2  more symbols (♠, ☎, ‰, ™, €, ...)
    0xA6  box drawing
    0xA7  units (㎞, ㎏, ...)
    0xA8  circled Hangul/letters/numbers, fractions (ⓒ, ①, ½, ...)
    0xA9  parenthesised Hangul/letters/numbers, super/subscripts

and whose decoded character has a Unicode category ``P*``, ``S*`` or ``No``.
Row 0xA3 (fullwidth ASCII: ``££`` would become ``＃``), kana, Greek,
Cyrillic, Hangul and Hanja rows are never used, and letters inside the
accepted rows (``Æ``, ``ł``, ``Å``, ...) are rejected by the category test.
Three symbols that decode to the Latin-1 characters ``¡``, ``§`` and ``¨``
(``¢®``, ``¡×``, ``¡§``) are not repaired either: their output would itself
look like the start of mojibake.

Three pairs are also ordinary Latin-1 text and are left alone in context:

* ``§§`` (a range of sections), always;
* ``¡¿`` followed by a letter (Spanish ``¡¿Qué?!``), otherwise it is ``×``;
* ``¡`` or ``©`` followed by an accented letter (U+00C0..U+00FE) and then a
  lowercase letter (``¡Él``, ``¡Ánimo``, ``©Éditions``).  The price is that
  e.g. ``→`` (``¡æ``) directly followed by a lowercase letter is not repaired;
  an all-caps word such as ``¡ÉL`` is repaired (to ``℃L``), because ``°C``
  (``¡ÆC``) must be.

Runs of odd length and alignment
--------------------------------
Candidates are searched inside maximal runs of U+00A1..U+00FE characters.  A
run does not have to start on a pair boundary: legitimate Latin-1 letters
may touch the mojibake (``café¡¯`` is the run ``é¡¯``) and consecutive
symbols can overlap in confusing ways (``…”`` is ``¡¦¡±`` while ``¦¡`` alone
would be ``─``).  Instead of fixing one even/odd alignment, every way of
choosing non-overlapping candidate pairs in the run is considered (a small
dynamic programme, linear in the run length) and the best is picked by, in
order:

1. the most repaired pairs;
2. the most Latin-1 *letters* left as they are -- leftovers should be
   legitimate text such as ``é``, not a stray lead byte such as ``¦``;
3. the most pairs from row 0xA1 (by far the most common source: quotes,
   ``·``, ``…``), so ``§¡°`` becomes ``§“`` rather than ``㎕°``;
4. the leftmost pairs.

Mojibake made from complete symbols next to Latin-1 letters is therefore
always restored exactly.

Finally, if the repaired run would itself contain a candidate (possible
only in contrived input such as ``¡¡Æ`` -> ``¡°``), the run is left
unchanged.  Together with the above this makes :func:`repair` idempotent.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass

__all__ = ["Mojibake", "find_mojibake", "repair"]

#: CP949 lead bytes of the KS X 1001 symbol rows that mojibake comes from.
SYMBOL_LEAD_BYTES = (0xA1, 0xA2, 0xA6, 0xA7, 0xA8, 0xA9)

#: Latin-1 characters that can start a candidate pair.
_LEAD_CHARS = frozenset(chr(byte) for byte in SYMBOL_LEAD_BYTES)

#: Maximal runs of characters that are bytes 0xA1..0xFE in Latin-1.
_RUN = re.compile("[\u00a1-\u00fe]{2,}")

_NEWLINE = re.compile(r"\r\n|\r|\n")


def _build_symbol_table() -> dict[str, str]:
    """Map each accepted two-character mojibake to the symbol it stands for."""
    table: dict[str, str] = {}
    for lead in SYMBOL_LEAD_BYTES:
        for trail in range(0xA1, 0xFF):
            raw = bytes((lead, trail))
            try:
                symbol = raw.decode("cp949")
            except UnicodeDecodeError:
                continue
            category = unicodedata.category(symbol)
            if len(symbol) != 1 or symbol in _LEAD_CHARS:
                continue
            if category[0] in "PS" or category == "No":
                table[raw.decode("latin-1")] = symbol
    return table


_SYMBOLS = _build_symbol_table()


@dataclass(frozen=True)
class Mojibake:
    """One repairable occurrence of CP949-as-Latin-1 mojibake.

    ``line`` and ``column`` are 1-based and count characters (code points);
    ``\\n``, ``\\r\\n`` and a lone ``\\r`` each end a line.  ``found`` is the
    mojibake as it appears in the text (one or more adjacent pairs) and
    ``repaired`` is its replacement.
    """

    line: int
    column: int
    found: str
    repaired: str


def _looks_legitimate(pair: str, following: str) -> bool:
    """Return True if ``pair`` is more likely genuine Latin-1 than mojibake.

    ``following`` is the character after the pair ("" at the end of text).
    """
    if pair == "§§":
        return True
    if pair == "¡¿":
        return following.isalpha()
    lead, trail = pair
    return (
        lead in "¡©" and "\u00c0" <= trail <= "\u00fe" and trail.isalpha() and following.islower()
    )


def _is_candidate(run: str, index: int, after: str) -> bool:
    """Return True if ``run[index:index + 2]`` should be read as CP949.

    ``after`` is the character that follows ``run`` in the text.
    """
    pair = run[index : index + 2]
    if pair not in _SYMBOLS:
        return False
    following = run[index + 2] if index + 2 < len(run) else after
    return not _looks_legitimate(pair, following)


def _apply(run: str, starts: list[int]) -> str:
    """Return ``run`` with the pairs beginning at ``starts`` decoded."""
    parts: list[str] = []
    position = 0
    for start in starts:
        parts.append(run[position:start])
        parts.append(_SYMBOLS[run[start : start + 2]])
        position = start + 2
    parts.append(run[position:])
    return "".join(parts)


def _choose_pairs(run: str, after: str) -> list[int]:
    """Return the start indices of the pairs in ``run`` to repair.

    See the module docstring for how the pairs are chosen.
    """
    size = len(run)
    candidate = [_is_candidate(run, i, after) for i in range(size - 1)]
    if not any(candidate):
        return []

    # score[i] is the best (pairs, letters left, row-0xA1 pairs) for run[i:];
    # take[i] records whether that optimum repairs the pair starting at i.
    score: list[tuple[int, int, int]] = [(0, 0, 0)] * (size + 1)
    take = [False] * size
    for i in range(size - 1, -1, -1):
        pairs, letters, row_a1 = score[i + 1]
        best = (pairs, letters + int(run[i].isalpha()), row_a1)
        if i < size - 1 and candidate[i]:
            pairs, letters, row_a1 = score[i + 2]
            paired = (pairs + 1, letters, row_a1 + int(run[i] == "\u00a1"))
            if paired >= best:  # ties go to the leftmost pair
                best = paired
                take[i] = True
        score[i] = best

    starts: list[int] = []
    i = 0
    while i < size:
        if take[i]:
            starts.append(i)
            i += 2
        else:
            i += 1

    repaired = _apply(run, starts)
    if any(_is_candidate(repaired, i, after) for i in range(len(repaired) - 1)):
        return []  # repairing would create new mojibake; leave the run alone
    return starts


def _spans(text: str) -> list[tuple[int, int, str]]:
    """Return ``(start, end, replacement)`` for each occurrence, in order.

    Adjacent repaired pairs are merged into a single occurrence.
    """
    spans: list[tuple[int, int, str]] = []
    for match in _RUN.finditer(text):
        run = match.group()
        after = text[match.end() : match.end() + 1]
        for start in _choose_pairs(run, after):
            begin = match.start() + start
            symbol = _SYMBOLS[run[start : start + 2]]
            if spans and spans[-1][1] == begin:
                previous_begin, _, previous_symbols = spans[-1]
                spans[-1] = (previous_begin, begin + 2, previous_symbols + symbol)
            else:
                spans.append((begin, begin + 2, symbol))
    return spans


def find_mojibake(text: str) -> list[Mojibake]:
    """Return every repairable occurrence of CP949 mojibake in ``text``.

    Occurrences are returned in text order; adjacent mojibake pairs (such as
    ``¡¦¡±`` for ``…”``) form a single occurrence.
    """
    spans = _spans(text)
    if not spans:
        return []
    line_starts = [0] + [m.end() for m in _NEWLINE.finditer(text)]
    found: list[Mojibake] = []
    for begin, end, replacement in spans:
        line = bisect_right(line_starts, begin)
        column = begin - line_starts[line - 1] + 1
        found.append(Mojibake(line, column, text[begin:end], replacement))
    return found


def repair(text: str) -> str:
    """Return ``text`` with every occurrence of CP949 mojibake repaired.

    Everything else, including line endings, is returned unchanged, and
    ``repair(repair(text)) == repair(text)``.
    """
    parts: list[str] = []
    position = 0
    for begin, end, replacement in _spans(text):
        parts.append(text[position:begin])
        parts.append(replacement)
        position = end
    parts.append(text[position:])
    return "".join(parts)
