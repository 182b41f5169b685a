"""QA harness for issue #13: a scripted aiosmtpd sink on 127.0.0.1 and the real CLI.

Independent of tests/: the sink below is written from scratch.  Every subprocess is
bounded in time (TIMEOUT s, then SIGTERM, then SIGKILL).

    from harness import *
    store = new_store("name", 200)
    with Sink(script) as sink:
        r = send(store, sink.port)
        print(sink.report(), r.rc, r.err)
"""

from __future__ import annotations

import asyncio
import csv
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[3]
PUB = str(ROOT / ".venv/bin/publisher")
SCRATCH = Path(__file__).resolve().parent / ".scratch"
PROJ = SCRATCH / "proj"  # issues/, layouts/, dist/2023-08/email.eml (built once)
MONTH = "2023-08"
SECRET = "qa-secret-0123456789abcdef"
TIMEOUT = 30.0


def ensure_project() -> Path:
    if not (PROJ / "dist" / MONTH / "email.eml").is_file():
        PROJ.mkdir(parents=True, exist_ok=True)
        for d in ("issues", "layouts"):
            if not (PROJ / d).exists():
                shutil.copytree(ROOT / d, PROJ / d)
        subprocess.run([PUB, "build", MONTH, "--format", "email"], cwd=PROJ, check=True,
                       capture_output=True, timeout=120)
    return PROJ


def addr(i: int) -> str:
    return f"u{i:05d}@example.org"


