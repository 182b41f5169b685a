"""Benchmark of ``publisher send`` (not a test): messages per second and peak memory.

Sends to a local aiosmtpd sink that counts and discards: 10,000 messages for the
rate, then 100,000 for memory.  The sink runs in its own process, so the figures
are the sender's (the sink, pure Python too, may well be the slower side).

Then the cost of DKIM: sends of ``--sign-count`` messages unsigned, signed with a
2048-bit RSA key and with an Ed25519 key (and a VERP return path, as a real send
with a bounce domain), in ``--sign-rounds`` interleaved rounds; the signed rate as
a share of the unsigned one is the median of each round's own ratio.  Each is
measured over 1 and 2 connections (``--sign-connections``), against the instant
sink and against a sink that answers every command ``--relay-ms`` late, as a
relay on the network does (1 ms: one on the LAN; 20 ms: a remote one), with
``--relay-count`` messages a send.

    .venv/bin/python bench/send_bench.py [--count 10000] [--memory-count 100000]
                                         [--sign-count 5000] [--sign-rounds 3]
                                         [--relay-ms 1 ...] [--relay-count 1000]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT / "tests"))
sys.path.insert(0, str(PROJECT / "bench"))

from sending import Sink, high_water_kb  # noqa: E402

from publisher.deliver import csv_import, dkim  # noqa: E402
from send_support import PNG, fake_eml  # noqa: E402


def make_store(path: Path, n: int) -> None:
    csv_file = path.with_suffix(".csv")
    with csv_file.open("w", encoding="utf-8") as out:
        out.write("email,name\n")
        for i in range(n):
            out.write(f"reader{i:06d}@example.org,Reader {i} 독자\n")
    csv_import.import_csv(csv_file, path)


def run(workdir: Path, count: int, connections: int,
        extra_env: dict[str, str] | None = None, relay_ms: float = 0.0
        ) -> tuple[float, float, float, float]:
    """Send ``count`` messages; (messages per second, peak RSS in MB, the sender's and
    the sink's CPU time per message in ms).  ``extra_env``: more settings (DKIM, the
    bounce domain); ``relay_ms``: the sink's delay before each reply."""
    db = workdir / f"bench-{count}-{connections}.sqlite"
    db.unlink(missing_ok=True)
    make_store(db, count)
    sink = Sink(reply_delay=relay_ms / 1000)
    env = {**os.environ, "PUBLISHER_SMTP_HOST": "127.0.0.1",
           "PUBLISHER_SMTP_PORT": str(sink.port),
           "PUBLISHER_SMTP_TLS": "none", "PUBLISHER_SECRET": "bench-secret-0123456789",
           **(extra_env or {})}
    cpu_before = _children_cpu()
    start = time.perf_counter()
    log = workdir / "send.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "publisher", "send", "2023-08", "--db", str(db),
             "--issues", str(workdir / "issues"), "--dist", str(workdir / "dist"),
             "--connections", str(connections)], env=env, stderr=err)
        peak_kb = 0
        while proc.poll() is None:  # the sender's own high-water mark, from /proc
            peak_kb = max(peak_kb, high_water_kb(proc.pid))
            time.sleep(0.2)
    stderr = log.read_text()
    wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu_before
    received = sink.stop()
    sink_cpu = _children_cpu() - cpu_before - cpu
    if proc.returncode != 0:
        sys.exit(f"send failed:\n{stderr}")
    found = re.search(r"(\d+) sent, .* in ([\d.]+) s", stderr)
    assert found, stderr
    sent, elapsed = int(found.group(1)), float(found.group(2))
    assert sent == count == received, (sent, count, received)
    sys.stderr.write(f"  wall {wall:.1f} s with start-up and ledger set-up; the sender's CPU "
                     f"{cpu * 1000 / count:.2f} ms per message, the sink's "
                     f"{sink_cpu * 1000 / count:.2f} ms\n")
    return sent / elapsed, peak_kb / 1024, cpu * 1000 / count, sink_cpu * 1000 / count


