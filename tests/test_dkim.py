"""DKIM signing (publisher.deliver.dkim), checked by dkimpy's verifier the way a receiving
server checks it: the public key is read from DNS, from a local authoritative server
(dnslib on 127.0.0.1, tests/dns_support.py) that serves the record keygen printed."""

from __future__ import annotations

import re
import stat
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest
from aiosmtpd.smtp import Envelope, Session
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from dkim.util import parse_tag_value
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Run
from dns_support import DKIM_DOMAIN, LocalDNS, publish, tcp_query
from publisher.deliver import dkim as signer
from publisher.deliver import smtp, verp
from publisher.deliver.personalise import Recipient, Template, dot_stuff
from publisher.errors import PublisherError
from publisher.render.email import placeholders as ph
from send_support import Recorder, fake_eml, smtp_server

DOMAIN = DKIM_DOMAIN
SECRET = b"a-test-secret-of-some-length"


@pytest.fixture
def keys(dkim_keys: dict[str, signer.NewKey]) -> dict[str, signer.NewKey]:
    """One key of each kind, made by keygen (the session's: dns_support.dkim_keys)."""
    return {signer.RSA: dkim_keys["news-rsa"], signer.ED25519: dkim_keys["news-ed25519"]}


def settings_for(key: signer.NewKey) -> signer.DkimSettings:
    selector = key.path.name.split("._domainkey.")[0]
    found = signer.DkimSettings.from_env({
        "PUBLISHER_DKIM_KEY": str(key.path),
        "PUBLISHER_DKIM_SELECTOR": selector,
        "PUBLISHER_DKIM_DOMAIN": DOMAIN,
    })
    assert found is not None
    return found


def newsletter(email: str = "ann@example.org", name: str = "Ann") -> bytes:
    """One subscriber's message, personalised as the send does it (non-ASCII subject,
    List-Unsubscribe and List-Unsubscribe-Post, lines that start with a dot)."""
    template = Template(fake_eml(padding=3))
    return template.render(Recipient(
        email=email, name=name,
        unsubscribe_url=f"https://{DOMAIN}/unsubscribe?address={email}&token=t0k3n",
        unsubscribe_mailto=f"mailto:newsletter@{DOMAIN}?subject=unsubscribe",
        message_id=f"<2023-08.0123456789abcdef01234567@{DOMAIN}>"))


def tags(signed: bytes) -> dict[bytes, bytes]:
    header = signed.split(b"\r\n\r\n", 1)[0]
    found = re.match(rb"DKIM-Signature:(.*?)\r\n(?![ \t])", header, re.DOTALL)
    assert found, "the signature is the first header"
    return parse_tag_value(found.group(1).replace(b"\r\n", b""))


@pytest.mark.parametrize("algorithm", [signer.RSA, signer.ED25519])
def test_signature_verifies_against_the_published_key(
        algorithm: str, keys: dict[str, signer.NewKey], dns_server: LocalDNS) -> None:
    key = keys[algorithm]
    publish(dns_server, key.record)
    settings = settings_for(key)
    signed = signer.sign(newsletter(), settings)

    assert dkim.verify(signed, dnsfunc=dns_server.txt_lookup)
    assert (f"{settings.dns_name}.", "TXT") in dns_server.queries  # read off the wire
    found = tags(signed)
    assert found[b"a"] == signer.ALGORITHMS[algorithm]
    assert found[b"c"] == b"relaxed/relaxed"
    assert (found[b"d"], found[b"s"]) == (DOMAIN.encode(), settings.selector.encode())


@pytest.mark.parametrize("algorithm", [signer.RSA, signer.ED25519])
def test_any_change_that_matters_breaks_the_signature(
        algorithm: str, keys: dict[str, signer.NewKey], dns_server: LocalDNS) -> None:
    publish(dns_server, keys[algorithm].record)
    signed = signer.sign(newsletter(), settings_for(keys[algorithm]))
    head, body = signed.split(b"\r\n\r\n", 1)
    subject = re.search(rb"(?m)^Subject:.*(\r\n[ \t].*)*", head)
    assert subject
    tampered = {
        "subject": head.replace(subject.group(0), b"Subject: You won a prize") + b"\r\n\r\n"
        + body,
        "body": head + b"\r\n\r\n" + body.replace(b"Dear Ann", b"Dear Bob", 1),
        # oversigned: a second copy of a signed header cannot be slipped in
        "second From": b"From: mallory@example.net\r\n" + signed,
        "second List-Unsubscribe": b"List-Unsubscribe: <https://evil.example.net/x>\r\n"
        + signed,
        "second List-Unsubscribe-Post":
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" + signed,
    }
    assert dkim.verify(signed, dnsfunc=dns_server.txt_lookup)
    for what, message in tampered.items():
        assert not dkim.verify(message, dnsfunc=dns_server.txt_lookup), what


