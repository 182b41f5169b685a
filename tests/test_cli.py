"""The command line: check, check --fix, new, the common options, a closed stdout, and the
make targets."""

from __future__ import annotations

import argparse
import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import LAYOUTS, PROJECT
from publisher.build.builder import Paths
from publisher.cli import issue as cli_issue
from publisher.cli import options
from publisher.cli.main import _parser
from publisher.errors import PublisherError

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


# -- the common options, everywhere --------------------------------------------------

#: A value for each positional argument, by its metavar.
POSITIONALS = {"MONTH": "2023-08", "FILE.csv": "readers.csv", "ADDRESS": "ann@example.org",
               "FROM": "old.sqlite", "TO": "postgresql://db.example.org/korea",
               "PATH": "bounces.mbox", "SELECTOR": "news2024", "DOMAIN": "example.org"}


def _leaf_commands() -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every command and action of the command line, found in the parser itself."""
    found: dict[tuple[str, ...], argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, words: tuple[str, ...]) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            found[words] = parser
        for action in subs:
            for name, child in action.choices.items():
                walk(child, (*words, name))

    walk(_parser(), ())
    return found


def _positionals(parser: argparse.ArgumentParser) -> list[str]:
    return [POSITIONALS[a.metavar] for a in parser._actions
            if not a.option_strings and not isinstance(a, argparse._SubParsersAction)]


def test_every_command_is_covered():
    assert set(_leaf_commands()) == {
        ("check",), ("build",), ("site",), ("serve",), ("preview",), ("new",),
        ("subscribers", "import"),
        ("subscribers", "list"), ("subscribers", "count"), ("subscribers", "export"),
        ("subscribers", "unsubscribe"), ("subscribers", "history"), ("subscribers", "outbox"),
        ("send",), ("db", "upgrade"), ("db", "copy"), ("dkim", "keygen"), ("bounces", "fetch"),
        ("bounces", "read"), ("bounces", "serve")}


@pytest.mark.parametrize("words", sorted(_leaf_commands()), ids=" ".join)
def test_every_command_takes_the_common_options_before_between_and_after(words):
    leaf = _leaf_commands()[words]
    positionals = _positionals(leaf)
    slots = len(words) + 2  # before the command, after each word, after the positionals
    for slot in range(slots):
        argv = [*words, *positionals]
        common = ["-q", "--dist", f"d{slot}", "--issues", "i", "--layouts", "l", "-v", "-v",
                  "--traceback"]
        argv[slot:slot] = common
        args = options.merge(_parser().parse_args(argv))
        assert (args.quiet, args.verbose, args.traceback) == (1, 2, True), argv
        assert (args.dist, args.issues, args.layouts) == (Path(f"d{slot}"), Path("i"),
                                                         Path("l")), argv
        assert callable(args.handler)
    # at every place at once: counts add up, the innermost folder wins
    argv = [*words, *positionals]
    for slot in reversed(range(slots)):
        argv[slot:slot] = ["-q", "--dist", f"d{slot}"]
    args = options.merge(_parser().parse_args(argv))
    assert args.quiet == slots
    assert args.dist == Path(f"d{slots - 1}")
    defaults = options.merge(_parser().parse_args([*words, *positionals]))
    assert (defaults.quiet, defaults.verbose, defaults.traceback) == (0, 0, False)
    assert (defaults.dist, defaults.issues, defaults.layouts) == (
        Path("dist"), Path("issues"), Path("layouts"))


def test_quiet_and_verbose_work_before_a_nested_command(tmp_path, cli):
    csv_file = tmp_path / "readers.csv"
    csv_file.write_text("email\nann@example.org\n", encoding="utf-8")
    db = str(tmp_path / "s.sqlite")
    loud = cli("subscribers", "import", str(csv_file), "--db", db)
    assert loud.status == 0 and "1 added" in loud.err
    quiet = cli("-q", "subscribers", "import", str(csv_file), "--db", db)
    assert (quiet.status, quiet.err) == (0, "")
    assert cli("subscribers", "-q", "import", str(csv_file), "--db", db).err == ""
    assert "exported 1 address(es)" in cli("-v", "subscribers", "export", "--db", db).err
    assert "exported" not in cli("subscribers", "export", "--db", db).err
    with pytest.raises(PublisherError, match="no subscriber store"):  # --traceback: raised
        cli("subscribers", "--traceback", "count", "--db", str(tmp_path / "none.sqlite"))


# -- a reader that goes away: `| head` ------------------------------------------------

def _store_of(path: Path, count: int) -> Path:
    from publisher.deliver import subscribers

    db = subscribers.connect(path, create=True)
    db.executemany("INSERT INTO subscribers (email, email_key, name, created, changed) "
                   "VALUES (?, ?, 'A Reader', '', '')",
                   ((f"reader{i:06d}@example.org",) * 2 for i in range(count)))
    db.close()
    return path


def _read_one_line_and_close(*args: str) -> tuple[bytes, int, str]:
    """``publisher ARGS | head -1``: the first line, the exit status, stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "publisher", *args], cwd=PROJECT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # far more is still to come: the next write finds no reader
    err = proc.stderr.read().decode()
    proc.stderr.close()
    return first, proc.wait(timeout=60), err


