# The test data is curly quotes and CJK symbols: they are intended.
"""Tests for publisher.source.mojibake (CP949 punctuation mis-decoded as Latin-1)."""

from __future__ import annotations

import string
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.source.mojibake import Mojibake, find_mojibake, repair

# ---------------------------------------------------------------------------
# Helpers (the specification restated, independently of the implementation)
# ---------------------------------------------------------------------------

#: KS X 1001 symbol rows that mojibake is repaired from.
ROWS = (0xA1, 0xA2, 0xA6, 0xA7, 0xA8, 0xA9)

#: Latin-1 characters that are those lead bytes.
LEADS = "".join(map(chr, ROWS))  # "¡¢¦§¨©"

LATIN1_LETTERS = "".join(c for c in map(chr, range(0xAA, 0x100)) if c.isalpha())
ACCENTED = [c for c in map(chr, range(0xC0, 0xFF)) if c.isalpha()]
LOWERCASE = list(string.ascii_lowercase) + [
    c for c in map(chr, range(0xDF, 0x100)) if c.isalpha() and c.islower()
]


def to_mojibake(text: str) -> str:
    """Encode ``text`` as CP949 and decode it as Latin-1."""
    return text.encode("cp949").decode("latin-1")


def accepted_symbols() -> list[str]:
    """Every symbol in the accepted rows with category P*, S* or No.

    Left out: ``¡``, ``§`` and ``¨`` (documented as never produced) and
    ``㎣``, whose mojibake ``§§`` is documented as legitimate Latin-1.
    """
    symbols = []
    for lead in ROWS:
        for trail in range(0xA1, 0xFF):
            raw = bytes((lead, trail))
            try:
                symbol = raw.decode("cp949")
            except UnicodeDecodeError:
                continue
            category = unicodedata.category(symbol)
            if category[0] in "PS" or category == "No":
                assert symbol.encode("cp949") == raw
                symbols.append(symbol)
    return [s for s in symbols if s not in "¡§¨㎣"]


ALL_SYMBOLS = accepted_symbols()
COMMON_SYMBOLS = list("‘’“”ⓒ·…※①②⑩㎞㎏─│┌°℃×→《》「」【】○●■▶☎™€½")


def needs_separation(symbol: str) -> bool:
    """True if the mojibake of ``symbol`` followed by a letter is ambiguous.

    These are the documented Latin-1 exceptions: ``¡¿`` + letter (Spanish)
    and ``¡``/``©`` + accented letter + lowercase letter (``¡Él``).
    """
    bad = to_mojibake(symbol)
    return bad == "¡¿" or (bad[0] in "¡©" and bad[1] in ACCENTED)


def apply_findings(text: str, findings: list[Mojibake]) -> str:
    """Splice the findings into ``text`` using only their line and column."""
    lines = text.splitlines(keepends=True)
    # str.splitlines also splits on e.g. \x85 and \u2028; the module only
    # uses \n, \r\n and \r, so only use texts without the others here.
    for finding in reversed(findings):
        line = lines[finding.line - 1]
        start = finding.column - 1
        assert line[start : start + len(finding.found)] == finding.found
        lines[finding.line - 1] = (
            line[:start] + finding.repaired + line[start + len(finding.found) :]
        )
    return "".join(lines)


# ---------------------------------------------------------------------------
# Examples
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        ("Korea¡¯s", "Korea’s"),
        ("¡°united response¡±", "“united response”"),
        ("¨Ï", "ⓒ"),
        ("¨Ï Yonhap", "ⓒ Yonhap"),
        ("North Korea¡¤US talks", "North Korea·US talks"),
        ("30¡ÆC", "30°C"),
        ("25¡É", "25℃"),
        ("3¡¿4", "3×4"),
        ("¡Ø Note", "※ Note"),
        ("¨ç first", "① first"),
        ("10§°", "10㎞"),
        ("wait¡¦¡±", "wait…”"),
        ("¡®quoted¡¯", "‘quoted’"),
    ],
)
def test_repairs_examples(broken: str, fixed: str) -> None:
    assert repair(broken) == fixed


