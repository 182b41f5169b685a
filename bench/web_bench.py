"""``make bench-web``: the editor's loop and the site, timed.

* **save to reload**: ``publisher preview`` of the 20-article bench issue (the background
  builds of the PDF, EPUB and email on, as an editor has them), a page of it open in
  Chromium; an article is saved and the time until the page has reloaded by itself with
  the change is measured (median and worst of ``BENCH_SAVES`` saves; goal under 0.5 s).
* **publisher site**: 100 issues of 10 articles, their web editions built (not timed),
  then ``publisher site`` in a fresh process, search index included (goal under 10 s),
  and again with nothing changed.
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run

SAVES = int(os.environ.get("BENCH_SAVES", "7"))
ISSUES = int(os.environ.get("BENCH_SITE_ISSUES", "100"))


def save_to_reload(base: Path) -> tuple[list[float], list[float]]:
    from playwright.sync_api import sync_playwright

    work = run.fresh_copy(base, "preview")
    run.synthetic_issue(work, "2023-09", 20)
    server = subprocess.Popen(
        [*run.PUBLISHER, "preview", "2023-09", "--port", "0", "--issues", str(work / "issues"),
         "--layouts", str(run.ROOT / "layouts"), "--dist", str(work / "dist")],
        stderr=subprocess.PIPE, text=True, cwd=run.ROOT)
    try:
        assert server.stderr is not None
        url = None
        for line in server.stderr:
            found = re.search(r"http://127\.0\.0\.1:\d+/2023-09/", line)
            if found:
                url = found.group(0)
                break
        assert url, "publisher preview did not start"
        rebuilds: list[float] = []

        def read_log() -> None:
            for line in server.stderr or ():
                found = re.search(r"rebuilt in ([\d.]+) s", line)
                if found:
                    rebuilds.append(float(found.group(1)))

        threading.Thread(target=read_log, daemon=True).start()
        article = work / "issues" / "2023-09" / "articles" / "05-story-5.md"
        times = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
            tab = browser.new_page()
            tab.goto(url + "story-5/")
            tab.wait_for_timeout(500)
            text = article.read_text(encoding="utf-8")
            for n in range(SAVES):
                edited = text.replace("title: Story 5", f"title: Story 5 (save {n})")
                started = time.perf_counter()
                with tab.expect_navigation(timeout=20000):
                    article.write_text(edited, encoding="utf-8")
                tab.wait_for_function(f"document.querySelector('h1').textContent"
                                      f".includes('(save {n})')")
                times.append(time.perf_counter() - started)
                tab.wait_for_timeout(700)  # as an editor types on
            browser.close()
        return times, rebuilds[-len(times):]
    finally:
        server.terminate()
        server.wait(timeout=30)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def site_of_many(base: Path) -> tuple[tuple[float, float], tuple[float, float], int]:
    from publisher.build.builder import Paths, build
    from publisher.model import Month

    work = run.fresh_copy(base, "site")
    month = Month(2023, 9)
    months = []
    for _ in range(ISSUES):
        run.synthetic_issue(work, str(month), 10)
        months.append(month)
        month = Month(month.year + month.month // 12, month.month % 12 + 1)
    paths = Paths(work / "issues", run.ROOT / "layouts", work / "dist")
    for month in months:
        build(month, paths, ["web"], parallel=False)
    command = [*run.PUBLISHER, "site", "-q", "--issues", str(paths.issues), "--layouts",
               str(paths.layouts), "--dist", str(paths.dist)]
    timings = []
    for _ in range(2):  # wall and CPU time (a shared machine's load shows in the wall time)
        started, cpu = time.perf_counter(), _children_cpu()
        done = subprocess.run(command, cwd=run.ROOT, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"publisher site failed ({done.returncode}): {done.stderr.strip()}")
        timings.append((time.perf_counter() - started, _children_cpu() - cpu))
    pages = sum(1 for _ in (paths.dist / "site").rglob("*.html"))
    return timings[0], timings[1], pages


def main() -> int:
    sys.path.insert(0, str(run.ROOT / "src"))
    with tempfile.TemporaryDirectory(prefix="publisher-bench-web-") as tmp:
        base = Path(tmp)
        times, rebuilds = save_to_reload(base)
        first, again, pages = site_of_many(base) if ISSUES else ((0.0, 0.0), (0.0, 0.0), 0)
    sys.stdout.write(
        f"save to reload (20-article issue, {len(times)} saves): median "
        f"{statistics.median(times):.3f} s, best {min(times):.3f} s, worst {max(times):.3f} s "
        f"(goal < 0.5 s); of which the web edition's rebuild: median "
        f"{statistics.median(rebuilds or [0]):.3f} s\n"
        f"publisher site, {ISSUES} issues of 10 articles ({pages} pages, search index "
        f"included): {first[0]:.2f} s, CPU {first[1]:.2f} s (goal < 10 s); again, nothing "
        f"changed: {again[0]:.2f} s, CPU {again[1]:.2f} s\n"
        f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
