"""A throwaway PostgreSQL server for the tests: a cluster of its own in a temporary directory.

:func:`start_server` finds the server binaries (newest ``/usr/lib/postgresql/VERSION/bin``,
then ``pg_config --bindir``, then ``initdb`` on the PATH), runs ``initdb`` (trust
authentication, no locale, UTF-8, superuser ``postgres``) and ``pg_ctl start`` with
durability turned off for speed (``fsync``, ``synchronous_commit``, ``full_page_writes``),
listening on a unix socket in the temporary directory and on 127.0.0.1 at a free port and
nowhere else.  :meth:`PgServer.stop` stops it and removes the directory; :func:`running`
does both around a ``with`` block.

PostgreSQL refuses to run as root.  When the tests run as root (as CI does here) the
server runs as the system account ``publisher-test`` (created with ``useradd --system``
when missing), which owns the temporary directory; otherwise it runs as whoever runs the
tests.  Missing binaries raise :class:`PgUnavailable`, whose
one-line message names what to install: the fixtures (``pg_fixtures.py``) turn it into a
test failure, never a skip.

The trust authentication is for a throwaway server on loopback only: any local user can
connect as the superuser while the tests run.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

SUPERUSER = "postgres"
SERVER_ACCOUNT = "publisher-test"  # the OS account the server runs as when we are root
DEBIAN_LIB = Path("/usr/lib/postgresql")
BINARIES = ("initdb", "pg_ctl", "postgres")
INSTALL_HINT = ("the PostgreSQL server binaries (initdb, pg_ctl, postgres) are missing: run "
                "tools/system-deps as root, or: sudo apt-get install -y --no-install-recommends "
                "postgresql")
# Durability off: the data is thrown away anyway.  wal_level=minimal (with no WAL senders)
# also skips WAL for tables created and filled in one transaction.
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "shared_buffers": "64MB",
    "timezone": "UTC",
    "log_timezone": "UTC",
}
_START_TRIES = 3  # a free port can be taken between finding it and the server binding it


class PgUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine (the message says what to install)."""


class PgStartError(RuntimeError):
    """initdb or pg_ctl failed (the message has their output or the server log's end)."""


def _version_key(path: Path) -> tuple[int, ...]:
    """``/usr/lib/postgresql/9.6/bin`` -> (9, 6); a directory not named by a number -> ()."""
    name = path.parent.name
    return tuple(int(part) for part in name.split(".")) if re.fullmatch(r"\d+(\.\d+)*",
                                                                          name) else ()


def _has_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) and (bindir / name).is_file()
               for name in BINARIES)


def find_bindir(lib: Path = DEBIAN_LIB, path: str | None = None) -> Path:
    """The directory holding initdb, pg_ctl and postgres: the newest version under ``lib``
    (Debian's layout), else ``pg_config --bindir``, else where ``initdb`` is on ``path``
    (the PATH by default).  Raises :class:`PgUnavailable` when none has all three."""
    candidates = sorted((d for d in lib.glob("*/bin") if _version_key(d)),
                        key=_version_key, reverse=True)
    pg_config = shutil.which("pg_config", path=path)
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                 timeout=10, check=True).stdout.strip()
            if out:
                candidates.append(Path(out))
    initdb = shutil.which("initdb", path=path)
    if initdb:
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if _has_binaries(bindir):
            return bindir
    raise PgUnavailable(INSTALL_HINT)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_account() -> pwd.struct_passwd | None:
    """The unprivileged account the server runs as when we are root, created when missing
    (None when we are not root: then the server runs as we do)."""
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(SERVER_ACCOUNT)
    try:
        made = subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                               "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                               "--comment", "publisher tests, throwaway PostgreSQL servers",
                               SERVER_ACCOUNT], capture_output=True, text=True, timeout=30)
        why = made.stderr.strip() or f"exit status {made.returncode}"
    except (OSError, subprocess.SubprocessError) as error:
        why = str(error)
    try:  # made now, or by another test run at the same time (useradd's exit status 9)
        return pwd.getpwnam(SERVER_ACCOUNT)
    except KeyError:
        raise PgStartError(f"PostgreSQL won't run as root, and useradd could not create the "
                           f"account {SERVER_ACCOUNT} to run it as: {why}") from None


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class PgServer:
    """A running throwaway cluster; :meth:`stop` ends it and removes :attr:`root`."""

    bindir: Path
    root: Path                       # the temporary directory: data/, server.log, the socket
    port: int
    account: pwd.struct_passwd | None  # the OS account the server runs as (None: ours)
    version: str = ""                # e.g. "15.18"
    timings: dict[str, float] = field(default_factory=dict)  # seconds: initdb, start, stop
    running: bool = False

    @property
    def major(self) -> int:
        """The major version, e.g. 15 (0 when unknown)."""
        found = re.match(r"\d+", self.version)
        return int(found.group()) if found else 0

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def socket_dir(self) -> Path:
        return self.root

    def url(self, dbname: str = "postgres") -> str:
        """``postgresql://postgres@127.0.0.1:PORT/DBNAME`` (trust: no password)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def socket_url(self, dbname: str = "postgres") -> str:
        """The same database through the unix socket in :attr:`socket_dir`."""
        return f"postgresql://{SUPERUSER}@/{dbname}?host={self.socket_dir}&port={self.port}"

    def create_database(self, name: str | None = None, template: str = "template1") -> str:
        """Create an empty database (``t_<random>`` unless named) and return its name."""
        name = name or f"t_{secrets.token_hex(6)}"
        # From 15 on, FILE_COPY (copy the template's files, with a checkpoint, cheap with
        # fsync off) takes about half the time of the default WAL_LOG for a small template.
        strategy = sql.SQL(" STRATEGY FILE_COPY" if self.major >= 15 else "")
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}{}").format(
                sql.Identifier(name), sql.Identifier(template), strategy))
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, ending any connection a test left open to it."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))

    @contextlib.contextmanager
    def database(self, template: str = "template1") -> Iterator[str]:
        """A fresh empty database for the ``with`` block, as a URL; dropped after it."""
        name = self.create_database(template=template)
        try:
            yield self.url(name)
        finally:
            self.drop_database(name)

    def _run(self, *args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return _run(self, [str(a) for a in args], timeout)

    def stop(self) -> None:
        """Stop the server (immediate shutdown: nothing is worth keeping) and remove the
        temporary directory.  Safe to call twice."""
        began = time.perf_counter()
        try:
            # postmaster.pid too: a start that timed out may have left a server running.
            if self.running or (self.datadir / "postmaster.pid").exists():
                self._run(self.bindir / "pg_ctl", "stop", "-D", self.datadir,
                          "-m", "immediate", "-w", "-t", "30")
                self.running = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.timings["stop"] = time.perf_counter() - began


def _environment() -> dict[str, str]:
    """Ours, without the PG* variables that would point initdb/pg_ctl elsewhere, and with
    messages in English."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", TZ="UTC")
    return env


