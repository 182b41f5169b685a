"""The unsubscribe endpoint under attack and under a busy store, through the real
``publisher serve`` on 127.0.0.1.  Run: .venv/bin/python tools/verify/send/web_attacks.py"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).parent))
from harness import (PROJ, PUB, SECRET, Sink, addr, env, finish, free_port, ledger,
                     new_store, row, start, subscribed, wait_for)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from publisher.deliver.tokens import make_token  # noqa: E402

LIST = "korea"
SEC = ("X-Content-Type-Options", "Content-Security-Policy", "X-Frame-Options")


def serve(db: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    if not (PROJ / "dist/site/index.html").exists():
        subprocess.run([PUB, "site"], cwd=PROJ, capture_output=True, timeout=60)
    p = subprocess.Popen([PUB, "serve", "--port", str(port), "--db", str(db)], cwd=PROJ,
                         env=env(1), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    def up() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False
    assert wait_for(up, 15), p.stderr.read() if p.poll() is not None else "no server"
    return p, port


def req(port: int, method: str, target: str, body: bytes = b"", timeout: float = 20,
        headers: dict | None = None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t0 = time.monotonic()
    try:
        c.putrequest(method, target, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            c.putheader(k, v)
        if body or method == "POST":
            c.putheader("Content-Length", str(len(body)))
            c.putheader("Content-Type", "application/x-www-form-urlencoded")
        c.endheaders(body or None)
        r = c.getresponse()
        data = r.read()
        return r.status, dict(r.getheaders()), data, time.monotonic() - t0
    except Exception as exc:  # noqa: BLE001
        return f"EXC {exc!r}", {}, b"", time.monotonic() - t0
    finally:
        c.close()


def link(address: str, list_name: str = LIST, token_for: str | None = None) -> str:
    token = make_token(token_for if token_for is not None else address, list_name,
                       SECRET.encode())
    return "/unsubscribe?" + urlencode({"address": address, "token": token})


def short(res) -> str:
    status, headers, data, took = res
    missing = [h for h in SEC if h not in headers]
    return (f"{status} in {took:.1f}s, {len(data)} B"
            + (f", MISSING {missing}" if missing else "")
            + (", Allow=" + headers["Allow"] if "Allow" in headers else "")
            + (", Retry-After=" + headers["Retry-After"] if "Retry-After" in headers else ""))


def main() -> None:
    db = new_store("web", 300)
    p, port = serve(db)
    try:
        # a valid one-click POST, the GET that changes nothing
        r = req(port, "GET", link(addr(1)))
        still = addr(1) in subscribed(db)
        row("endpoint GET, valid token", short(r) + f"; still subscribed {still}",
            "holds" if r[0] == 200 and still and not short(r).count("MISSING") else "BROKEN")
        r = req(port, "POST", link(addr(1)), b"List-Unsubscribe=One-Click")
        gone = addr(1) not in subscribed(db)
        row("endpoint POST one-click", short(r) + f"; unsubscribed {gone}",
            "holds" if r[0] == 200 and gone and "MISSING" not in short(r) else "BROKEN")
        r = req(port, "POST", link(addr(2), "anotherlist"), b"List-Unsubscribe=One-Click")
        row("token for another list", short(r) + f"; still subscribed {addr(2) in subscribed(db)}",
            "holds" if r[0] == 400 and addr(2) in subscribed(db) else "BROKEN")
        for bad in ("not an address", "a\x00b@example.org", "x@", "@@", "a@b@c.org",
                    "\u202e@example.org", "x" * 300 + "@example.org"):
            r = req(port, "POST", link(bad), b"")
            row(f"valid token, invalid address {bad[:20]!r}", short(r),
                "holds" if r[0] == 400 else "BROKEN")
        # forged: token of one address, used for another
        r = req(port, "POST", "/unsubscribe?" + urlencode(
            {"address": addr(3), "token": make_token(addr(4), LIST, SECRET.encode())}))
        row("token of addr 4 used for addr 3", short(r),
            "holds" if r[0] == 400 and addr(3) in subscribed(db) else "BROKEN")
        # duplicate parameters: the first is used for both checks?
        q = (f"address={addr(5)}&address={addr(6)}&token="
             f"{make_token(addr(5), LIST, SECRET.encode())}")
        r = req(port, "POST", "/unsubscribe?" + q)
        row("duplicate address parameters", short(r) + f"; 5 gone {addr(5) not in subscribed(db)}"
            f", 6 gone {addr(6) not in subscribed(db)}",
            "holds" if addr(6) in subscribed(db) else "BROKEN")
        # methods
        for m in ("HEAD", "OPTIONS", "PUT", "DELETE", "PATCH", "TRACE", "FOO"):
            r = req(port, m, link(addr(7)))
            ok = (r[0] == 200 and not r[2]) if m == "HEAD" else (
                r[0] == 405 and "HEAD" in r[1].get("Allow", ""))
            row(f"endpoint {m}", short(r), "holds" if ok and "MISSING" not in short(r)
                else "BROKEN")
        r = req(port, "HEAD", "/index.html")
        row("site HEAD /index.html", short(r), "holds" if r[0] == 200 and not r[2] else "BROKEN")
        r = req(port, "PUT", "/index.html")
        row("site PUT /index.html", short(r), "holds" if r[0] == 405 and "HEAD" in
            r[1].get("Allow", "") else "BROKEN")
        # paths and NULs
        for target in ("/.%00./", "/%00", "/unsubscribe%00", "/unsubscribe/%00",
                       "/unsubscribe?address=%00&token=%00", "/%2e%2e/%2e%2e/etc/passwd",
                       "/..%2f..%2fetc/passwd", "/%ff%fe", "/" + "a/" * 600,
                       "/unsubscribe?address=%ff%fe&token=%c0%80"):
            r = req(port, "GET", target)
            row(f"GET {target[:40]}", short(r),
                "holds" if isinstance(r[0], int) and r[0] in (400, 404) and r[0] != 500
                and b"root:" not in r[2] else "BROKEN")
        # huge query strings
        for size in (8_000, 60_000, 70_000, 1_000_000):
            target = link(addr(8)) + "&x=" + "A" * size
            r = req(port, "POST", target, timeout=20)
            row(f"POST with a {size:,}-byte query", short(r),
                "holds" if isinstance(r[0], int) and r[0] != 500 and r[3] < 10 or
                isinstance(r[0], str) else "BROKEN")
        many = link(addr(9)) + "&" + "&".join(f"k{i}=v" for i in range(6000))
        r = req(port, "POST", many)
        row("POST with 6,000 parameters (~50 KB)", short(r),
            "holds" if isinstance(r[0], int) and r[0] != 500 and r[3] < 10 else "BROKEN")
        # a held write lock: 503 + Retry-After, then success when asked again
        c = sqlite3.connect(db, timeout=30, isolation_level=None)
        c.execute("BEGIN IMMEDIATE")
        r = req(port, "POST", link(addr(10)), b"List-Unsubscribe=One-Click")
        still = addr(10) in subscribed(db)
        c.execute("ROLLBACK")
        c.close()
        r2 = req(port, "POST", link(addr(10)), b"List-Unsubscribe=One-Click")
        gone = addr(10) not in subscribed(db)
        row("write lock held, POST, then POST again", f"first {short(r)} (still subscribed "
            f"{still}); again {short(r2)}; recorded {gone}",
            "holds" if r[0] == 503 and "Retry-After" in r[1] and r2[0] == 200 and gone
            else "BROKEN")
        # a lock held by a writer that never lets go: does the endpoint answer 503 within
        # a bounded time, every time, for concurrent clients?
        c = sqlite3.connect(db, timeout=30, isolation_level=None)
        c.execute("BEGIN EXCLUSIVE")
        out: list = []
        ts = [threading.Thread(target=lambda i=i: out.append(req(
            port, "POST", link(addr(20 + i)), b"List-Unsubscribe=One-Click"))) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        c.execute("ROLLBACK")
        c.close()
        codes = sorted(str(o[0]) for o in out)
        row("8 concurrent POSTs under BEGIN EXCLUSIVE", f"{codes}, slowest "
            f"{max(o[3] for o in out):.1f}s",
            "holds" if all(o[0] == 503 for o in out) else "BROKEN")
        # store missing: 503?
        os.rename(db, str(db) + ".away")
        r = req(port, "POST", link(addr(30)), b"List-Unsubscribe=One-Click")
        os.rename(str(db) + ".away", db)
        row("store missing, POST", short(r), "holds" if r[0] == 503 else "BROKEN")
    finally:
        p.send_signal(signal.SIGINT)
        try:
            out, err = p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        tb = err.count("Traceback")
        print(f"server log: {tb} traceback(s); last lines: {err.strip().splitlines()[-3:]}")


def during_send() -> None:
    """Unsubscribe through the endpoint while a send runs: never mailed after a 200."""
    db = new_store("web_send", 400)
    p, port = serve(db)
    try:
        with Sink() as sink:
            t0 = time.monotonic()
            s = start(db, sink.port, "--rate", "60")
            wait_for(lambda: sink.copies[addr(60)] > 0, 15)
            results = {}
            for i in range(150, 400, 10):  # 25 addresses still to come
                res = req(port, "POST", link(addr(i)), b"List-Unsubscribe=One-Click")
                results[addr(i)] = (*res, time.monotonic())
            r = finish(s, t0)
            mailed_after_200 = [a for a, res in results.items()
                                if res[0] == 200 and sink.copies[a] > 0
                                and sink.first_seen[a] > res[4]]
            codes = sorted({str(res[0]) for res in results.values()})
            slow = max(res[3] for res in results.values())
            ok = not mailed_after_200 and codes == ["200"] and r.rc == 0
            row("25 endpoint unsubscribes during a send", f"codes {codes}, slowest {slow:.2f}s; "
                f"mailed after their 200: {len(mailed_after_200)}; send rc {r.rc}; "
                f"mailed at all {sum(1 for a in results if sink.copies[a])}",
                "holds" if ok else "BROKEN")
    finally:
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=5)


if __name__ == "__main__":
    which = sys.argv[1:] or ["main", "during_send"]
    for w in which:
        globals()[w]()