@pytest.mark.parametrize("action", ["list", "export"])
def test_a_closed_pipe_ends_subscribers_quietly(tmp_path, action):
    db = _store_of(tmp_path / "s.sqlite", 20_000)  # ~600 KB of output, ten pipes' worth
    first, status, err = _read_one_line_and_close("subscribers", action, "--db", str(db))
    assert first == (b"reader000000@example.org\tA Reader\n" if action == "list"
                     else b"email,name,status\n")
    assert (status, err) == (141, "")


def test_a_closed_pipe_ends_send_status_quietly(tmp_path):
    from publisher.deliver import subscribers
    from publisher.deliver.ledger import Ledger

    db_path = _store_of(tmp_path / "s.sqlite", 20_000)
    db = subscribers.connect(db_path)
    Ledger(db, "2023-08").prepare(lambda key: f"<{key}>")
    db.execute("UPDATE deliveries SET state = 'failed', reply = '550 5.1.1 no such mailbox'")
    db.close()
    first, status, err = _read_one_line_and_close("send", "2023-08", "--status", "--db",
                                                  str(db_path))
    assert first.startswith(b"2023-08: ") and b"20000 failed" in first
    assert (status, err) == (141, "")


def test_a_pipe_read_to_the_end_is_a_success(tmp_path):
    db = _store_of(tmp_path / "s.sqlite", 20_000)
    done = subprocess.run([sys.executable, "-m", "publisher", "subscribers", "list", "--db",
                           str(db)], cwd=PROJECT, capture_output=True, check=False)
    assert done.returncode == 0 and done.stderr == b""
    assert done.stdout.count(b"\n") == 20_000


@pytest.mark.parametrize("code, expected", [
    (errno.ENOSPC, "error: /x/tmpfile: cannot write: No space left on device (free some "
                   "space and run it again)"),
    (errno.EACCES, "error: /x/tmpfile: cannot read or write: Permission denied (check its "
                   "permissions and the disk)"),
])
def test_an_oserror_from_a_library_is_a_write_only_when_only_a_write_gets_it(
        code, expected, cli, monkeypatch):
    """Reads and writes of the pipeline raise their own errors (ReadError, WriteError); what
    a library's own file raises is called a write only for an errno that only a write gets:
    an EACCES may be either, and is not reported as 'cannot write'."""
    def refused(*args, **kwargs):
        raise OSError(code, os.strerror(code), "/x/tmpfile")

    monkeypatch.setattr(cli_issue, "build", refused)
    run = cli("build", "2023-08")
    assert run.status == 1
    assert run.err.splitlines() == [expected]