def test_relaxed_canonicalization_survives_rewrapping(
        keys: dict[str, signer.NewKey], dns_server: LocalDNS) -> None:
    """relaxed/relaxed: the spaces a relay may change (around a header's colon, at the
    ends of lines, runs of them) do not break the signature."""
    publish(dns_server, keys[signer.ED25519].record)
    signed = signer.sign(newsletter(), settings_for(keys[signer.ED25519]))
    rewrapped = signed.replace(b"\r\nMIME-Version: 1.0", b"\r\nMIME-Version:   1.0  ")
    rewrapped = rewrapped.replace(b"Dear Ann,", b"Dear  Ann,   ", 1)
    assert rewrapped != signed
    assert dkim.verify(rewrapped, dnsfunc=dns_server.txt_lookup)


def test_the_headers_signed(keys: dict[str, signer.NewKey]) -> None:
    message = newsletter()
    signed = tags(signer.sign(message, settings_for(keys[signer.ED25519])))
    names = [name.strip() for name in signed[b"h"].split(b":")]
    for wanted in (b"from", b"to", b"subject", b"date", b"message-id",
                   b"list-unsubscribe", b"list-unsubscribe-post", b"mime-version",
                   b"content-type"):
        assert names.count(wanted) == 2, wanted  # present once, signed twice
    assert b"list-id" not in names  # only the headers the message has
    assert b"received" not in names and b"return-path" not in names


def test_list_id_and_list_unsubscribe_when_present(keys: dict[str, signer.NewKey],
                                                   dns_server: LocalDNS) -> None:
    publish(dns_server, keys[signer.RSA].record)
    message = (b"From: KOREA <news@webzine.example.org>\r\nTo: ann@example.org\r\n"
               b"Subject: hello\r\nDate: Tue, 01 Aug 2023 06:00:00 +0000\r\n"
               b"Message-ID: <m@webzine.example.org>\r\n"
               b"List-Id: KOREA <korea.webzine.example.org>\r\n"
               b"List-Unsubscribe: <https://webzine.example.org/u>\r\n"
               b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
               b"X-Mailer: publisher\r\n\r\nHello.\r\n")
    signed = signer.sign(message, settings_for(keys[signer.RSA]))
    names = [name.strip() for name in tags(signed)[b"h"].split(b":")]
    assert names[::2] == [b"from", b"to", b"subject", b"date", b"message-id", b"list-id",
                          b"list-unsubscribe", b"list-unsubscribe-post"]
    assert b"x-mailer" not in names
    assert dkim.verify(signed, dnsfunc=dns_server.txt_lookup)


def test_a_message_with_lf_line_ends(keys: dict[str, signer.NewKey],
                                     dns_server: LocalDNS) -> None:
    publish(dns_server, keys[signer.ED25519].record)
    message = b"From: news@webzine.example.org\nSubject: hi\n\nbody\n"
    signed = signer.sign(message, settings_for(keys[signer.ED25519]))
    assert b"\r" not in signed
    assert dkim.verify(signed, dnsfunc=dns_server.txt_lookup)


def test_no_key_published_or_another_key(keys: dict[str, signer.NewKey],
                                         dns_server: LocalDNS) -> None:
    signed = signer.sign(newsletter(), settings_for(keys[signer.ED25519]))
    assert not dkim.verify(signed, dnsfunc=dns_server.txt_lookup)  # NXDOMAIN
    other = keys[signer.RSA].record.replace("news-rsa.", "news-ed25519.", 1)
    publish(dns_server, other)
    assert not dkim.verify(signed, dnsfunc=dns_server.txt_lookup)


