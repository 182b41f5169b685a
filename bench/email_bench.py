"""How long the email of an issue takes to build, and premailer's share of it.

    .venv/bin/python bench/email_bench.py [MONTH]      (make bench-email)

Times the email renderer in this process (reading the issue not included):
the imports of premailer (with cssutils and requests) and inscriptis are
timed apart, the first run pays the rest of the warm-up, the following runs
are the steady state; each stage is timed by wrapping the
function that does it.  Then a fresh ``publisher build -f email --force``
process, wall time, as an editor sees it.  Also the sizes of the outputs, with
images linked (the default) and embedded.  A benchmark, not a test: it never
fails on a slow figure.
"""

from __future__ import annotations

import functools
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

RUNS = 7


def say(line: str) -> None:
    sys.stdout.write(line + "\n")


def main() -> None:
    month_text = sys.argv[1] if len(sys.argv) > 1 else "2023-08"
    start = time.perf_counter()
    from publisher import model
    from publisher.render.base import BuildContext
    from publisher.render.email import images as email_images
    from publisher.render.email import renderer as email
    from publisher.source.reader import read_issue

    issue = read_issue(ROOT / "issues", model.Month.parse(month_text))
    read_time = time.perf_counter() - start

    imports = {}
    for name in ("premailer", "inscriptis"):
        t0 = time.perf_counter()
        __import__(name)
        imports[name] = time.perf_counter() - t0

    stages: dict[str, list[float]] = defaultdict(list)

    def timed(module: Any, name: str, label: str) -> None:
        original: Callable[..., Any] = getattr(module, name)

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                stages[label].append(time.perf_counter() - t0)

        setattr(module, name, wrapper)

    timed(email, "inline_css", "premailer (inline CSS)")
    timed(email, "fold_lines", "fold lines")
    timed(email, "text_part", "text part (inscriptis)")
    timed(email, "build_message", "MIME message")
    timed(email, "_render", "Jinja2 render")
    timed(email_images.EmailImages, "_encode_file", "images (Pillow)")

    totals = []
    per_run: list[dict[str, float]] = []
    for _ in range(RUNS):
        stages.clear()
        context = BuildContext(issue=issue, layouts=ROOT / "layouts")
        t0 = time.perf_counter()
        outputs = email.EmailRenderer().render(context)
        totals.append(time.perf_counter() - t0)
        per_run.append({label: sum(times) for label, times in stages.items()})

    say(f"email build of {month_text} (reading the issue: {read_time:.3f} s, not counted)")
    say("  imports, once per process: " + ", ".join(
        f"{name} {seconds:.3f} s" for name, seconds in imports.items()))
    say(f"  first run: {totals[0]:.3f} s")
    steady = statistics.median(totals[1:])
    say(f"  steady state, median of {RUNS - 1}: {steady:.3f} s")
    labels = list(per_run[0])
    for label in labels:
        first = per_run[0].get(label, 0.0)
        median = statistics.median(run.get(label, 0.0) for run in per_run[1:])
        say(f"    {label:<24} first {first:6.3f} s   steady {median:6.3f} s "
              f"({100 * median / steady:4.1f} %)")
    premailer = "premailer (inline CSS)"
    say(f"  premailer's share: {100 * per_run[0][premailer] / totals[0]:.0f} % of the first "
          f"run, {100 * statistics.median(r[premailer] for r in per_run[1:]) / steady:.0f} % "
          "steady")

    say("  outputs (images linked, the default):")
    for out in outputs:
        say(f"    {out.name:<48} {len(out.data):>8} bytes")
    embedded = email.EmailRenderer(email.EmailSettings(images="embed")).render(
        BuildContext(issue=issue, layouts=ROOT / "layouts"))
    eml = next(out for out in embedded if out.name == "email.eml")
    say(f"    email.eml with images embedded                   {len(eml.data):>8} bytes")

    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "publisher", "build", "-q", month_text, "-f", "email",
                   "--force", "--issues", str(ROOT / "issues"), "--layouts",
                   str(ROOT / "layouts"), "--dist", tmp]
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run(command, check=True, cwd=ROOT)
            times.append(time.perf_counter() - t0)
    say(f"  a fresh `publisher build {month_text} -f email --force`: "
          f"{statistics.median(times):.3f} s (median of 3, wall)")


if __name__ == "__main__":
    main()
