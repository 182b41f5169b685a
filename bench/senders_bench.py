"""Benchmark of several senders (not a test): ``publisher send`` by 1, 2 and 4 sender
processes on one mailing, SQLite against PostgreSQL; messages per second and the peak
memory of each sender.

Each sender has a sink of its own (an aiosmtpd process that counts and discards), so
that the sink keeps up as far as the machine lets it.  Two kinds of sink:

- ``instant``: replies at once: the senders' CPU is the limit (on a 2-core machine, 4
  senders, their sinks and the database share 2 cores);
- ``remote``: replies after ``--latency`` ms, as a relay across a network does: each
  sender mostly waits, and several senders overlap their waits.

SQLite holds one sender per mailing (a second is refused), so it has one figure per
sink.  PostgreSQL is a throwaway server (tests/pg_support.py) with the durability of
SQLite's WAL with ``synchronous=NORMAL``: fsync on, commits not waited for
(``synchronous_commit=off``).

    .venv/bin/python bench/senders_bench.py [--count 100000] [--remote-count 5000]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT / "tests"))
sys.path.insert(0, str(PROJECT / "bench"))

from sending import Sink, high_water_kb  # noqa: E402

import pg_support  # noqa: E402
from publisher.deliver import csv_import  # noqa: E402
from send_support import fake_eml  # noqa: E402


def make_csv(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.write("email,name\n")
        for i in range(n):
            out.write(f"reader{i:06d}@example.org,Reader {i} 독자\n")
    return path


def run(workdir: Path, store: str, senders: int, delay: float) -> tuple[float, list[float], float]:
    """One mailing by ``senders`` processes; (messages/s, peak RSS MB per sender, wall s)."""
    sinks = [Sink(delay) for _ in range(senders)]
    env = {**os.environ, "PUBLISHER_SMTP_HOST": "127.0.0.1", "PUBLISHER_SMTP_TLS": "none",
           "PUBLISHER_SECRET": "bench-secret-0123456789"}
    env.pop("PUBLISHER_DATABASE_URL", None)
    logs = [workdir / f"send-{i}.log" for i in range(senders)]
    start = time.perf_counter()
    procs = []
    for i, sink in enumerate(sinks):
        with logs[i].open("w") as err:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "publisher", "send", "2023-08", "--db", store,
                 "--issues", str(workdir / "issues"), "--dist", str(workdir / "dist")],
                env={**env, "PUBLISHER_SMTP_PORT": str(sink.port)}, stderr=err))
    peaks = [0] * senders
    while any(p.poll() is None for p in procs):
        for i, proc in enumerate(procs):
            if proc.poll() is None:
                peaks[i] = max(peaks[i], high_water_kb(proc.pid))
        time.sleep(0.2)
    wall = time.perf_counter() - start
    received = sum(sink.stop() for sink in sinks)
    sent, elapsed = 0, 0.0
    for proc, log in zip(procs, logs, strict=True):
        text = log.read_text()
        if proc.returncode != 0:
            sys.exit(f"a sender failed:\n{text}")
        found = re.search(r"(\d+) sent, .* in ([\d.]+) s", text)
        assert found, text
        sent += int(found.group(1))
        elapsed = max(elapsed, float(found.group(2)))
    assert sent == received, (sent, received)
    return sent / elapsed, [p / 1024 for p in peaks], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000,
                        help="subscribers for the instant sink (default 100,000)")
    parser.add_argument("--remote-count", type=int, default=5_000,
                        help="subscribers for the remote sink (default 5,000)")
    parser.add_argument("--latency", type=float, default=20.0,
                        help="the remote sink's reply time in ms (default 20)")
    parser.add_argument("--senders", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"],
                        choices=["sqlite", "postgres"])
    parser.add_argument("--sinks", nargs="+", default=["instant", "remote"],
                        choices=["instant", "remote"])
    args = parser.parse_args()
    pg_support.SETTINGS.update(fsync="on", full_page_writes="on", wal_level="replica",
                               max_wal_senders="10")
    server = pg_support.start_server()
    try:
        with tempfile.TemporaryDirectory(prefix="publisher-bench-") as tmp:
            workdir = Path(tmp)
            shutil.copytree(PROJECT / "issues", workdir / "issues")
            eml = workdir / "dist" / "2023-08" / "email.eml"
            eml.parent.mkdir(parents=True)
            eml.write_bytes(fake_eml(padding=120))
            sys.stderr.write(f"email.eml: {eml.stat().st_size / 1024:.0f} KB (stand-in); "
                             f"{os.cpu_count()} CPU(s)\n")
            for sink, count, delay in (("instant", args.count, 0.0),
                                       ("remote", args.remote_count, args.latency / 1000)):
                if sink not in args.sinks:
                    continue
                csv_file = make_csv(workdir / f"readers-{count}.csv", count)
                one = {}
                for backend in args.backends:
                    for senders in args.senders:
                        if backend == "sqlite" and senders > 1:
                            continue  # one sender per SQLite mailing
                        if backend == "sqlite":
                            store = str(workdir / f"s-{sink}-{senders}.sqlite")
                        else:
                            store = server.url(server.create_database())
                        csv_import.import_csv(csv_file, store)
                        rate, peaks, wall = run(workdir, store, senders, delay)
                        one.setdefault(backend, rate)
                        sys.stderr.write(
                            f"{sink:7} sink, {count} subscribers, {backend:8} {senders} "
                            f"sender(s): {rate:6.0f} messages/s ({rate / one[backend]:.2f}x one "
                            f"sender), wall {wall:.0f} s, peak RSS per sender "
                            f"{max(peaks):.0f} MB\n")
                if "sqlite" in one and "postgres" in one:
                    sys.stderr.write(f"{sink:7} sink: one PostgreSQL sender at "
                                     f"{one['postgres'] / one['sqlite']:.0%} of one SQLite "
                                     "sender\n")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
