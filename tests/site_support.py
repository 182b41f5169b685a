"""Test support for the served site: ``publisher serve`` started as a reader's browser
meets it (a process of its own on a free port of 127.0.0.1), and the site's public URLs
pointed at it.

    with serve(paths, db, {**os.environ, "PUBLISHER_SECRET": SECRET}) as (url, server):
        urllib.request.urlopen(local(url, public_unsubscribe_url))
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from publisher.build.builder import Paths


@contextlib.contextmanager
def serve(paths: Paths, db: Path | None, env: Mapping[str, str]
          ) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``publisher serve --port 0`` of ``paths`` with the store ``db`` (or its default)
    and the environment ``env`` (the whole of it); its URL (``http://127.0.0.1:PORT/``)
    and process, stopped at the end (if the test has not stopped it)."""
    store = [] if db is None else ["--db", str(db)]
    server = subprocess.Popen(
        [sys.executable, "-m", "publisher", "serve", "--port", "0", *store,
         "--dist", str(paths.dist), "--issues", str(paths.issues),
         "--layouts", str(paths.layouts)], stderr=subprocess.PIPE, text=True, env=dict(env))
    assert server.stderr is not None
    try:
        url = ""
        for line in server.stderr:  # a warning may come first (no PUBLISHER_SECRET)
            match = re.search(r"http://127\.0\.0\.1:\d+/", line)
            if match:
                url = match.group(0)
                break
        assert url, "publisher serve did not start"
        # keep reading what the server logs, so it never blocks on a full pipe
        threading.Thread(target=server.stderr.read, daemon=True).start()
        yield url, server
    finally:
        if server.poll() is None:
            server.terminate()
        server.wait(timeout=10)
        server.stderr.close()


def local(url: str, public: str) -> str:
    """A public URL of the site (``https://webzine.example.org/korea/...``) on the local
    server at ``url``."""
    parts = urlsplit(public)
    return f"{url.rstrip('/')}{parts.path.removeprefix('/korea')}?{parts.query}"


def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """What ``check`` returns once it is true, asked every 50 ms; an AssertionError
    after ``timeout`` seconds (a served page, a rebuild, a row the server writes)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout:g} s: {check}")
