"""The subscriber store, unsubscribe tokens and the personalisation of the finished email."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import Run
from publisher import placeholders, subscribers, tokens
from publisher.deliver.personalise import Recipient, Template, dot_stuff, message_id
from publisher.model import Publication
from send_support import bodies, fake_eml, parse

SECRET = b"test-secret-0123456789"
PUB = Publication(title="KOREA", publisher="KOCIS", language="en",
                  base_url="https://webzine.example.org/korea", sender_name="Webzine KOREA",
                  sender_address="newsletter@webzine.example.org", postal_address="Seoul")


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def rows(db_path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db_path) as db:
        return db.execute("SELECT email, name, status FROM subscribers ORDER BY id").fetchall()


# -- import -------------------------------------------------------------------------

def test_import_merges_case_insensitive_duplicates(tmp_path: Path,
                                                   cli: Callable[..., Run]) -> None:
    csv_file = write(tmp_path / "s.csv",
                     "\ufeffName,EMAIL\nAnn Kim,Ann@Example.org\n,bob@example.org\n"
                     "김민수,minsu@bücher.example\nAnnie,ann@EXAMPLE.org\n\n")
    db = tmp_path / "s.sqlite"
    run = cli("subscribers", "import", str(csv_file), "--db", str(db))
    assert run.status == 0, run.err
    assert rows(db) == [("Ann@example.org", "Annie", "subscribed"),
                        ("bob@example.org", "", "subscribed"),
                        ("minsu@xn--bcher-kva.example", "김민수", "subscribed")]
    assert "3 added" in run.err and "1 duplicate row(s) merged" in run.err
    assert cli("subscribers", "count", "--db", str(db)).out == "3\n"
    listed = cli("subscribers", "list", "--db", str(db)).out.splitlines()
    assert listed == ["Ann@example.org\tAnnie", "bob@example.org",
                      "minsu@xn--bcher-kva.example\t김민수"]


def test_an_international_address_is_kept_with_its_domain_in_ascii(tmp_path: Path,
                                                                    cli: Callable[..., Run]
                                                                    ) -> None:
    csv_file = write(tmp_path / "s.csv", "email,name\n홍길동@Example.kr,홍길동\n"
                                         "독자@부산.kr,\n")
    db = tmp_path / "s.sqlite"
    run = cli("subscribers", "import", str(csv_file), "--db", str(db))
    assert run.status == 0, run.err
    assert rows(db) == [("홍길동@example.kr", "홍길동", "subscribed"),
                        ("독자@xn--or3bi2d.kr", "", "subscribed")]
    assert subscribers.normalize_address("ann@example.org") == "ann@example.org"


def test_bad_rows_are_all_reported_and_change_nothing(
        tmp_path: Path, cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "s.sqlite"
    good = write(tmp_path / "good.csv", "email,name\nfirst@example.org,First\n")
    assert cli("subscribers", "import", str(good), "--db", str(db)).status == 0
    bad = write(tmp_path / "bad.csv",
                'email,name\nok@example.org,OK\nnot-an-address,X\n'
                '"multi\nline@example.org",Y\nevil@example.org,"Eve\r\nBcc: all@example.org"\n'
                "also@bad@example.org,\n,nameless\nnull@example.org,A\x00B\n")
    run = cli("subscribers", "import", str(bad), "--db", str(db))
    assert run.status == 1
    assert run.err_lines == [
        "error: bad.csv:3: invalid address 'not-an-address': An email address must have an "
        "@-sign.",
        "error: bad.csv:4: invalid address 'multi\\nline@example.org': The email address "
        "contains invalid characters before the @-sign: U+000A.",
        "error: bad.csv:6: evil@example.org: name contains a line break or control character "
        "(U+000D), which could inject mail headers",
        "error: bad.csv:8: invalid address 'also@bad@example.org': The part after the @-sign "
        "contains invalid characters: '@'.",
        "error: bad.csv:9: invalid address '(empty)': An email address must have an @-sign.",
        "error: bad.csv:10: null@example.org: name contains a line break or control character "
        "(U+0000), which could inject mail headers",
        "error: bad.csv: 6 bad row(s): nothing was imported (--skip-bad imports the good rows)",
    ]
    assert rows(db) == [("first@example.org", "First", "subscribed")]  # nothing changed
    run = cli("subscribers", "import", str(bad), "--skip-bad", "--db", str(db))
    assert run.status == 0
    assert len([line for line in run.err_lines if line.startswith("warning:")]) == 6
    assert rows(db) == [("first@example.org", "First", "subscribed"),
                        ("ok@example.org", "OK", "subscribed")]


def test_import_errors_create_no_store(tmp_path: Path, cli: Callable[..., Run],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "s.sqlite"
    no_column = write(tmp_path / "x.csv", "mail,name\na@example.org,A\n")
    run = cli("subscribers", "import", str(no_column), "--db", str(db))
    assert (run.status, run.err_lines) == (1, ["error: x.csv:1: the header row has no 'email' "
                                               "column"])
    bad = write(tmp_path / "y.csv", "email\nbad\n")
    assert cli("subscribers", "import", str(bad), "--db", str(db)).status == 1
    assert not db.exists()
    run = cli("subscribers", "count", "--db", str(db))
    assert run.status == 1 and run.err_lines[0].endswith(
        "no subscriber store here: import a CSV first ('publisher subscribers import "
        "FILE.csv')")


def test_unsubscribed_stay_unsubscribed(tmp_path: Path, cli: Callable[..., Run]) -> None:
    db = tmp_path / "s.sqlite"
    csv_file = write(tmp_path / "s.csv", "email\na@example.org\nb@example.org\n")
    cli("subscribers", "import", str(csv_file), "--db", str(db))
    assert cli("subscribers", "unsubscribe", "A@EXAMPLE.org", "--db", str(db)).status == 0
    assert cli("subscribers", "unsubscribe", "new@example.org", "--db", str(db)).status == 0
    run = cli("subscribers", "import", str(write(tmp_path / "t.csv",
                                                 "email\nnew@example.org\na@example.org\n")),
              "--db", str(db))
    assert "2 kept unsubscribed" in run.err
    assert cli("subscribers", "list", "--db", str(db)).out == "b@example.org\n"
    assert cli("subscribers", "export", "--db", str(db)).out == (
        "email,name,status\na@example.org,,unsubscribed\nb@example.org,,subscribed\n"
        "new@example.org,,unsubscribed\n")
    run = cli("subscribers", "unsubscribe", "nonsense", "--db", str(db))
    assert run.status == 1 and run.err_lines[0].startswith("error: invalid address 'nonsense'")


# -- tokens -------------------------------------------------------------------------

def test_tokens_verify_only_their_address_list_and_secret() -> None:
    token = tokens.make_token("Ann@example.org", "korea", SECRET)
    assert tokens.verify("ann@EXAMPLE.org", "korea", token, SECRET)
    assert not tokens.verify("bob@example.org", "korea", token, SECRET)
    assert not tokens.verify("ann@example.org", "other", token, SECRET)
    assert not tokens.verify("ann@example.org", "korea", token, b"another-secret-xxxx")
    assert not tokens.verify("ann@example.org", "korea", token[:-1] + "A"
                             if token[-1] != "A" else token[:-1] + "B", SECRET)
    assert not tokens.verify("ann@example.org", "korea", "", SECRET)


def test_unsubscribe_url_is_built_in_one_place() -> None:
    url = tokens.unsubscribe_url(PUB, "a+b@example.org", SECRET)
    token = tokens.make_token("a+b@example.org", "korea", SECRET)
    assert url == ("https://webzine.example.org/korea/unsubscribe?"
                   f"address=a%2Bb%40example.org&token={token}")
    assert tokens.list_id(PUB) == "korea"


def test_secret_comes_from_the_environment() -> None:
    with pytest.raises(Exception, match="PUBLISHER_SECRET is not set"):
        tokens.secret_from_env({})
    with pytest.raises(Exception, match="too short"):
        tokens.secret_from_env({"PUBLISHER_SECRET": "short"})
    assert tokens.secret_from_env({"PUBLISHER_SECRET": "x" * 20}) == b"x" * 20


# -- personalisation ----------------------------------------------------------------

def recipient(email: str, name: str) -> Recipient:
    return Recipient(email=email, name=name,
                     unsubscribe_url=tokens.unsubscribe_url(PUB, email, SECRET),
                     unsubscribe_mailto=tokens.unsubscribe_mailto(PUB, email, SECRET),
                     message_id=message_id("2023-08", email.casefold(), "korea",
                                           "webzine.example.org"))


def expected(text: str, r: Recipient, *, html: bool) -> str:
    values = r.values(for_html=html)
    for key, value in values.items():
        text = text.replace(key, value)
    return text.replace("\r\n", "\n")


@pytest.mark.parametrize("padding", [0, 3, 200])
@pytest.mark.parametrize("name", ["", "Ann", "Kim & <Lee> \"the\" 김민수", "O'Brien, Jr.",
                                  "x" * 200])
def test_personalised_message_is_the_template_with_the_values(padding: int,
                                                              name: str) -> None:
    eml = fake_eml(padding=padding)
    template = Template(eml)
    r = recipient("a.b+c@example.org", name)
    data = template.render(r)
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    head, _, body = data.partition(b"\r\n\r\n")
    assert max(len(line) for line in head.split(b"\r\n")) <= 998  # a URL cannot be folded
    assert max(len(line) for line in body.split(b"\r\n")) <= 78
    assert data.isascii()
    msg, original = parse(data), parse(eml)
    assert msg.defects == [] and all(not p.defects for p in msg.walk())
    assert msg["To"].addresses[0].addr_spec == "a.b+c@example.org"
    assert msg["To"].addresses[0].display_name == name
    assert msg["Message-ID"] == r.message_id
    assert msg["Date"] == original["Date"] == template.date
    for header in ("To", "Message-ID", "Date", "Subject", "From", "List-Unsubscribe"):
        assert len(msg.get_all(header)) == 1
    assert str(msg["Subject"]) == str(original["Subject"])
    assert msg["List-Unsubscribe"] == f"<{r.unsubscribe_mailto}>, <{r.unsubscribe_url}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [p.get_content_type() for p in msg.walk()] == \
        [p.get_content_type() for p in original.walk()]
    text, page = bodies(msg)
    text0, page0 = bodies(original)
    assert text.replace("\r\n", "\n") == expected(text0, r, html=False)
    assert page.replace("\r\n", "\n") == expected(page0, r, html=True)
    assert f"Dear {name or 'reader'}," in text
    image = next(p for p in msg.walk() if p.get_content_type() == "image/png")
    assert image.get_content() == next(p for p in original.walk()
                                       if p.get_content_type() == "image/png").get_content()
    assert not any(p in data.decode() for p in placeholders.ALL)


@settings(max_examples=60, deadline=None)
@given(name=st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl",
                                                                  "Zp")), max_size=60))
def test_any_accepted_name_round_trips(name: str) -> None:
    name = subscribers.check_name(name)
    r = recipient("someone@example.org", name)
    msg = parse(TEMPLATE.render(r))
    assert msg["To"].addresses[0].display_name == name
    assert msg["To"].addresses[0].addr_spec == "someone@example.org"
    text, page = bodies(msg)
    assert f"Dear {name or 'reader'}," in text
    assert expected(bodies(parse(EML))[1], r, html=True) == page.replace("\r\n", "\n")


EML = fake_eml(padding=5)
TEMPLATE = Template(EML)


def test_message_id_is_deterministic_per_issue_and_subscriber() -> None:
    a = message_id("2023-08", "ann@example.org", "korea", "webzine.example.org")
    assert a == message_id("2023-08", "ann@example.org", "korea", "webzine.example.org")
    assert a != message_id("2023-09", "ann@example.org", "korea", "webzine.example.org")
    assert a != message_id("2023-08", "bob@example.org", "korea", "webzine.example.org")
    assert a.startswith("<2023-08.") and a.endswith("@webzine.example.org>")


def test_not_an_email_is_refused() -> None:
    with pytest.raises(Exception, match="not a finished email message"):
        Template(b"hello\n")


def test_wire_form_is_the_message_dot_stuffed() -> None:
    r = recipient("dot@example.org", "Dot")
    plain, wire = TEMPLATE.render(r), TEMPLATE.render(r, wire=True)
    assert b"\r\n.A line that starts with a dot." in plain
    assert wire == dot_stuff(plain) != plain


def test_an_email_without_personal_unsubscribe_link_is_refused() -> None:
    with pytest.raises(Exception, match="no personal unsubscribe link"):
        Template(fake_eml(link="https://webzine.example.org/korea/unsubscribe"))
    with pytest.raises(Exception, match="no personal List-Unsubscribe header"):
        Template(fake_eml(list_unsubscribe=False))


@settings(max_examples=300, deadline=None)
@given(layout=st.lists(st.one_of(st.sampled_from(placeholders.ALL),
                                 st.text(alphabet="ab한\n", max_size=5)), max_size=8),
       values=st.lists(st.text(alphabet="xy김&<", max_size=7), min_size=4, max_size=4))
def test_base64_part_splices_any_lengths(layout: list[str], values: list[str]) -> None:
    import base64

    from publisher.deliver.personalise import _Base64Part
    text = "".join(layout)
    mapping = dict(zip(placeholders.ALL, values, strict=True))
    encoded = _Base64Part(text, html=False).encode(mapping)
    expected_text = text
    for key, value in mapping.items():
        expected_text = expected_text.replace(key, value)
    assert base64.b64decode(encoded) == expected_text.encode("utf-8")
    lines = encoded.split(b"\r\n")
    assert lines[-1] == b"" and all(0 < len(line) <= 76 for line in lines[:-1])
    assert b"=" not in encoded.rstrip(b"=\r\n")  # padding only at the very end


def test_an_8bit_text_part_is_sent_as_quoted_printable() -> None:
    eml = fake_eml(text_cte="8bit")
    assert not eml.isascii()
    template = Template(eml)
    r = recipient("ann@example.org", "김민수")
    data = template.render(r)
    assert data.isascii() and not template.eight_bit
    msg = parse(data)
    text = msg.get_body(("plain",))
    assert text is not None and text["Content-Transfer-Encoding"] == "quoted-printable"
    assert text.get_content().replace("\r\n", "\n") == expected(bodies(parse(eml))[0], r,
                                                                  html=False)