def test_repairs_whole_sentence() -> None:
    broken = (
        "¡°We call for a united response,¡± Korea¡¯s foreign minister said "
        "on Monday, citing the ¡®3¡¤1¡¯ accord¡¦ ¨Ï Yonhap"
    )
    expected = (
        "“We call for a united response,” Korea’s foreign minister said "
        "on Monday, citing the ‘3·1’ accord… ⓒ Yonhap"
    )
    assert repair(broken) == expected
    assert [f.repaired for f in find_mojibake(broken)] == list("“”’‘·’…ⓒ")


@pytest.mark.parametrize(
    "legit",
    [
        "café",
        "«»",
        "½°",
        "££",
        "¿Qué?",
        "Ñandú",
        "naïve",
        "1½°C",
        "£££",
        "¡Hola!",
        "¡Él no!",
        "¡Ánimo, Ñandú!",
        "¡¿Qué?!",
        "«¡Órale!»",
        "©Éditions Gallimard",
        "© 2024",
        "§§ 3–5",
        "§ 12",
        "50¢",
        "x ¦ y",
        "Ελληνικά и русский, 한국어",
        "Straße, Ærø, Øresund, Þór",
        # Valid CP949, but not from the accepted symbol rows:
        "°¡",  # Hangul 가
        "ª¡",  # hiragana
        "¥á",  # Greek
        "¬¡",  # Cyrillic
        "Ê¡",  # Hanja
        "¡Ê",  # Å (a letter, category Lu) in row 0xA1
        "¨¡",  # Æ (a letter) in row 0xA8
        "¢®",  # ¡ -- documented as never produced
    ],
)
def test_leaves_legitimate_text_alone(legit: str) -> None:
    assert repair(legit) == legit
    assert find_mojibake(legit) == []


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        # Odd runs: the legitimate letter may be on either side.
        ("café¡¯", "café’"),
        ("¡°élan¡±", "“élan”"),
        ("Zoë¡¯s", "Zoë’s"),
        # Overlapping candidates: ¦¡ alone would be ─.
        ("¡¦¡¦", "……"),
        ("¦¡é", "─é"),  # keep the letter é, not a stray ¦
        # Tie between ㎕° and §“: row 0xA1 (quotes) wins.
        ("§¡°x", "§“x"),
        # Full tie between └¦ and ¦└: the leftmost pair wins.
        ("¦¦¦", "└¦"),
        # Legitimate Spanish inside repaired quotes.
        ("¡°¡Él no!¡±", "“¡Él no!”"),
        ("¡°¡¿Qué?!¡±", "“¡¿Qué?!”"),
    ],
)
def test_alignment_choices(broken: str, fixed: str) -> None:
    assert repair(broken) == fixed


def test_leaves_run_alone_when_repair_would_create_mojibake() -> None:
    # ¡Æ is °, but "¡°" would then read as “ on a second pass.
    assert repair("¡¡Æ") == "¡¡Æ"
    assert find_mojibake("¡¡Æ") == []


def test_find_mojibake_positions_multiline() -> None:
    text = "Line one ¨Ï\r\nKorea¡¯s ¡°plan¡±\rthird\n  ¡¦¡±end\n"
    assert find_mojibake(text) == [
        Mojibake(line=1, column=10, found="¨Ï", repaired="ⓒ"),
        Mojibake(line=2, column=6, found="¡¯", repaired="’"),
        Mojibake(line=2, column=10, found="¡°", repaired="“"),
        Mojibake(line=2, column=16, found="¡±", repaired="”"),
        Mojibake(line=4, column=3, found="¡¦¡±", repaired="…”"),
    ]
    assert repair(text) == "Line one ⓒ\r\nKorea’s “plan”\rthird\n  …”end\n"


def test_find_mojibake_on_clean_text() -> None:
    assert find_mojibake("") == []
    assert repair("") == ""
    assert find_mojibake("plain ASCII\n") == []


