"""``publisher dkim keygen``: a DKIM key pair and the DNS record that publishes it."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from publisher.build.builder import Paths
from publisher.errors import ExitStatus

log = logging.getLogger("publisher")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                 common: argparse.ArgumentParser, nested: argparse.ArgumentParser) -> None:
    """``common`` holds the common options for a command, ``nested`` for an action of a
    command group (:mod:`publisher.cli.options`)."""
    group = sub.add_parser("dkim", parents=[common], help="DKIM keys",
                           description="Make the key pair the sent messages are signed with.")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    keygen = actions.add_parser(
        "keygen", parents=[nested], help="make a key pair and print its DNS record",
        description="Write a new private key to DIR/<selector>._domainkey.<domain>.pem "
                    "(readable only by its owner; never over another key) and print the "
                    "TXT record to publish in DNS.  Then set PUBLISHER_DKIM_KEY to the "
                    "file, PUBLISHER_DKIM_SELECTOR and PUBLISHER_DKIM_DOMAIN.")
    keygen.add_argument("selector", metavar="SELECTOR",
                        help="the selector, a DNS label such as 'news2024' (a new one for "
                             "each new key, so that the old record can stay a while)")
    keygen.add_argument("domain", metavar="DOMAIN",
                        help="the signing domain: the From address's domain (or a parent of "
                             "it), for DMARC")
    keygen.add_argument("--algorithm", choices=("rsa", "ed25519"), default="rsa",
                        help="rsa (2048 bits, which every receiver checks; the default) or "
                             "ed25519 (RFC 8463: shorter and faster, but not every receiver "
                             "checks it yet)")
    keygen.add_argument("--dir", type=Path, default=Path("."), metavar="DIR",
                        help="where the private key goes (default: the working directory)")
    keygen.set_defaults(handler=_keygen)


def _keygen(args: argparse.Namespace, paths: Paths) -> int:
    from publisher.deliver import dkim

    key = dkim.keygen(args.dir, args.selector, args.domain, args.algorithm)
    sys.stdout.write(key.record + "\n")
    selector, _, domain = key.path.name.removesuffix(".pem").partition("._domainkey.")
    log.info("publish the record above in the DNS zone of %s, then set "
             "PUBLISHER_DKIM_KEY=%s PUBLISHER_DKIM_SELECTOR=%s PUBLISHER_DKIM_DOMAIN=%s",
             domain, key.path, selector, domain)
    return ExitStatus.OK