@pytest.mark.parametrize("command", [("serve",), ("preview", "2023-08", "--no-background")])
def test_a_port_in_use_or_out_of_range_is_one_line(project_copy, cli, command):
    """A port another program listens on is one line naming it (was: a traceback of
    socketserver's bind); a port past 65535 is a usage error (was: OverflowError)."""
    import socket

    (project_copy.dist / "site").mkdir(parents=True)
    (project_copy.dist / "site" / "index.html").write_text("<html></html>")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = cli(*command, "--port", str(port), paths=project_copy)
    assert busy.status == 1
    assert "Traceback" not in busy.err
    assert busy.err.strip().splitlines()[-1] == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use (another program "
        "is listening there: stop it or choose another --port)")
    wide = cli(*command, "--port", "65536", paths=project_copy)
    assert wide.status == 2
    assert "65536 is not a port: give 0 to 65535" in wide.err


def test_new_outside_the_project_makes_nothing(tmp_path, cli):
    """publisher new where there is no issues/publication.toml (another folder, a typo in
    --issues) refuses in one line (was: it made issues/<MONTH>/ there, which nothing
    could build)."""
    issues = tmp_path / "issues"
    run = cli("new", "2023-09", paths=Paths(issues, LAYOUTS, tmp_path / "dist"))
    assert run.status == 1
    assert run.err_lines == [
        f"error: {issues}: no publication.toml here: run publisher in the project's folder "
        "(where issues/ is) or give --issues DIR"]
    assert not issues.exists()


def test_fix_never_writes_through_a_link_and_keeps_one_inside(project_copy, cli, tmp_path):
    """check --fix read an article linked from outside the issue and replaced the link by
    a copy of that file (repaired); a link inside the issue became a copy too."""
    articles = (project_copy.issues / ARTICLE).parent
    outside = tmp_path / "outside.md"
    outside.write_text("---\ntitle: Korea\u00a1\u00afs\n---\n", encoding="utf-8")
    (articles / "zz-outside.md").symlink_to(outside)
    inside_file = project_copy.issues / "2023-08" / "drafts" / "story.md"
    inside_file.parent.mkdir()
    original = (project_copy.issues / ARTICLE).read_text(encoding="utf-8")
    inside_file.write_text(original.replace("Korea’s nuclear", "Korea\u00a1\u00afs nuclear", 1),
                           encoding="utf-8")
    (project_copy.issues / ARTICLE).unlink()
    (project_copy.issues / ARTICLE).symlink_to(inside_file)
    run = cli("check", "--fix", "2023-08", paths=project_copy)
    assert run.status == 1
    assert "zz-outside.md: is a link to" in run.err and "outside the issue folder" in run.err
    assert (articles / "zz-outside.md").is_symlink()
    assert outside.read_text(encoding="utf-8") == "---\ntitle: Korea\u00a1\u00afs\n---\n"
    assert (project_copy.issues / ARTICLE).is_symlink()
    assert inside_file.read_text(encoding="utf-8") == original


@pytest.mark.parametrize("option", ["--issues", "--layouts", "--dist"])
def test_an_empty_folder_option_is_a_usage_error(project_copy, cli, tmp_path, option,
                                                 monkeypatch):
    """--dist "$DIST" with DIST unset was the current folder: the build wrote 2023-08/
    and .cache/ wherever it was run."""
    monkeypatch.chdir(tmp_path)
    run = cli("build", "2023-08", "--format", "email", option, "")
    assert run.status == 2
    assert f"argument {option}: is empty: name a folder (. for this one)" in run.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["issues"]


def test_an_empty_db_option_is_a_usage_error(cli, tmp_path, monkeypatch):
    """--db "" imported into subscribers.sqlite in the current folder, without a word."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "readers.csv").write_text("email\nann@example.org\n")
    run = cli("subscribers", "import", "readers.csv", "--db", "")
    assert run.status == 2
    assert "argument --db: is empty: name the store's file or its postgresql:// URL" in run.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["readers.csv"]


@pytest.mark.parametrize("port", ["70000", "0", "-1"])
def test_bounces_serve_port_out_of_range_is_a_usage_error(cli, port):
    """``bounces serve --port`` outside 1..65535 exits 2 with argparse's line, as serve's and
    preview's --port do (was: exit 1); 0 too, since its SMTP listener cannot pick a free one."""
    run = cli("bounces", "serve", "--port", port)
    assert run.status == 2, run.err
    assert "Traceback" not in run.err
    assert f"argument --port: {port} is not a port: give 1 to 65535" in run.err
