"""Benchmark of ``publisher send`` (not a test): messages per second and peak memory.

Sends to a local aiosmtpd sink that counts and discards: 10,000 messages for the
rate, then 100,000 for memory.  The sink runs in its own process, so the figures
are the sender's (the sink, pure Python too, may well be the slower side).

Then the cost of DKIM: sends of ``--sign-count`` messages unsigned, signed with a
2048-bit RSA key and with an Ed25519 key (and a VERP return path, as a real send
with a bounce domain), in ``--sign-rounds`` interleaved rounds; the signed rate as
a share of the unsigned one is the median of each round's own ratio.

    .venv/bin/python bench/send_bench.py [--count 10000] [--memory-count 100000]
                                         [--sign-count 5000] [--sign-rounds 3]
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
        extra_env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Send ``count`` messages; (messages per second, peak RSS in MB, the sender's CPU
    time per message in ms).  ``extra_env``: more settings (DKIM, the bounce domain)."""
    db = workdir / f"bench-{count}-{connections}.sqlite"
    db.unlink(missing_ok=True)
    make_store(db, count)
    sink = Sink()
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
    if proc.returncode != 0:
        sys.exit(f"send failed:\n{stderr}")
    found = re.search(r"(\d+) sent, .* in ([\d.]+) s", stderr)
    assert found, stderr
    sent, elapsed = int(found.group(1)), float(found.group(2))
    assert sent == count == received, (sent, count, received)
    sys.stderr.write(f"  wall {wall:.1f} s with start-up and ledger set-up; the sender's CPU "
                     f"{cpu * 1000 / count:.2f} ms per message\n")
    return sent / elapsed, peak_kb / 1024, cpu * 1000 / count


def signing(workdir: Path, count: int, rounds: int) -> None:
    """Unsigned, RSA-signed and Ed25519-signed sends, interleaved; the rates and ratios."""
    keys = workdir / "keys"
    modes: dict[str, dict[str, str]] = {"unsigned": {}}
    for algorithm in (dkim.RSA, dkim.ED25519):
        key = dkim.keygen(keys, f"bench-{algorithm}", "webzine.example.org", algorithm)
        modes[f"signed {algorithm}"] = {
            "PUBLISHER_DKIM_KEY": str(key.path), "PUBLISHER_DKIM_SELECTOR": f"bench-{algorithm}",
            "PUBLISHER_DKIM_DOMAIN": "webzine.example.org",
            "PUBLISHER_BOUNCE_DOMAIN": "bounces.webzine.example.org"}
    rates: dict[str, list[float]] = {name: [] for name in modes}
    cpu: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(rounds):
        for name, env in modes.items():
            rate, _, ms = run(workdir, count, 1, env)
            rates[name].append(rate)
            cpu[name].append(ms)
    for name, values in rates.items():
        line = (f"{count} messages, 1 connection, {name}: {statistics.median(values):.0f} "
                f"messages/s, the sender's CPU {statistics.median(cpu[name]):.2f} ms a message")
        if name != "unsigned":
            ratios = [a / b for a, b in zip(values, rates["unsigned"], strict=True)]
            line += (f", {statistics.median(ratios):.0%} of unsigned ({min(ratios):.0%} - "
                     f"{max(ratios):.0%})")
        sys.stderr.write(line + "\n")


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
            rate, peak, _ = run(workdir, args.count, connections)
            sys.stderr.write(f"{args.count} messages, {connections} connection(s): "
                             f"{rate:.0f} messages/s, peak RSS {peak:.0f} MB\n")
        if args.memory_count:
            rate, peak, _ = run(workdir, args.memory_count, 1)
            sys.stderr.write(f"{args.memory_count} messages, 1 connection: {rate:.0f} "
                             f"messages/s, peak RSS {peak:.0f} MB\n")
        if args.sign_count:
            signing(workdir, args.sign_count, args.sign_rounds)


if __name__ == "__main__":
    main()