def test_the_signed_message_over_smtp_with_a_verp_return_path(
        keys: dict[str, signer.NewKey], dns_server: LocalDNS) -> None:
    """The way the send will use it: the signature of the message goes in front of its
    dot-stuffed wire form; the server un-stuffs it, and the message verifies there."""

    senders: list[str] = []

    class Envelopes(Recorder):
        async def handle_DATA(self, server: object, session: Session,
                              envelope: Envelope) -> str:
            senders.append(str(envelope.mail_from))
            return await super().handle_DATA(server, session, envelope)

    publish(dns_server, keys[signer.RSA].record)
    settings = settings_for(keys[signer.RSA])
    message = newsletter()
    assert b"\r\n.A line that starts with a dot." in message
    wire = signer.signature(message, settings) + dot_stuff(message)
    return_path = verp.return_path(4711, "2023-08", SECRET, "bounces.example.org")
    recorder = Envelopes()
    with smtp_server(recorder) as port:
        conn = smtp.Connection(smtp.SmtpSettings("127.0.0.1", port), eight_bit=True)
        conn.open()
        try:
            outcome = conn.send(return_path, "ann@example.org", wire, stuffed=True)
        finally:
            conn.close()
    assert outcome.kind == smtp.SENT, outcome.reply
    [received] = recorder.received
    assert received.data.endswith(message)
    assert dkim.verify(received.data, dnsfunc=dns_server.txt_lookup)
    assert senders == [return_path]
    assert verp.parse(senders[0], SECRET) == (4711, "2023-08")


def test_the_dns_server_answers_over_tcp_too(keys: dict[str, signer.NewKey],
                                            dns_server: LocalDNS) -> None:
    publish(dns_server, keys[signer.RSA].record)
    reply = tcp_query(dns_server.port, f"news-rsa._domainkey.{DOMAIN}", "TXT")
    assert reply.header.aa == 1
    [answer] = reply.rr
    assert b"".join(answer.rdata.data) == signer.record_text(keys[signer.RSA].record)


# -- keygen --------------------------------------------------------------------------------


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    key = signer.keygen(tmp_path, "s2024", "Example.ORG", signer.ED25519)
    assert key.path == tmp_path / "s2024._domainkey.example.org.pem"
    assert stat.S_IMODE(key.path.stat().st_mode) == 0o600
    assert key.path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert [p.name for p in tmp_path.iterdir()] == [key.path.name]  # no temporary file
    assert key.record.startswith('s2024._domainkey.example.org. IN TXT "v=DKIM1; k=ed25519; p=')
    assert key.record.count('"') == 2


def test_keygen_rsa_record_is_split_into_strings_of_255(keys: dict[str, signer.NewKey]) -> None:
    key = keys[signer.RSA]
    loaded = serialization.load_pem_private_key(key.path.read_bytes(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey) and loaded.key_size == 2048
    strings = re.findall(r'"([^"]*)"', key.record)
    assert len(strings) == 2 and all(len(s) <= 255 for s in strings)
    assert len(strings[0]) == 255
    assert "".join(strings).startswith("v=DKIM1; k=rsa; p=MIIBIjAN")
    assert signer.txt_record(key.path.read_bytes(), "news-rsa", DOMAIN) == key.record


def test_keygen_never_overwrites_a_key(tmp_path: Path) -> None:
    first = signer.keygen(tmp_path, "s1", DOMAIN, signer.ED25519)
    before = first.path.read_bytes()
    with pytest.raises(PublisherError, match="a key is there already"):
        signer.keygen(tmp_path, "s1", DOMAIN, signer.ED25519)
    assert first.path.read_bytes() == before
    assert len(list(tmp_path.iterdir())) == 1


def test_keygen_refuses_what_it_cannot_make(tmp_path: Path) -> None:
    with pytest.raises(PublisherError, match="use rsa or ed25519"):
        signer.keygen(tmp_path, "s1", DOMAIN, "dsa")
    with pytest.raises(PublisherError, match="the selector is 'bad selector'"):
        signer.keygen(tmp_path, "bad selector", DOMAIN)
    with pytest.raises(PublisherError, match="the domain is 'localhost'"):
        signer.keygen(tmp_path, "s1", "localhost")
    assert not list(tmp_path.iterdir())


# -- settings ------------------------------------------------------------------------------


def env(key: Path | str = "", selector: str = "", domain: str = "") -> dict[str, str]:
    return {"PUBLISHER_DKIM_KEY": str(key), "PUBLISHER_DKIM_SELECTOR": selector,
            "PUBLISHER_DKIM_DOMAIN": domain}


def test_no_settings_no_signing() -> None:
    assert signer.DkimSettings.from_env({}) is None
    assert signer.DkimSettings.from_env(env()) is None
    assert signer.DkimSettings.from_env({"PUBLISHER_DKIM_KEY": "  "}) is None


@pytest.mark.parametrize(("given", "missing"), [
    (env(key="k.pem"), "PUBLISHER_DKIM_SELECTOR and PUBLISHER_DKIM_DOMAIN are not set"),
    (env(selector="s1", domain=DOMAIN), "PUBLISHER_DKIM_KEY is not set"),
    (env(key="k.pem", domain=DOMAIN), "PUBLISHER_DKIM_SELECTOR is not set"),
])
def test_some_settings_but_not_all(given: dict[str, str], missing: str) -> None:
    with pytest.raises(PublisherError, match=missing):
        signer.DkimSettings.from_env(given)


def test_settings_repr_hides_the_key(keys: dict[str, signer.NewKey]) -> None:
    settings = settings_for(keys[signer.ED25519])
    assert settings.key.decode() not in repr(settings)
    assert settings.algorithm == signer.ED25519


def test_a_key_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(PublisherError, match="PUBLISHER_DKIM_KEY: cannot read") as missing:
        signer.DkimSettings.from_env(env(tmp_path / "nope.pem", "s1", DOMAIN))
    assert "nope.pem" in str(missing.value)
    with pytest.raises(PublisherError, match="PUBLISHER_DKIM_KEY: cannot read"):
        signer.DkimSettings.from_env(env(tmp_path, "s1", DOMAIN))  # a folder


def _pem(key: object, *, encryption: serialization.KeySerializationEncryption | None = None,
         ) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        encryption or serialization.NoEncryption())


