"""Benchmark of ``publisher subscribers import`` (not a test): wall time and peak memory.

Writes a CSV of 500,000 rows (a few duplicates and bad rows among them), then
imports it with a fresh ``publisher`` process three ways: the whole file
refused for its bad rows (nothing changes), ``--skip-bad`` into a new store, and
the same file again into the full store (every row already there).  Peak memory
is the importing process's own high-water mark (``ru_maxrss`` from ``wait4``).

    .venv/bin/python bench/import_bench.py [--rows 500000] [--src DIR]

``--src DIR`` runs another checkout's ``src/`` (to compare with an older version).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
BAD_EVERY = 50_000  # one bad row in so many: the refused import reports each


def write_csv(path: Path, rows: int) -> int:
    """``rows`` data rows; returns how many are bad."""
    bad = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("email,name\n")
        for i in range(rows):
            if i % BAD_EVERY == BAD_EVERY - 1:
                out.write(f"not-an-address-{i},Bad {i}\n")
                bad += 1
            elif i % 1000 == 999:  # a duplicate of the row before, in other case
                out.write(f"READER{i - 1:07d}@Example.org,Reader {i - 1} 독자\n")
            else:
                out.write(f"reader{i:07d}@example.org,Reader {i} 독자\n")
    return bad


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """(wall seconds, peak RSS in MB, exit status, stderr's last line) of one process."""
    with tempfile.TemporaryFile(mode="w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = err.read().splitlines()
    return wall, usage.ru_maxrss / 1024, proc.returncode, lines[-1] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--src", type=Path, default=PROJECT / "src",
                        help="the src/ folder whose publisher to run (default: this one)")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(args.src.resolve())}
    with tempfile.TemporaryDirectory(prefix="publisher-bench-") as tmp:
        work = Path(tmp)
        csv_file = work / "readers.csv"
        bad = write_csv(csv_file, args.rows)
        size = csv_file.stat().st_size / 2**20
        sys.stderr.write(f"{args.rows} rows ({bad} bad), {size:.0f} MB of CSV; "
                         f"publisher from {args.src}\n")
        db = work / "subscribers.sqlite"
        base = [sys.executable, "-m", "publisher", "subscribers", "import", str(csv_file),
                "--db", str(db)]
        for label, extra, expect in (("refused (bad rows: nothing changes)", [], 1),
                                     ("--skip-bad, new store", ["--skip-bad"], 0),
                                     ("--skip-bad, all already there", ["--skip-bad"], 0)):
            wall, peak, status, last = run([*base, *extra], env)
            if status != expect:
                sys.exit(f"import exited {status}, not {expect}: {last}")
            sys.stderr.write(f"  {label:<38} {wall:6.1f} s, peak RSS {peak:4.0f} MB\n")


if __name__ == "__main__":
    main()