def test_mojibake_is_frozen() -> None:
    finding = Mojibake(1, 1, "¡¯", "’")
    with pytest.raises(AttributeError):
        finding.line = 2  # type: ignore[misc]


# ---------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------

SEPARATORS = st.sampled_from([" ", "\n", "\r\n", "\r", "\t", ", ", ". ", " - "])

# (1) Text that never contains a lead character ¡¢¦§¨©.  A candidate pair
# must start with one, so this is mojibake-free by construction.  Biased
# towards Latin-1 and Hangul so that long U+00A1..U+00FE runs are common.
LEAD_FREE_TEXT = st.text(
    st.one_of(
        st.characters(exclude_characters=LEADS),
        st.sampled_from([c for c in map(chr, range(0xA0, 0x100)) if c not in LEADS]),
        st.sampled_from(string.ascii_letters + string.digits + " .,;:!?'\"()\n\r"),
        st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
    ),
    max_size=40,
)

ASCII_WORD = st.text(st.sampled_from(string.ascii_letters), min_size=1, max_size=8)
LATIN1_WORD = st.text(
    st.sampled_from(string.ascii_letters + LATIN1_LETTERS), min_size=1, max_size=10
)
# An accented letter followed by at least one lowercase letter: "Él", "Ánimo".
ACCENTED_WORD = st.builds(
    str.__add__,
    st.sampled_from(ACCENTED),
    st.text(st.sampled_from(LOWERCASE), min_size=1, max_size=8),
)
NUMBER = st.integers(min_value=0, max_value=9999).map(str)

# (2) Legitimate uses of the lead characters.  Every lead character is
# followed by a character outside U+00A1..U+00FE, except in the documented
# Latin-1 exceptions: "§§", "¡¿" + letter, "¡"/"©" + accented letter +
# lowercase letter.  Excluded (ambiguous with mojibake, see the module
# docstring): a lead character followed by any other U+00A1..U+00FE
# character, e.g. "¡«", "§°", "©½", or all-caps "¡ÉL".
LEGIT_TOKEN = st.one_of(
    LATIN1_WORD,
    st.sampled_from(["café", "«»", "½°", "££", "¿Qué?", "Ñandú", "naïve", "1½°C", "Ærø"]),
    st.one_of(ASCII_WORD, ACCENTED_WORD).map(lambda w: f"¡{w}!"),
    st.one_of(ASCII_WORD, ACCENTED_WORD).map(lambda w: f"«¡{w}!»"),
    st.one_of(ASCII_WORD, ACCENTED_WORD).map(lambda w: f"¡¿{w}?!"),
    st.one_of(ASCII_WORD, ACCENTED_WORD).map(lambda w: f"©{w}"),
    NUMBER.map(lambda n: f"© {n}"),
    NUMBER.map(lambda n: f"§{n}"),
    NUMBER.map(lambda n: f"§§ {n}"),
    NUMBER.map(lambda n: f"{n}¢"),
    st.sampled_from([" ¦ ", " ¨ ", " ¢ "]),
    LEAD_FREE_TEXT,
)


@st.composite
def clean_text(draw: st.DrawFn) -> str:
    """Text without mojibake: legitimate tokens joined by ASCII separators."""
    tokens = draw(st.lists(LEGIT_TOKEN, max_size=12))
    parts: list[str] = []
    for token in tokens:
        parts.append(token)
        parts.append(draw(SEPARATORS))
    return "".join(parts)


# Clean segments around mojibake: ASCII, Latin-1 letters and Hangul.  Latin-1
# punctuation such as "§" right next to mojibake is genuinely ambiguous
# ("§¡°" is "§“" or "㎕°"), so it is not used here.
CLEAN_SEGMENT = st.text(
    st.one_of(
        st.sampled_from(string.ascii_letters + string.digits + " .,;:!?'\"()-\n"),
        st.sampled_from(LATIN1_LETTERS),
        st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
    ),
    max_size=10,
)
# Symbols whose mojibake ends in a lead character (─ is ¦¡) overlap with what
# follows them, which is where choosing the alignment matters.
OVERLAPPING_SYMBOLS = [s for s in ALL_SYMBOLS if to_mojibake(s)[1] in LEADS]
SYMBOL = st.one_of(
    st.sampled_from(COMMON_SYMBOLS),
    st.sampled_from(ALL_SYMBOLS),
    st.sampled_from(OVERLAPPING_SYMBOLS),
)


