"""The ``mailroom`` fixture: a project with a built email.eml, a store of 1,000
subscribers and the SMTP settings in the environment, for the tests of ``publisher send``
against a real SMTP server (tests/send_support.py); the store an SQLite file, or a
PostgreSQL database when the test asks for it (``parametrize("mailroom",
store_support.BOTH, indirect=True)``), and fewer subscribers when it says so
(``@pytest.mark.subscribers(200)``: for a test whose property is per message, not about
the count)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

import store_support
from conftest import Run
from publisher.build.builder import Paths
from publisher.deliver import tokens
from send_support import bodies, fake_eml, parse

SECRET = "test-secret-do-not-use-0123456789"
MONTH = "2023-08"


@dataclass
class Mailroom:
    paths: Paths
    db: Path | str  # an SQLite file, or a PostgreSQL URL (store_support.BOTH)
    addresses: list[str]
    cli: Callable[..., Run]
    monkeypatch: pytest.MonkeyPatch

    def send(self, *args: str, port: int | None = None) -> Run:
        if port is not None:
            self.monkeypatch.setenv("PUBLISHER_SMTP_PORT", str(port))
        return self.cli("send", MONTH, "--db", str(self.db), *args, paths=self.paths)

    def ledger(self) -> dict[str, tuple[str, str, int, str]]:
        """address -> (state, Message-ID, in_doubt, reply)."""
        return {row[0]: row[1:] for row in store_support.rows(
            self.db, "SELECT email, state, message_id, in_doubt, reply FROM deliveries "
            "WHERE issue = ?", (MONTH,))}

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "publisher", "send", MONTH, "--db", str(self.db),
                "--issues", str(self.paths.issues), "--dist", str(self.paths.dist), *args]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "subscribers(n): the mailroom's store holds n "
                            "subscribers instead of 1,000")


def make_store(db: Path | str, addresses: list[str], csv_file: Path | None = None) -> None:
    from publisher.deliver import csv_import
    csv_file = csv_file or Path(db).with_suffix(".csv")
    lines = ["email,name"] + [f"{a},Reader {i} 독자" for i, a in enumerate(addresses)]
    csv_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    csv_import.import_csv(csv_file, db)


@pytest.fixture
def mailroom(project_copy: Paths, tmp_path: Path, cli: Callable[..., Run],
             monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
             ) -> Iterator[Mailroom]:
    """A project with a built email.eml, a store of 1,000 subscribers (or as many as the
    test's ``subscribers`` mark says) and the SMTP env; the store is an SQLite file, or a
    PostgreSQL database when the test asks for it."""
    eml = project_copy.dist / MONTH / "email.eml"
    eml.parent.mkdir(parents=True)
    eml.write_bytes(fake_eml())
    marker = request.node.get_closest_marker("subscribers")
    count = int(marker.args[0]) if marker is not None else 1000
    addresses = [f"reader{i:04d}@example.org" for i in range(count)]
    db = store_support.target(request, tmp_path / "subscribers.sqlite")
    make_store(db, addresses, tmp_path / "subscribers.csv")
    for key in [k for k in os.environ if k.startswith("PUBLISHER_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PUBLISHER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PUBLISHER_SMTP_TLS", "none")
    monkeypatch.setenv("PUBLISHER_SECRET", SECRET)
    monkeypatch.setenv("PUBLISHER_SMTP_BACKOFF", "0.001")
    monkeypatch.chdir(tmp_path)
    yield Mailroom(project_copy, db, addresses, cli, monkeypatch)


def ledger_lines(status: str) -> list[str]:
    """The lines of --status about the ledger, without those about the senders (shown on
    PostgreSQL, where several may share a mailing)."""
    return [line for line in status.splitlines() if not line.startswith("sender ")]


def check_message(data: bytes, address: str) -> str:
    """Assert one received message is personalised for ``address``; its Message-ID."""
    msg = parse(data)
    assert [a.addr_spec for a in msg["To"].addresses] == [address]
    text, page = bodies(msg)
    links = [urlsplit(u.strip("<>")) for u in msg["List-Unsubscribe"].split(", ")]
    assert links[0].scheme == "mailto"
    url = links[1]
    assert url.geturl().startswith("https://webzine.example.org/korea/unsubscribe?")
    query = parse_qs(url.query)
    assert query["address"] == [address]
    assert tokens.verify(address, "korea", query["token"][0], SECRET.encode())
    assert f"Unsubscribe: {url.geturl()}" in text
    assert f'href="{url.geturl().replace("&", "&amp;")}"' in page
    assert f"Dear Reader {int(address[6:10])} 독자," in text
    assert f"sent to {address}" in text and f"Sent to {address}" in page
    assert f"\n.A line that starts with a dot.\n.{address}, a dot" in text.replace("\r", "")
    return str(msg["Message-ID"])
