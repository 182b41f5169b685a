"""The command line: check, check --fix, new, and the make targets."""

from __future__ import annotations

import subprocess
import sys

from conftest import PROJECT

ARTICLE = "2023-08/articles/korea-security-ties.md"


def test_check_2023_08_passes(project_copy, cli):
    run = cli("check", "2023-08", paths=project_copy)
    assert run.status == 0, run.err
    assert "warning" not in run.err and "error" not in run.err
    assert "2023-08: 1 article(s), 5 archive entries: OK" in run.err


def test_mojibake_fails_check_and_fix_restores_only_it(project_copy, cli):
    path = project_copy.issues / ARTICLE
    original = path.read_text(encoding="utf-8")
    broken = original.replace("Korea’s nuclear", "Korea\u00a1\u00afs nuclear", 1)
    assert broken != original
    path.write_text(broken, encoding="utf-8")
    line = next(n for n, text in enumerate(broken.splitlines(), 1) if "Korea\u00a1\u00afs" in text)

    run = cli("check", "2023-08", paths=project_copy)
    assert run.status == 1
    (message,) = run.err_lines
    assert f"korea-security-ties.md:{line}:" in message and "mojibake" in message

    run = cli("check", "--fix", "2023-08", paths=project_copy)
    assert run.status == 0, run.err
    assert path.read_text(encoding="utf-8") == original


def test_new_scaffolds_an_issue_that_checks(project_copy, cli):
    run = cli("new", "2023-09", paths=project_copy)
    assert run.status == 0, run.err
    folder = project_copy.issues / "2023-09"
    assert (folder / "issue.toml").is_file() and (folder / "images").is_dir()
    assert list((folder / "articles").glob("*.md"))
    run = cli("check", "2023-09", "--strict", paths=project_copy)
    assert run.status == 0, run.err
    again = cli("new", "2023-09", paths=project_copy)
    assert again.status == 1 and "already exists" in again.err


def test_quiet_silences_progress(project_copy, cli):
    assert cli("check", "-q", "2023-08", paths=project_copy).err == ""


def test_help_lists_commands(cli):
    run = cli("--help")
    assert run.status == 0
    for command in ("check", "build", "new"):
        assert command in run.out


def test_make_without_month_prints_usage():
    result = subprocess.run(["make", "-s", "issue", "MONTH="], cwd=PROJECT, capture_output=True,
                            text=True, check=False)
    assert result.returncode != 0
    assert "usage: make issue MONTH=YYYY-MM" in result.stderr


def _command(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed ``publisher`` command, as an editor runs it (it exits without teardown)."""
    return subprocess.run([sys.executable, "-m", "publisher", *args], cwd=PROJECT,
                          capture_output=True, text=True, check=False)


def test_the_command_keeps_every_line_and_exit_status(project_copy):
    where = ["--issues", str(project_copy.issues), "--dist", str(project_copy.dist)]
    checked = _command("check", "2023-08", *where)
    assert checked.returncode == 0
    assert "2023-08: 1 article(s), 5 archive entries: OK" in checked.stderr
    bad_month = _command("build", "2023-13", *where)
    assert bad_month.returncode == 2
    assert bad_month.stderr.strip() == "error: month '2023-13' has no month 13: use 01 to 12"
    usage = _command("build", "2023-08", "--no-such-option")
    assert usage.returncode == 2 and "unrecognized arguments" in usage.stderr
    helped = _command("--help")
    assert helped.returncode == 0 and "build" in helped.stdout


def test_strict_fails_check_and_build_on_a_warning_and_writes_nothing(project_copy, cli):
    path = project_copy.issues / ARTICLE
    path.write_text(path.read_text(encoding="utf-8") + "\nA <b>bold</b> claim.\n",
                    encoding="utf-8")
    lenient = cli("check", "2023-08", paths=project_copy)
    assert lenient.status == 0 and "raw HTML" in lenient.err
    warnings = sum(line.startswith("warning: ") for line in lenient.err_lines)
    for command in ("check", "build"):
        run = cli(command, "2023-08", "--strict", paths=project_copy)
        assert run.status == 1, run.err
        assert "raw HTML" in run.err_lines[0]
        assert run.err_lines[-1] == f"error: {warnings} warning(s), and --strict fails on them"
    assert not (project_copy.dist / "2023-08").exists()