#: A throwaway 512-bit RSA key (``cryptography`` makes none under 1024 bits).
RSA_512 = b"""-----BEGIN PRIVATE KEY-----
MIIBVAIBADANBgkqhkiG9w0BAQEFAASCAT4wggE6AgEAAkEAoYJ7OUig3fU91SC9
p/Xnvt0gdhaTCmznTI3H7Gzq3ZIKBJDjrea3r9Qq7AaXeWkb9VST7DZMc1KrFYa+
PsGjBwIDAQABAkA472V/ESJcfHqaqlsRXbefahZqapTVRQTY0NZcexzklGp/413J
102cAJYdq2M9A2TQdbqgosLnTG3883LI9LXxAiEAzqXvmBoQ7FLPc+viGk4j9Sr2
gORpITJsE7L9wquFW/8CIQDIFN3YKE5QvV0pG6DiFq+hA3MmKboBFyIrcUdgS5TY
+QIgP6I/bnIQZgV2Fnc7r+gCEJwDPluXt/5D46kJlWml7lcCIQCtKRoCbIey6uBI
poerhDTF5iVvHufC79F7xZMfbOpKiQIgLaAC+NtXFmEjrKufnoWTbnXrTjtlPFRW
tEqzfg914Xc=
-----END PRIVATE KEY-----
"""

BAD_KEYS: dict[str, tuple[Callable[[], bytes], str]] = {
    "empty": (lambda: b"", "not a private key in PEM form"),
    "text": (lambda: b"hello, I am not a key\n", "not a private key in PEM form"),
    "bad PEM": (lambda: b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                "not a private key in PEM form"),
    "public key": (lambda: ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        "not a private key in PEM form"),
    "encrypted": (lambda: _pem(ec.generate_private_key(ec.SECP256R1()),
                               encryption=serialization.BestAvailableEncryption(b"pass")),
                  "the key is encrypted"),
    "RSA 512": (lambda: RSA_512, "has 512 bits"),
    "EC": (lambda: _pem(ec.generate_private_key(ec.SECP256R1())),
           "signs with RSA or Ed25519 keys"),
}


@pytest.mark.parametrize("case", list(BAD_KEYS))
def test_a_key_that_cannot_sign(tmp_path: Path, case: str) -> None:
    make, message = BAD_KEYS[case]
    path = tmp_path / "key.pem"
    path.write_bytes(make())
    with pytest.raises(PublisherError, match=message) as caught:
        signer.DkimSettings.from_env(env(path, "s1", DOMAIN))
    assert "PUBLISHER_DKIM_KEY" in str(caught.value)
    assert str(path.name) in str(caught.value)


