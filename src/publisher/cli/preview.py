"""``publisher preview MONTH``: the web edition of an issue, rebuilt and reloaded as the
editor saves (:mod:`publisher.site.preview`)."""

from __future__ import annotations

import argparse
import logging
import sys

from publisher.build.builder import Paths
from publisher.cli import options
from publisher.errors import ExitStatus

log = logging.getLogger("publisher")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                 common: argparse.ArgumentParser) -> None:
    preview = sub.add_parser(
        "preview", parents=[common], help="preview an issue's web edition as you edit it",
        description="Serve the web edition of MONTH on 127.0.0.1; watch the issue and the "
                    "layouts, rebuild it on every change and reload the page; rebuild the "
                    "PDF, EPUB and email in the background.")
    preview.add_argument("month", metavar="MONTH", help="the issue, as YYYY-MM")
    preview.add_argument("--port", type=options.port_argument, default=8000,
                         help="port (default 8000; 0: any free)")
    preview.add_argument("--no-background", dest="background", action="store_false",
                         help="do not rebuild the PDF, EPUB and email")
    preview.set_defaults(handler=_preview)


def _preview(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.site.app import make_preview_server
    from publisher.site.preview import Preview
    from publisher.site.security import SecureHeaders

    month = options.month_argument(args.month)
    preview = Preview(paths, month, background=args.background)
    # The port first: a busy one is said at once, not after the first full rebuild (the
    # server answers nothing until serve_forever, by when the first build is there).
    with make_preview_server(SecureHeaders(preview), args.port) as server:
        preview.start()
        try:
            host, port = server.server_address[:2]
            log.info("previewing %s at http://%s:%s/%s/ (Ctrl-C stops)", month, host, port,
                     month)
            sys.stdout.flush()
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                log.info("stopped")
        finally:
            preview.stop()
    return ExitStatus.OK
