"""``publisher site`` and ``serve``: the download site and its preview."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from publisher.build.builder import Paths
from publisher.cli import options
from publisher.cli.console import report
from publisher.diagnostics import Diagnostics
from publisher.errors import ExitStatus

log = logging.getLogger("publisher")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                 common: argparse.ArgumentParser) -> None:
    site = sub.add_parser("site", parents=[common], help="build the download site",
                          description="Build dist/site/: an index of every issue with its "
                                      "downloads, the web version of each email, an Atom feed.")
    site.set_defaults(handler=_site)

    serve = sub.add_parser("serve", parents=[common], help="preview the site on 127.0.0.1",
                           description="Serve dist/site/ on 127.0.0.1 for previewing.")
    serve.add_argument("--port", type=options.port_argument, default=8000,
                       help="port (default 8000; 0: any free)")
    serve.add_argument("--db", default=None, metavar="PATH|URL",
                       help="the subscriber store the unsubscribe endpoint writes to, a file "
                            "or a postgresql:// URL (default: $PUBLISHER_DATABASE_URL, else "
                            "subscribers.sqlite); needs PUBLISHER_SECRET")
    serve.set_defaults(handler=_serve)


def _site(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.site.pages import build_site

    diag = Diagnostics()
    try:
        build_site(paths, diag)
    finally:
        report(diag)
    return ExitStatus.OK


def _serve(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.site.app import make_preview_server, site_application

    app = site_application(paths, args.db, os.environ)
    with make_preview_server(app, args.port) as server:
        host, port = server.server_address[:2]
        log.info("serving %s at http://%s:%s/ (Ctrl-C stops)", paths.dist / "site", host, port)
        sys.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            log.info("stopped")
    return ExitStatus.OK


