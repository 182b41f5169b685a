"""Full-text search of the site: a Pagefind index built over ``dist/site/``.

``publisher site`` runs the Pagefind indexer (the binary the ``pagefind[bin]`` package
brings; no network) over the finished site: it reads the web edition's pages (only what
is marked ``data-pagefind-body``: the articles and the editors' notes) and writes
``dist/site/pagefind/``, a static bundle (a script, WebAssembly and index fragments)
that the site's search page (``search/index.html``) loads from the same host.  The
index is removed first, so that it holds only what the site holds now.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

from publisher.errors import PublisherError

log = logging.getLogger(__name__)

BUNDLE = "pagefind"


def index_site(site: Path) -> Path:
    """Index ``site`` with Pagefind; return the bundle's folder."""
    bundle = site / BUNDLE
    shutil.rmtree(bundle, ignore_errors=True)
    command = [sys.executable, "-m", "pagefind", "--site", str(site), "--output-subdir",
               BUNDLE, "--silent"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PublisherError(f"cannot run the Pagefind indexer: {exc}", site) from None
    if done.returncode != 0 or not (bundle / "pagefind.js").is_file():
        said = (done.stderr or done.stdout).strip().splitlines()
        raise PublisherError("the Pagefind indexer failed: " + (said[-1] if said else
                             f"exit status {done.returncode}") + " (is 'pagefind[bin]' "
                             "installed? make venv installs it)", site)
    return bundle