@pytest.mark.parametrize(("selector", "domain", "variable"), [
    ("bad selector", DOMAIN, "PUBLISHER_DKIM_SELECTOR"),
    ("-s1", DOMAIN, "PUBLISHER_DKIM_SELECTOR"),
    ("s1", "localhost", "PUBLISHER_DKIM_DOMAIN"),
    ("s1", "exa mple.org", "PUBLISHER_DKIM_DOMAIN"),
])
def test_bad_selector_or_domain(keys: dict[str, signer.NewKey], selector: str, domain: str,
                                variable: str) -> None:
    with pytest.raises(PublisherError, match=variable):
        signer.DkimSettings.from_env(env(keys[signer.ED25519].path, selector, domain))


def test_other_key_files_it_takes(tmp_path: Path, keys: dict[str, signer.NewKey],
                                  dns_server: LocalDNS) -> None:
    """A PEM with CRLF line ends (dkimpy alone finds no key in one), PKCS#1 RSA, and
    dkimpy's own Ed25519 format (the base64 seed ``dknewkey`` writes)."""
    publish(dns_server, keys[signer.RSA].record)
    publish(dns_server, keys[signer.ED25519].record)
    rsa_key = serialization.load_pem_private_key(keys[signer.RSA].path.read_bytes(), None)
    assert isinstance(rsa_key, rsa.RSAPrivateKey)
    pkcs1 = rsa_key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption())
    seed = signer.load_key(keys[signer.ED25519].path.read_bytes())[1]
    files = {
        "news-rsa": pkcs1.replace(b"\n", b"\r\n"),
        "news-ed25519": seed + b"\n",
    }
    for selector, content in files.items():
        path = tmp_path / f"{selector}.key"
        path.write_bytes(content)
        settings = signer.DkimSettings.from_env(env(path, selector, DOMAIN))
        assert settings is not None
        assert dkim.verify(signer.sign(newsletter(), settings),
                           dnsfunc=dns_server.txt_lookup), selector


def test_a_message_without_from_is_not_signed(keys: dict[str, signer.NewKey]) -> None:
    with pytest.raises(PublisherError, match="no From header"):
        signer.sign(b"To: ann@example.org\r\nSubject: x\r\n\r\nbody\r\n",
                    settings_for(keys[signer.ED25519]))


# -- the signer and the reference -----------------------------------------------------------


def dkimpy_signature(message: bytes, settings: signer.DkimSettings) -> bytes:
    """The signature dkimpy makes of ``message`` with the same key and headers."""
    linesep = b"\r\n" if b"\r\n" in message else b"\n"
    reference = dkim.DKIM(message, signature_algorithm=signer.ALGORITHMS[settings.algorithm],
                          linesep=linesep)
    return reference.sign(settings.selector.encode(), settings.domain.encode(), settings.key,
                          canonicalize=(b"relaxed", b"relaxed"),
                          include_headers=signer.signed_headers(message))


def same_as_dkimpy(message: bytes, settings: signer.DkimSettings) -> None:
    """The signer's signature and dkimpy's, at the same second, have the same tags (the
    same ``bh=`` and ``b=``: both are deterministic); dkimpy verifies the signer's."""
    reference = dkimpy_signature(message, settings)
    when = int(_tags_of(reference + message)[b"t"])
    ours = signer.signature(message, settings, timestamp=when)
    assert _squeezed(_tags_of(ours + message)) == _squeezed(_tags_of(reference + message))
    record = signer.record_text(signer.txt_record(settings.key, settings.selector,
                                                  settings.domain))
    assert dkim.verify(ours + message, dnsfunc=lambda name, timeout=5: record)


def _tags_of(signed: bytes) -> dict[bytes, bytes]:
    return tags(signed.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))


def _squeezed(found: dict[bytes, bytes]) -> dict[bytes, bytes]:
    return {key: re.sub(rb"\s+", b"", value) for key, value in found.items()}


