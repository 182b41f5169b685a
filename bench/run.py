"""``make bench``: how fast the build is, measured on this machine, in one run.

Prints a table and writes it as JSON to ``dist/bench/results.json``.  Every
figure is the median wall time of a few runs of a fresh ``publisher`` process
(so imports count, as they do for an editor), on copies of the sources in a
temporary folder.  Nothing here is a test: it never fails on a slow figure.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PUBLISHER = [sys.executable, "-m", "publisher"]
MONTH = "2023-08"
RUNS = int(os.environ.get("BENCH_RUNS", "3"))  # runs of each figure; the median is kept
#: Rounds of the compared builds (each round runs every one of them once, in turn).
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))


def timed(command: list[str], cwd: Path, runs: int = RUNS,
          before: Callable[[], None] | None = None) -> float:
    """Median wall time of ``command``, in seconds."""
    times = []
    for _ in range(runs):
        if before:
            before()
        start = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"bench: {' '.join(command)} failed:\n{done.stderr}")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(commands: dict[str, list[str]], cwd: Path,
                runs: int = ROUNDS) -> dict[str, list[float]]:
    """Wall times of each command, run in turn (A B C A B C ...), so that a busy moment
    of a shared machine slows all of one round alike; compared figures come from here."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            times[name].append(timed(command, cwd, runs=1))
    return times


def paired(numerators: list[float], denominators: list[float]) -> tuple[float, float, float]:
    """Median, lowest and highest of the per-round ratios of two interleaved figures.

    Each round's ratio compares runs made moments apart, so the machine's mood
    cancels out of it; the median of those is steadier than a ratio of medians.
    """
    ratios = [a / b for a, b in zip(numerators, denominators, strict=True)]
    return statistics.median(ratios), min(ratios), max(ratios)


def build_cmd(work: Path, month: str = MONTH, *extra: str) -> list[str]:
    return [*PUBLISHER, "build", "-q", month, "--issues", str(work / "issues"),
            "--layouts", str(ROOT / "layouts"), "--dist", str(work / "dist"), *extra]


def formats() -> list[str]:
    sys.path.insert(0, str(ROOT / "src"))
    from publisher import render

    return list(render.formats())


def synthetic_issue(work: Path, month: str, articles: int) -> None:
    """An issue of ``articles`` copies of the 2023-08 article (as the next month)."""
    source = ROOT / "issues" / MONTH
    target = work / "issues" / month
    shutil.copytree(source, target)
    (target / "issue.toml").write_text(
        (source / "issue.toml").read_text(encoding="utf-8").replace(
            f'month = "{MONTH}"', f'month = "{month}"').replace(
            "date = 2023-08-01", f"date = {month}-01"), encoding="utf-8")
    article = target / "articles" / "korea-security-ties.md"
    text = article.read_text(encoding="utf-8")
    article.unlink()
    for n in range(1, articles + 1):
        (target / "articles" / f"{n:02d}-story-{n}.md").write_text(
            text.replace("title: Korea’s Push", f"title: Story {n} — Korea’s Push"),
            encoding="utf-8")


def long_archive(work: Path, count: int) -> None:
    """``count`` archive-only issues before 2023-08 (replacing the five there are)."""
    for folder in (work / "issues").glob("20*"):
        if folder.name < MONTH:
            shutil.rmtree(folder)
    year, month = 2023, 7
    for _ in range(count):
        name = f"{year:04d}-{month:02d}"
        (work / "issues" / name).mkdir()
        (work / "issues" / name / "issue.toml").write_text(
            f'month = "{name}"\ncover_story = "Cover story of {name}"\n', encoding="utf-8")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)


#: The per-format benchmarks, each measured in its own process (their output is reported).
SUB_BENCHES = {
    "both PDFs vs one WeasyPrint render (in process, best of 5)": ["bench/pdf_bench.py", MONTH],
    "EPUB step vs pandoc": ["bench/epub_vs_pandoc.py", MONTH],
    "email build and premailer's share": ["bench/email_bench.py", MONTH],
    "sending to a local aiosmtpd sink": ["bench/send_bench.py"],
    "1, 2 and 4 senders, SQLite vs PostgreSQL": ["bench/senders_bench.py"],
    "importing a CSV of 500,000 subscribers": ["bench/import_bench.py"],
    "web edition: save to reload in the preview; publisher site of 100 issues":
        ["bench/web_bench.py"],
}


