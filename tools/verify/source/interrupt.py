"""Ctrl-C / SIGTERM during a build, with default signal dispositions (a terminal's Ctrl-C hits the group).
usage: interrupt.py BASE SIG DELAY..."""
import hashlib, os, shutil, signal, subprocess, sys, time
from pathlib import Path
P = "/work/wt/v12/.venv/bin/publisher"
base, sig = sys.argv[1], getattr(signal, "SIG" + sys.argv[2])
def snap(d):
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(d).rglob("*")) if p.is_file()}
for delay in map(float, sys.argv[3:]):
    w = Path("/tmp/int-work"); shutil.rmtree(w, ignore_errors=True); shutil.copytree(base, w, symlinks=True)
    with open(w / "issues/2023-09/articles/01-story-0.md", "a") as f: f.write(f"\nx {delay}\n")
    before = snap(w / "dist")
    def reset(): signal.signal(signal.SIGINT, signal.SIG_DFL); signal.signal(signal.SIGTERM, signal.SIG_DFL)
    p = subprocess.Popen([P, "build", "2023-09"], cwd=w, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True, preexec_fn=reset, text=True)
    time.sleep(delay)
    os.killpg(p.pid, sig)
    out, _ = p.communicate(timeout=120)
    time.sleep(1)
    alive = subprocess.run(["pgrep", "-s", str(p.pid)], capture_output=True, text=True).stdout.split()
    if alive:
        info = subprocess.run(["ps", "-o", "pid,ppid,stat,etime,args", "-p", ",".join(alive)], capture_output=True, text=True).stdout
        time.sleep(8)
        later = subprocess.run(["pgrep", "-s", str(p.pid)], capture_output=True, text=True).stdout.split()
        alive = [info.strip().replace("\n", " / "), "after 9s still:", later]
    after = snap(w / "dist")
    extra = [k for k in after if k not in before]
    state = "unchanged" if after == before else f"changed {sum(after.get(k) != v for k, v in before.items())} files, new {extra}"
    lines = [l for l in out.splitlines() if "preflight" not in l and not l.startswith("wrote")]
    print(f"SIG{sys.argv[2]} after {delay}s: rc={p.returncode} tb={'Traceback' in out} dist={state} still-alive={alive} last={lines[-2:] if lines else []}")
