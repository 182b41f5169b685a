"""The options every command takes, wherever they are written.

``-q``, ``-v``, ``--issues``, ``--layouts``, ``--dist`` and ``--traceback`` are
accepted before the command (``publisher -q build``), after it (``publisher
build -q``) and, for a command group, between the group and its action
(``publisher subscribers -q import``).  argparse lets a subcommand's defaults
overwrite what an outer level parsed, so each level keeps its own copy
(``quiet_0``, ``quiet_1``...) and :func:`merge` combines them: the counts add
up, the innermost folder given wins, ``--traceback`` anywhere counts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from publisher.errors import UsageError
from publisher.model import Month

#: Folders: option -> (default, help).
FOLDERS = {"issues": (Path("issues"), "folder of issue sources (default: issues)"),
           "layouts": (Path("layouts"), "folder of layouts (default: layouts)"),
           "dist": (Path("dist"), "folder for outputs (default: dist)")}
#: The command line's depth: publisher (0) COMMAND (1) ACTION (2).
LEVELS = 3


def common(level: int) -> argparse.ArgumentParser:
    """A parent parser with the common options, for a parser ``level`` deep."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("common options")
    group.add_argument("-q", "--quiet", action="count", default=0, dest=f"quiet_{level}",
                       help="show only warnings and errors")
    group.add_argument("-v", "--verbose", action="count", default=0, dest=f"verbose_{level}",
                       help="show more detail")
    for name, (_, text) in FOLDERS.items():
        group.add_argument(f"--{name}", type=folder_argument, default=None,
                           dest=f"{name}_{level}",
                           metavar="DIR", help=text)
    group.add_argument("--traceback", action="store_true", dest=f"traceback_{level}",
                       help="show the Python traceback of an error")
    return parent


def merge(args: argparse.Namespace) -> argparse.Namespace:
    """Set ``quiet``, ``verbose``, the folders and ``traceback`` from every level."""
    levels = range(LEVELS)
    args.quiet = sum(getattr(args, f"quiet_{n}", 0) for n in levels)
    args.verbose = sum(getattr(args, f"verbose_{n}", 0) for n in levels)
    args.traceback = any(getattr(args, f"traceback_{n}", False) for n in levels)
    for name, (default, _) in FOLDERS.items():
        given = [getattr(args, f"{name}_{n}", None) for n in levels]
        setattr(args, name, next((p for p in reversed(given) if p is not None), default))
    return args


def folder_argument(text: str) -> Path:
    """``--issues``, ``--layouts``, ``--dist``: a folder; an empty one (``--dist "$DIST"``
    with the variable unset) would be the current folder, so it is a usage error."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: name a folder (. for this one)")
    return Path(text)


def port_argument(text: str) -> int:
    """``--port``: a TCP port, 0 to 65535 (0: any free one); else a usage error (exit 2)."""
    return _port(text, 0, " (0: any free one)")


def fixed_port_argument(text: str) -> int:
    """``--port`` of a server that cannot pick a free one itself (``bounces serve``, whose
    SMTP listener checks the port it was given): 1 to 65535; else a usage error (exit 2)."""
    return _port(text, 1, "")


def _port(text: str, lowest: int, note: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number") from None
    if not lowest <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: give {lowest} to 65535{note}")
    return port


def month_argument(text: str) -> Month:
    """A month named on the command line; a :class:`UsageError` (exit 2) when malformed."""
    try:
        return Month.parse(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