@st.composite
def original_and_mojibake(draw: st.DrawFn) -> tuple[str, str, list[str]]:
    """Return (original, its mojibake, the symbols in order)."""
    pieces = draw(
        st.lists(
            st.one_of(SYMBOL.map(lambda s: (True, s)), CLEAN_SEGMENT.map(lambda s: (False, s))),
            max_size=15,
        )
    )
    original: list[str] = []
    broken: list[str] = []
    symbols: list[str] = []
    separate = False
    for is_symbol, piece in pieces:
        if is_symbol:
            original.append(piece)
            broken.append(to_mojibake(piece))
            symbols.append(piece)
            separate = needs_separation(piece)
        elif piece:
            if separate and piece[0].isalpha():
                piece = " " + piece  # avoid the documented "¡Él" exception
            original.append(piece)
            broken.append(piece)
            separate = False
    return "".join(original), "".join(broken), symbols


# Hostile text: dense in U+00A1..U+00FE and in whole mojibake pairs, so
# candidates, overlaps, odd runs, the Latin-1 exceptions and the "would
# create new mojibake" fallback all occur.
HOSTILE_TEXT = st.lists(
    st.one_of(
        st.characters(min_codepoint=0xA1, max_codepoint=0xFE),
        st.sampled_from(LEADS),
        st.sampled_from("aZé \n\r"),
        SYMBOL.map(to_mojibake),
    ),
    max_size=30,
).map("".join)


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------

# Pure functions on short strings: no deadline, so a loaded machine cannot
# make them flaky.
PROPERTY = settings(max_examples=500, deadline=None)


@PROPERTY
@given(LEAD_FREE_TEXT)
def test_lead_free_text_is_unchanged(text: str) -> None:
    assert repair(text) == text
    assert find_mojibake(text) == []


@PROPERTY
@given(clean_text())
def test_clean_text_is_unchanged(text: str) -> None:
    assert repair(text) == text
    assert find_mojibake(text) == []


@PROPERTY
@given(original_and_mojibake())
def test_mojibake_round_trip(case: tuple[str, str, list[str]]) -> None:
    original, broken, symbols = case
    assert repair(broken) == original
    findings = find_mojibake(broken)
    assert "".join(f.repaired for f in findings) == "".join(symbols)
    assert "".join(f.found for f in findings) == "".join(map(to_mojibake, symbols))


@PROPERTY
@given(st.one_of(HOSTILE_TEXT, clean_text(), original_and_mojibake().map(lambda case: case[1])))
def test_repair_is_idempotent(text: str) -> None:
    once = repair(text)
    assert repair(once) == once
    assert find_mojibake(once) == []


@PROPERTY
@given(HOSTILE_TEXT)
def test_findings_describe_repair(text: str) -> None:
    findings = find_mojibake(text)
    assert apply_findings(text, findings) == repair(text)
    symbols = set(ALL_SYMBOLS) | {"㎣"}
    for finding in findings:
        assert len(finding.found) == 2 * len(finding.repaired)
        assert all(symbol in symbols for symbol in finding.repaired)
        pairs = [finding.found[i : i + 2] for i in range(0, len(finding.found), 2)]
        assert all(pair.encode("latin-1")[0] in ROWS for pair in pairs)
        assert "".join(to_mojibake(s) for s in finding.repaired) == finding.found


@PROPERTY
@given(HOSTILE_TEXT)
def test_only_mojibake_changes(text: str) -> None:
    # Outside the reported occurrences the text is untouched, in particular
    # ASCII letters and line endings.
    repaired = repair(text)
    keep = "aZ \n\r"
    assert [c for c in repaired if c in keep] == [c for c in text if c in keep]