def signing(workdir: Path, count: int, rounds: int, connections: list[int],
            relays: list[float], relay_count: int) -> None:
    """Unsigned, RSA-signed and Ed25519-signed sends, interleaved; the rates and ratios,
    for each sink (instant, then each relay delay) and number of connections."""
    keys = workdir / "keys"
    modes: dict[str, dict[str, str]] = {"unsigned": {}}
    for algorithm in (dkim.RSA, dkim.ED25519):
        key = dkim.keygen(keys, f"bench-{algorithm}", "webzine.example.org", algorithm)
        modes[f"signed {algorithm}"] = {
            "PUBLISHER_DKIM_KEY": str(key.path), "PUBLISHER_DKIM_SELECTOR": f"bench-{algorithm}",
            "PUBLISHER_DKIM_DOMAIN": "webzine.example.org",
            "PUBLISHER_BOUNCE_DOMAIN": "bounces.webzine.example.org"}
    sys.stderr.write(f"signing: load average {_load()} at the start\n")
    for relay_ms, n in [(0.0, count), *((ms, relay_count) for ms in relays)]:
        sink = f"relay {relay_ms:g} ms" if relay_ms else "instant sink"
        for conns in connections:
            rates: dict[str, list[float]] = {name: [] for name in modes}
            cpu: dict[str, list[float]] = {name: [] for name in modes}
            sink_cpu: list[float] = []
            for _ in range(rounds):  # interleaved: a busy moment slows a whole round alike
                for name, env in modes.items():
                    rate, _, ms, sink_ms = run(workdir, n, conns, env, relay_ms)
                    rates[name].append(rate)
                    cpu[name].append(ms)
                    sink_cpu.append(sink_ms)
            sys.stderr.write(f"{n} messages, {sink}, {conns} connection(s): the sink's CPU "
                             f"{statistics.median(sink_cpu):.2f} ms a message\n")
            for name, values in rates.items():
                line = (f"{n} messages, {sink}, {conns} connection(s), {name}: "
                        f"{statistics.median(values):.0f} messages/s, the sender's CPU "
                        f"{statistics.median(cpu[name]):.2f} ms a message")
                if name != "unsigned":
                    ratios = [a / b for a, b in zip(values, rates["unsigned"], strict=True)]
                    line += (f", {statistics.median(ratios):.0%} of unsigned "
                             f"({min(ratios):.0%} - {max(ratios):.0%})")
                sys.stderr.write(line + "\n")
            sys.stderr.write(f"  (load average {_load()})\n")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--memory-count", type=int, default=100_000)
    parser.add_argument("--connections", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--sign-count", type=int, default=5_000,
                        help="messages of each signed and unsigned send (0: none)")
    parser.add_argument("--sign-rounds", type=int, default=3)
    parser.add_argument("--sign-connections", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--relay-ms", type=float, nargs="*", default=[1.0],
                        help="the relays' delay before each reply, in ms (default 1: a relay "
                             "on the LAN; 20: a remote one; none: the instant sink only)")
    parser.add_argument("--relay-count", type=int, default=1_000,
                        help="messages of each send to a relay (default 1,000)")
    parser.add_argument("--image-kb", type=int, default=0,
                        help="embed a cid image this large in the stand-in email (default: "
                             "none, images linked)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="publisher-bench-") as tmp:
        workdir = Path(tmp)
        shutil.copytree(PROJECT / "issues", workdir / "issues")
        eml = workdir / "dist" / "2023-08" / "email.eml"
        eml.parent.mkdir(parents=True)
        built = PROJECT / "dist" / "2023-08" / "email.eml"
        if built.exists():
            eml.write_bytes(built.read_bytes())
        else:  # a stand-in of newsletter size: ~35 KB of text and HTML
            image = PNG + random.Random(1).randbytes(args.image_kb * 1024)
            eml.write_bytes(fake_eml(padding=120, image=image))
        kind = "built" if built.exists() else "stand-in"
        sys.stderr.write(f"email.eml: {eml.stat().st_size / 1024:.0f} KB ({kind})\n")
        for connections in args.connections:
            rate, peak, *_ = run(workdir, args.count, connections)
            sys.stderr.write(f"{args.count} messages, {connections} connection(s): "
                             f"{rate:.0f} messages/s, peak RSS {peak:.0f} MB\n")
        if args.memory_count:
            rate, peak, *_ = run(workdir, args.memory_count, 1)
            sys.stderr.write(f"{args.memory_count} messages, 1 connection: {rate:.0f} "
                             f"messages/s, peak RSS {peak:.0f} MB\n")
        if args.sign_count:
            signing(workdir, args.sign_count, args.sign_rounds, args.sign_connections,
                    args.relay_ms, args.relay_count)


if __name__ == "__main__":
    main()