def new_store(name: str, n: int) -> Path:
    """A fresh store of ``n`` subscribers, imported with the real CLI."""
    ensure_project()
    d = SCRATCH / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    with open(d / "subs.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["email", "name"])
        for i in range(n):
            w.writerow([addr(i), f"Reader {i}"])
    db = d / "subscribers.sqlite"
    p = subprocess.run([PUB, "subscribers", "import", str(d / "subs.csv"), "--db", str(db)],
                       cwd=PROJ, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return db


def env(port: int, **extra: str) -> dict[str, str]:
    e = dict(os.environ)
    e.update(PUBLISHER_SMTP_HOST="127.0.0.1", PUBLISHER_SMTP_PORT=str(port),
             PUBLISHER_SMTP_TLS="none", PUBLISHER_SECRET=SECRET)
    for k in list(e):
        if k.startswith("PUBLISHER_SMTP_USER") or k.startswith("PUBLISHER_SMTP_PASSWORD"):
            del e[k]
    e.update(extra)
    return e


@dataclass
class Run:
    rc: int | None
    out: str
    err: str
    elapsed: float
    timed_out: bool = False

    @property
    def traceback(self) -> bool:
        return "Traceback" in self.err or "Traceback" in self.out

    @property
    def last(self) -> str:
        lines = [l for l in self.err.splitlines() if l.strip()]
        return lines[-1] if lines else ""

    def errors(self) -> list[str]:
        return [l for l in self.err.splitlines() if "error" in l.lower()]


def start(db: Path | str, port: int, *args: str, cwd: Path | None = None,
          **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([PUB, "send", MONTH, "--db", str(db), *args], cwd=cwd or PROJ,
                            env=env(port, **extra), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def finish(p: subprocess.Popen[str], t0: float, timeout: float = TIMEOUT) -> Run:
    timed_out = False
    try:
        out, err = p.communicate(timeout=max(0.1, timeout - (time.monotonic() - t0)))
    except subprocess.TimeoutExpired:
        timed_out = True
        p.send_signal(signal.SIGTERM)
        try:
            out, err = p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
    return Run(p.returncode, out, err, time.monotonic() - t0, timed_out)


def send(db: Path | str, port: int, *args: str, timeout: float = TIMEOUT,
         cwd: Path | None = None, **extra: str) -> Run:
    t0 = time.monotonic()
    return finish(start(db, port, *args, cwd=cwd, **extra), t0, timeout)


def cli(*args: str, port: int = 1, timeout: float = TIMEOUT, cwd: Path | None = None,
        **extra: str) -> Run:
    t0 = time.monotonic()
    p = subprocess.Popen([PUB, *args], cwd=cwd or PROJ, env=env(port, **extra),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    return finish(p, t0, timeout)


def status(db: Path | str) -> Run:
    return cli("send", MONTH, "--status", "--db", str(db))


def ledger(db: Path | str) -> Counter[str]:
    c = sqlite3.connect(db, timeout=30)
    try:
      try:
        return Counter(dict(c.execute("SELECT state, count(*) FROM deliveries WHERE issue=? "
                                      "GROUP BY state", (MONTH,)).fetchall()))
      except sqlite3.Error as exc:
        return Counter({f"UNREADABLE: {exc}": 1})
    finally:
        c.close()


def subscribed(db: Path | str) -> set[str]:
    c = sqlite3.connect(db, timeout=30)
    try:
        try:
            return {r[0] for r in c.execute("SELECT email FROM subscribers WHERE status="
                                            "'subscribed'")}
        except sqlite3.Error:
            return set()
    finally:
        c.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the sink ---------------------------------------------------------------------------
#
# script(sink, address, try_number, session) -> action, one of
#   "ok"                 keep, 250
#   "rcpt:<reply>"       answer RCPT with <reply> (421 closes)
#   "data:<reply>"       not kept, answer the dot with <reply> (421 closes)
#   "drop"               not kept, drop the line after the dot
#   "keep-drop"          KEEP, then drop the line before the reply
#   "keep-hang"          KEEP, then never answer (until the client goes)
#   "keep-reply:<line>"  KEEP, then answer the dot with a raw <line>
# mail(sink, session) -> "" or a reply to MAIL (421 closes)
# rset(sink, session) -> "" or a reply to RSET (421 closes)


def _close_soon(server: object) -> None:
    asyncio.get_running_loop().call_later(0.01, server.transport.close)  # type: ignore


@dataclass
class Sink:
    script: object = None
    mail: object = None
    rset: object = None
    auth_required: bool = False
    copies: Counter[str] = field(default_factory=Counter)
    msgids: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    rcpt_tries: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    transactions: int = 0
    first_seen: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Sink:
        self.port = free_port()
        kw: dict[str, object] = {}
        if self.auth_required:
            kw = dict(auth_required=True, auth_require_tls=False,
                      authenticator=lambda *a: False)
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port,
                                     data_size_limit=0, enable_SMTPUTF8=True, **kw)
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def vanish(self) -> None:
        self.controller.server.close()

    # handler hooks
    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        session.kept = 0
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa
        reply = self.mail(self, session) if self.mail else ""
        if reply:
            if reply.startswith("421"):
                _close_soon(server)
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RSET(self, server, session, envelope):  # noqa
        reply = self.rset(self, session) if self.rset else ""
        if reply:
            if reply.startswith("421"):
                _close_soon(server)
            return reply
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa
        a = address.lower()
        with self.lock:
            self.rcpt_tries[a] += 1
            n = self.rcpt_tries[a]
        action = self.script(self, a, n, session) if self.script else "ok"
        envelope.action = action
        if action.startswith("rcpt:"):
            reply = action[5:]
            if reply.startswith("421"):
                _close_soon(server)
            return reply
        envelope.rcpt_tos.append(a)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa
        action = getattr(envelope, "action", "ok")
        with self.lock:
            self.transactions += 1
        if action.startswith("data:"):
            if action[5:].startswith("421"):
                _close_soon(server)
            return action[5:]
        if action == "drop":
            server.transport.abort()
            return "421 dropped"
        data = envelope.original_content or b""
        mid = ""
        for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                mid = line[11:].strip().decode()
        with self.lock:
            for r in envelope.rcpt_tos:
                self.copies[r] += 1
                self.msgids[r].add(mid)
                self.first_seen.setdefault(r, time.monotonic())
        session.kept = getattr(session, "kept", 0) + 1
        if action == "keep-drop":
            server.transport.abort()
            return "421 dropped"
        if action == "keep-hang":
            await asyncio.sleep(3600)
            return "250 late"
        if action.startswith("keep-reply:"):
            return action[11:]
        return "250 2.0.0 queued"

    def report(self) -> dict[str, object]:
        with self.lock:
            most = self.copies.most_common(1)
            return {"received": sum(self.copies.values()), "addresses": len(self.copies),
                    "max_copies": most[0][1] if most else 0,
                    "max_addr": most[0][0] if most else "",
                    "over1": sum(1 for v in self.copies.values() if v > 1),
                    "connections": self.connections,
                    "rcpt_max": max(self.rcpt_tries.values(), default=0),
                    "rcpt_total": sum(self.rcpt_tries.values())}


def wait_for(pred, timeout: float = 20.0, step: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return False


def missing(db: Path | str, sink: Sink) -> int:
    """Subscribed addresses the sink never received."""
    return len(subscribed(db) - set(sink.copies))


RESULTS: list[tuple[str, str, str]] = []


def row(name: str, observed: str, verdict: str) -> None:
    RESULTS.append((name, observed, verdict))
    print(f"| {name} | {observed} | {verdict} |", flush=True)


if __name__ == "__main__":
    ensure_project()
    print(PROJ, file=sys.stderr)