@pytest.mark.parametrize("algorithm", [signer.RSA, signer.ED25519])
def test_the_signer_signs_as_dkimpy_does(algorithm: str,
                                         keys: dict[str, signer.NewKey]) -> None:
    settings = settings_for(keys[algorithm])
    same_as_dkimpy(newsletter(), settings)
    same_as_dkimpy(newsletter("홍길동@example.kr", "홍길동"), settings)
    same_as_dkimpy(b"From: a@example.org\r\nSubject: x\r\n\r\n", settings)  # empty body
    same_as_dkimpy(b"From: a@example.org\r\nSubject:  x \t y \r\n\r\n \t\r\n\r\n", settings)
    same_as_dkimpy(b"From: a@example.org\nSubject: lf\n\nline  one \nline\ttwo\n\n\n", settings)


_WS = st.sampled_from([" ", "  ", "\t", " \t ", ""])
_WORD = st.text(alphabet="abcXYZ.=-:;<>@", min_size=1, max_size=8)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """Messages with white space where relaxed canonicalization changes it: runs, tabs,
    spaces that end lines, folded headers, empty lines at the end, repeated headers."""
    names = draw(st.lists(st.sampled_from(
        ["To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post",
         "List-Id", "X-Mailer", "Cc", "Reply-To", "MIME-Version"]), max_size=8))
    lines = []
    for name in ["From", *names]:
        words = draw(st.lists(_WORD, min_size=1, max_size=6))
        value = "".join(draw(_WS) + w for w in words) + draw(_WS)
        if draw(st.booleans()) and len(words) > 1:
            value = value.replace(words[1], "\r\n" + draw(st.sampled_from([" ", "\t"]))
                                  + words[1], 1)
        lines.append(f"{draw(st.sampled_from([name, name.lower(), name.upper()]))}:{value}")
    body_lines = draw(st.lists(st.text(alphabet="ab .\t", max_size=20), max_size=8))
    body = "".join(line + "\r\n" for line in body_lines)
    body += draw(st.sampled_from(["", "\r\n", "\r\n\r\n", "tail", "tail  "]))
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("ascii")


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=messages())
def test_the_signer_agrees_with_dkimpy_on_any_message(
        message: bytes, keys: dict[str, signer.NewKey]) -> None:
    same_as_dkimpy(message, settings_for(keys[signer.ED25519]))


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=messages())
def test_the_rsa_signer_agrees_with_dkimpy(message: bytes,
                                           keys: dict[str, signer.NewKey]) -> None:
    """What differs from the Ed25519 signature is the RSA step alone (the hash signed,
    the padding, the encoding of b=), which any message shows; the canonicalization both
    share is what the 150 messages of the test above try. dkimpy's RSA is pure Python,
    about 0.25 s a message: 6 messages, not 25."""
    same_as_dkimpy(message, settings_for(keys[signer.RSA]))


# -- signing a template's pieces (the send's way) ----------------------------------------------


_TEXT = st.lists(st.sampled_from([*"ab .\t한", "  ", " \t ", ph.RECIPIENT_NAME,
                                  ph.RECIPIENT_EMAIL, ph.UNSUBSCRIBE_URL]),
                 max_size=12).map("".join)