def sub_bench(script: list[str]) -> str:
    done = subprocess.run([sys.executable, *script], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    return (done.stdout + done.stderr).strip() or f"exit status {done.returncode}"


def fresh_copy(base: Path, name: str) -> Path:
    work = base / name
    shutil.copytree(ROOT / "issues", work / "issues")
    return work


def machine() -> dict[str, str | int]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"python": platform.python_version(), "system": platform.platform(),
            "cpus": os.cpu_count() or 0, "cpu": model}


FULL = "full build 2023-08 (cold process)"
SINGLE = "single WeasyPrint render of the print HTML (cold process)"
ARCHIVE = "full build with 100 archive entries"
ONE = "1-article issue"
TWENTY = "20-article issue"


def main() -> int:
    results: dict[str, float] = {}
    fmts = formats()
    with tempfile.TemporaryDirectory(prefix="publisher-bench-") as tmp:
        base = Path(tmp)
        work = fresh_copy(base, "main")
        for fmt in fmts:
            results[f"{fmt} alone"] = timed(build_cmd(work, MONTH, "--force", "--format", fmt),
                                            ROOT)
        subprocess.run(build_cmd(work), cwd=ROOT, check=True)
        results["unchanged rebuild (incl. process start)"] = timed(build_cmd(work), ROOT, 5)

        one = fresh_copy(base, "one")
        synthetic_issue(one, "2023-09", 1)
        twenty = fresh_copy(base, "twenty")
        synthetic_issue(twenty, "2023-09", 20)

        archive = fresh_copy(base, "archive")
        long_archive(archive, 100)
        baseline = [sys.executable, "-c", "import sys; sys.path.insert(0, 'bench'); "
                    f"import pdf_bench; pdf_bench.baseline('{MONTH}')"]
        rounds = interleaved({
            FULL: build_cmd(work, MONTH, "--force"),
            SINGLE: baseline,
            ARCHIVE: build_cmd(archive, MONTH, "--force"),
            ONE: build_cmd(one, "2023-09", "--force"),
            TWENTY: build_cmd(twenty, "2023-09", "--force"),
        }, ROOT)
    results.update({name: statistics.median(values) for name, values in rounds.items()})

    ratios = {
        "full build / single WeasyPrint render": paired(rounds[FULL], rounds[SINGLE]),
        "100 archive entries add": tuple(r - 1 for r in paired(rounds[ARCHIVE], rounds[FULL])),
        "20 articles vs 20 x 1 article": paired(rounds[TWENTY], [20 * t for t in rounds[ONE]]),
    }
    # BENCH_PARTS=0 skips the per-format and sending benchmarks (minutes, for the send).
    parts = os.environ.get("BENCH_PARTS", "1") != "0"
    details = {name: sub_bench(script) for name, script in SUB_BENCHES.items()} if parts else {}
    report = {"machine": machine(), "runs": RUNS, "rounds": ROUNDS, "seconds": results,
              "samples": rounds,
              "ratios": {name: {"median": mid, "lowest": low, "highest": high}
                         for name, (mid, low, high) in ratios.items()},
              "formats": fmts, "details": details}
    out = ROOT / "dist" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    width = max(len(k) for k in [*results, *ratios])
    lines = [f"machine: {report['machine']['cpu']} x{report['machine']['cpus']}, "
             f"Python {report['machine']['python']}", ""]
    lines += [f"{name:<{width}}  {value:8.3f} s" for name, value in results.items()]
    lines += ["", f"compared figures: median of {ROUNDS} interleaved rounds; ratios: median of "
              "the rounds' own ratios (lowest - highest)"]
    lines += [f"{name:<{width}}  {mid:+8.1%}  ({low:+.1%} - {high:+.1%})" if "add" in name
              else f"{name:<{width}}  {mid:8.2f} x  ({low:.2f} - {high:.2f})"
              for name, (mid, low, high) in ratios.items()]
    for name, text in details.items():
        lines += ["", f"-- {name}", text.rstrip()]
    sys.stdout.write("\n".join(lines) + f"\n\nwritten to {out / 'results.json'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