def _run(server: PgServer, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    account = server.account
    ids = {} if account is None else {"user": account.pw_uid, "group": account.pw_gid,
                                      "extra_groups": []}
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                            cwd=server.root, env=_environment(), check=False, **ids)
    if result.returncode != 0:
        raise PgStartError(f"{Path(args[0]).name} {args[1]} failed (exit status "
                           f"{result.returncode}): {(result.stdout + result.stderr).strip()}")
    return result


def _log_tail(server: PgServer, lines: int = 20) -> str:
    try:
        return "\n".join(server.log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def start_server(bindir: Path | None = None) -> PgServer:
    """initdb a new cluster in a temporary directory and start it; see the module's doc."""
    bindir = bindir or find_bindir()
    account = server_account()
    # As root, /tmp: the server's account must reach the directory, and TMPDIR might be
    # under /root.  Either way the socket's path must stay under ~100 bytes.
    tmp = "/tmp" if account is not None or len(tempfile.gettempdir()) > 60 else None
    root = Path(tempfile.mkdtemp(prefix="publisher-pg-", dir=tmp))
    if account is not None:
        os.chown(root, account.pw_uid, account.pw_gid)
    server = PgServer(bindir=bindir, root=root, port=0, account=account)
    try:
        version = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True,
                                 text=True, timeout=30, check=True).stdout
        found = re.search(r"\(PostgreSQL\) (\S+)", version)
        server.version = found.group(1) if found else version.strip()

        began = time.perf_counter()
        server._run(bindir / "initdb", "-D", server.datadir, "-U", SUPERUSER,
                    "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync",
                    "--no-instructions", timeout=120)
        server.timings["initdb"] = time.perf_counter() - began

        settings = {**SETTINGS, "unix_socket_directories": str(server.socket_dir)}
        with (server.datadir / "postgresql.conf").open("a") as conf:
            conf.write("\n# tests/pg_support.py: a throwaway server\n")
            conf.writelines(f"{k} = {_quote(v)}\n" for k, v in settings.items())

        began = time.perf_counter()
        for attempt in range(1, _START_TRIES + 1):
            server.port = free_port()
            server.log.unlink(missing_ok=True)  # this attempt's lines only
            try:
                server._run(bindir / "pg_ctl", "start", "-D", server.datadir, "-l", server.log,
                            "-o", f"-p {server.port}", "-w", "-t", "60", timeout=90)
                break
            except PgStartError as error:
                taken = "already in use" in _log_tail(server)
                if not taken or attempt == _START_TRIES:
                    raise PgStartError(f"{error}\n--- {server.log} ---\n"
                                       f"{_log_tail(server)}") from None
        server.running = True
        server.timings["start"] = time.perf_counter() - began
    except BaseException:
        with contextlib.suppress(Exception):  # the first error is the one to see
            server.stop()
        raise
    return server


@contextlib.contextmanager
def running(bindir: Path | None = None) -> Iterator[PgServer]:
    """A started server for the ``with`` block; stopped and removed after it."""
    server = start_server(bindir)
    try:
        yield server
    finally:
        server.stop()