@st.composite
def templates(draw: st.DrawFn) -> bytes:
    """Finished emails whose own text has what relaxed canonicalization changes (runs
    of white space, tabs, spaces that end lines, lines that start with a dot), in
    quoted-printable or base64 parts, the placeholders anywhere in them."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["Subject"] = draw(st.sampled_from(["KOREA  —  August", "KOREA\t2023", "plain"]))
    msg["From"] = f"Webzine  KOREA <newsletter@{DOMAIN}>"
    msg["To"] = f"{ph.RECIPIENT_NAME} <{ph.RECIPIENT_EMAIL}>"
    msg["List-Unsubscribe"] = f"<{ph.UNSUBSCRIBE_MAILTO}>,  <{ph.UNSUBSCRIBE_URL}>"
    if draw(st.booleans()):
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    text = "".join(line + "\n" for line in draw(st.lists(_TEXT, max_size=8)))
    text += f"Unsubscribe: {ph.UNSUBSCRIBE_URL}" + draw(st.sampled_from(["", "\n", "  \n"]))
    msg.set_content(text, cte=draw(st.sampled_from(["quoted-printable", "base64"])))
    if draw(st.booleans()):
        page = "".join(draw(st.lists(_TEXT, max_size=6)))
        msg.add_alternative(f"<p>{page}</p>\n", subtype="html",
                            cte=draw(st.sampled_from(["quoted-printable", "base64"])))
        msg.set_boundary("=-=boundary=-=")  # not one of the random module's
    return msg.as_bytes()


_NAMES = st.sampled_from(["", "Ann", "Ann  Lee", " Ann\tLee ", "홍길동", ".dot", "a  " * 30])


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(eml=templates(), names=st.lists(_NAMES, min_size=1, max_size=3))
def test_a_template_signed_in_pieces_as_the_message_itself(
        eml: bytes, names: list[str], keys: dict[str, signer.NewKey]) -> None:
    """The send signs a template's pieces (its own canonicalized once); the signature is
    byte for byte the one of the whole message, for every recipient in turn, and the
    dot-stuffed message of the same pass is the one SMTP would send."""
    template = Template(eml)
    signing = signer.Signer(settings_for(keys[signer.ED25519]))
    for i, name in enumerate(names):
        recipient = Recipient(
            email=f"reader{i}@example.org", name=name,
            unsubscribe_url=f"https://{DOMAIN}/unsubscribe?address=reader{i}&token=t{i}",
            unsubscribe_mailto=f"mailto:newsletter@{DOMAIN}?subject=unsubscribe",
            message_id=f"<2023-08.{i:024d}@{DOMAIN}>")
        rendered = template.render_signable(recipient)
        message = template.render(recipient)
        assert rendered.message == message
        assert rendered.wire == template.render(recipient, wire=True) == dot_stuff(message)
        for when in (1700000000, 1700000001):
            assert (signing.signature_of(rendered, timestamp=when)
                    == signing.signature(message, timestamp=when))


@pytest.mark.parametrize("algorithm", [signer.RSA, signer.ED25519])
def test_a_template_signed_in_pieces_verifies(algorithm: str,
                                              keys: dict[str, signer.NewKey]) -> None:
    settings = settings_for(keys[algorithm])
    record = signer.record_text(signer.txt_record(settings.key, settings.selector,
                                                  settings.domain))
    template = Template(fake_eml(padding=3))
    for email, name in (("ann@example.org", "Ann  Lee"), ("홍길동@example.kr", "홍길동")):
        rendered = template.render_signable(Recipient(
            email=email, name=name, unsubscribe_url=f"https://{DOMAIN}/u?a={email}",
            unsubscribe_mailto=f"mailto:newsletter@{DOMAIN}", message_id=f"<1@{DOMAIN}>"))
        signed = signer.signer_for(settings).signature_of(rendered) + rendered.message
        assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: record)


# -- publisher dkim keygen --------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", [signer.RSA, signer.ED25519])
def test_the_keygen_command_prints_the_record_that_verifies(
        algorithm: str, tmp_path: Path, cli: Callable[..., Run], dns_server: LocalDNS,
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = cli("dkim", "keygen", "news2024", "Webzine.Example.org",
              "--algorithm", algorithm, "--dir", str(tmp_path / "keys"))
    assert run.status == 0, run.err
    path = tmp_path / "keys" / f"news2024._domainkey.{DOMAIN}.pem"
    assert run.out.startswith(f"news2024._domainkey.{DOMAIN}. IN TXT ")
    assert f"PUBLISHER_DKIM_KEY={path}" in run.err
    publish(dns_server, run.out.strip())
    settings = signer.DkimSettings.from_env(env(path, "news2024", DOMAIN))
    assert settings is not None and settings.algorithm == algorithm
    assert dkim.verify(signer.sign(newsletter(), settings), dnsfunc=dns_server.txt_lookup)
    again = cli("dkim", "keygen", "news2024", DOMAIN,
                "--dir", str(tmp_path / "keys"))
    assert again.status == 1 and again.out == ""
    assert again.err_lines == [f"error: {path}: a key is there already: keep it (it may be "
                               "the published one), or remove it or choose another selector"]


def test_the_keygen_command_refuses_a_bad_selector(tmp_path: Path,
                                                   cli: Callable[..., Run]) -> None:
    run = cli("dkim", "keygen", "a b", DOMAIN, "--dir", str(tmp_path))
    assert run.status == 1 and "Traceback" not in run.err
    assert run.err_lines == ["error: the selector is 'a b': a selector is one or more DNS "
                             "labels (letters, digits, hyphens), such as 'news2024'"]
    assert not list(tmp_path.iterdir())
