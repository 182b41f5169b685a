"""``publisher preview MONTH``: the web edition of one issue, rebuilt as the editor saves.

:class:`Preview` keeps the issue's web edition in memory and serves it on 127.0.0.1
under ``/<MONTH>/``, as the site will.  A watcher thread polls the modification time
and size of every file of the issue folder, ``publication.toml``, the earlier issues'
``issue.toml`` (the archive) and ``layouts/`` (the web layout, the partials, the fonts)
twenty times a second; on a change it reads the issue again and renders only the web
edition, in this process (the images already made are kept), then tells every open
page, by a server-sent event, to reload itself.  The script that listens is added to
the pages as they are served: the built outputs never carry it.

The PDF, EPUB and email of the month are rebuilt by ``publisher build`` in a child
process after each change (after the web edition, at low priority, one build at a time,
the last change winning), so the print layout never holds up the page; the preview's
bar links them with their state (building, up to date, failed).  A source error is
shown at the top of the page, ``path:line: what to fix``, over the last good version,
and the server goes on watching.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from publisher.build.builder import Paths
from publisher.diagnostics import Diagnostics
from publisher.errors import PublisherError
from publisher.model import Month
from publisher.site.security import PAGE_POLICY

log = logging.getLogger(__name__)
progress = logging.getLogger("publisher.progress")

Environ = dict[str, Any]
StartResponse = Callable[..., Any]

PREFIX = "/_preview/"
#: How often the watcher looks at the files (seconds).
POLL = 0.05
#: The formats rebuilt in the background (the web edition is rebuilt in process), and
#: the output of each the preview links.
BACKGROUND = {"pdf": "reader", "epub": "book", "email": "html"}
#: Quiet time after a change before the background build starts (the page reloads first).
SETTLE = 0.5
#: The preview's pages run its one script, from the server, and listen to its events.
PREVIEW_POLICY = PAGE_POLICY.replace("default-src 'none';",
                                     "default-src 'none'; script-src 'self'; connect-src 'self';")
RELOAD_JS = b"""// publisher preview: reload when the issue is rebuilt; show the downloads' state.
(() => {
  const me = document.currentScript, version = me.dataset.version;
  const events = new EventSource("/_preview/events");
  events.onmessage = (e) => {
    const state = JSON.parse(e.data);
    if (String(state.version) !== version) { events.close(); location.reload(); return; }
    for (const [format, text] of Object.entries(state.builds)) {
      const shown = document.querySelector(`#publisher-preview [data-format="${format}"] .state`);
      if (shown) shown.textContent = text;
    }
  };
})();
"""
BAR_CSS = (b"#publisher-preview{position:sticky;top:0;z-index:9;font:14px/1.4 system-ui,sans-serif;"
           b"background:#1b1f24;color:#fff;padding:.4rem 1rem}#publisher-preview a{color:#fff}"
           b"#publisher-preview pre{white-space:pre-wrap;background:#a3231b;margin:.4rem 0 0;"
           b"padding:.5rem;font:13px/1.4 ui-monospace,monospace}")


@dataclass
class _State:
    version: int = 0
    pages: dict[str, bytes] = field(default_factory=dict)  # path in the web edition -> bytes
    error: str = ""  # the last rebuild's errors, path:line each
    builds: dict[str, str] = field(default_factory=dict)  # format -> its state
    seconds: float = 0.0  # the last rebuild of the web edition


class Preview:
    """The web edition of ``month`` under ``paths``, rebuilt when its sources change."""

    def __init__(self, paths: Paths, month: Month, *, background: bool = True):
        self.paths = paths
        self.month = month
        self.background = background
        self.state = _State(builds={f: "not built yet" for f in BACKGROUND})
        self.changed = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._build_wanted = threading.Event()
        self._child: subprocess.Popen[str] | None = None
        self._interrupted = False
        #: what the web renderer keeps between rebuilds (its checked layout, its compiled
        #: templates), until a layout file changes
        self._shared: dict[str, Any] = {}
        self._layouts_seen: tuple[tuple[str, int, int], ...] = ()

    # -- watching and rebuilding ----------------------------------------------------------

    def watched(self) -> Iterator[Path]:
        """Every file whose change rebuilds the preview."""
        issues, layouts = self.paths.issues, self.paths.layouts
        yield issues / "publication.toml"
        yield from issues.glob("*/issue.toml")  # the archive's entries
        for folder in (issues / str(self.month), *(layouts / name for name in
                                                   ("web", "_partials", "fonts"))):
            for root, _dirs, names in os.walk(folder):
                yield from (Path(root) / name for name in names)

    def signature(self) -> tuple[tuple[str, int, int], ...]:
        found = []
        for path in self.watched():
            try:
                stat = path.stat()
            except OSError:
                continue
            found.append((str(path), stat.st_mtime_ns, stat.st_size))
        return tuple(sorted(found))

    def rebuild(self) -> None:
        """Read the issue and render its web edition; on a source error keep the last
        pages and show the error."""
        from publisher import render
        from publisher.build.check import check_issue
        from publisher.render.base import BuildContext
        from publisher.render.templates import layout_errors

        started = time.perf_counter()
        self._interrupt_background()
        layouts = tuple(entry for entry in self.signature()
                        if Path(entry[0]).is_relative_to(self.paths.layouts))
        if layouts != self._layouts_seen:
            self._shared, self._layouts_seen = {}, layouts
        try:
            with layout_errors():
                issue = check_issue(self.paths.issues, self.paths.layouts, self.month,
                                    Diagnostics(), glyphs=False)
                outputs = render.renderer("web").render(
                    BuildContext(issue=issue, layouts=self.paths.layouts, shared=self._shared))
            folder = render.declared("web").output("pages").pattern + "/"
            pages = {out.name.removeprefix(folder): out.data for out in outputs}
            error = ""
        except PublisherError as exc:
            pages, error = self.state.pages, str(exc)
        except Exception as exc:  # a bug: shown, and the server goes on
            log.exception("the preview's rebuild failed")
            pages, error = self.state.pages, f"internal error: {exc!r}"
        with self.changed:
            self.state.pages = pages
            self.state.error = error
            self.state.version += 1
            self.state.seconds = time.perf_counter() - started
            self.changed.notify_all()
        if error:
            for line in error.splitlines():
                log.error("%s", line)
        else:
            progress.info("preview: %s rebuilt in %.2f s", self.month, self.state.seconds)
        self._build_wanted.set()

    def start(self) -> None:
        """The first build, then the watcher (and the background builds) in threads.
        The files are looked at before the first build: a save made during it, or
        before the watcher's thread first runs, is a change the watcher sees."""
        seen = self.signature()
        self.rebuild()
        self._spawn(lambda: self._watch(seen))
        if self.background:
            self._spawn(self._build_others)

    def stop(self) -> None:
        self._stop.set()
        self._build_wanted.set()
        child = self._child
        if child is not None and child.poll() is None:
            child.terminate()
        with self.changed:
            self.changed.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)

    def _spawn(self, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _watch(self, seen: tuple[tuple[str, int, int], ...]) -> None:
        while not self._stop.wait(POLL):
            now = self.signature()
            if now != seen:
                seen = now
                self.rebuild()

    def _build_others(self) -> None:
        while not self._stop.is_set():
            self._build_wanted.wait()
            self._build_wanted.clear()
            while not self._stop.wait(SETTLE) and self._build_wanted.is_set():
                self._build_wanted.clear()  # still changing: wait for it to settle
            if self._stop.is_set():
                return
            self._set_builds("building")
            command = [sys.executable, "-m", "publisher", "build", "-q", str(self.month),
                       "--issues", str(self.paths.issues), "--layouts", str(self.paths.layouts),
                       "--dist", str(self.paths.dist)]
            command += [arg for fmt in BACKGROUND for arg in ("--format", fmt)]
            try:
                self._child = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.PIPE, text=True,
                                               preexec_fn=lambda: os.nice(10))
                _, err = self._child.communicate()
                status = self._child.returncode
            except OSError as exc:
                status, err = 1, str(exc)
            if self._stop.is_set():
                return
            if self._interrupted:  # the sources changed under it: the next one is wanted
                self._interrupted = False
                continue
            errors = [line for line in err.splitlines() if line.startswith("error:")]
            self._set_builds("up to date" if status == 0 else
                             "failed: " + (errors[0] if errors else f"exit status {status}"))

    def _interrupt_background(self) -> None:
        """Stop a background build of sources that have just changed (its outputs would be
        stale; the next one starts once the changes settle), so that it takes no time from
        the web edition's rebuild.  SIGINT: the build removes its temporary files and
        leaves the earlier outputs as they were."""
        child = self._child
        if child is not None and child.poll() is None:
            with contextlib.suppress(OSError):
                child.send_signal(signal.SIGINT)
            self._interrupted = True

    def _set_builds(self, state: str) -> None:
        with self.changed:
            self.state.builds = {f: state for f in BACKGROUND}
            self.changed.notify_all()

    # -- serving ----------------------------------------------------------------------------

    def builds(self) -> dict[str, str]:
        with self.changed:
            return dict(self.state.builds)

    def _downloads(self) -> str:
        """The background formats' outputs, linked, each with its state."""
        from publisher.build.outputs import month_outputs
        from publisher.source.config import load_publication

        publication = load_publication(self.paths.issues, Diagnostics())
        shown = []
        for fmt, state in self.builds().items():
            label = escape(f"{fmt.upper()}")
            if publication is not None:
                name = month_outputs(self.paths.dist, publication, self.month).name(
                    fmt, BACKGROUND[fmt])
                label = f'<a href="/{self.month}/{escape(name)}">{label}</a>'
            shown.append(f'<span data-format="{fmt}">{label} '
                         f'<span class="state">{escape(state)}</span></span>')
        return " · ".join(shown)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/":
            start_response("302 Found", [("Location", f"/{self.month}/"),
                                         ("Content-Length", "0")])
            return [b""]
        if path == PREFIX + "events":
            return self._events(start_response)
        if path == PREFIX + "reload.js":
            return _answer(start_response, RELOAD_JS, "text/javascript; charset=utf-8")
        if path == PREFIX + "preview.css":
            return _answer(start_response, BAR_CSS, "text/css; charset=utf-8")
        month = f"/{self.month}/"
        if not path.startswith(month):
            return _answer(start_response, b"Not found\n", "text/plain; charset=utf-8",
                           "404 Not Found")
        name = path[len(month):]
        if name == "" or name.endswith("/"):
            name += "index.html"
        with self.changed:
            data = self.state.pages.get(name)
            version, error = self.state.version, self.state.error
        if data is None:
            built = self.paths.dist / str(self.month) / name  # the downloads
            if "/" not in name and built.is_file():
                return _answer(start_response, built.read_bytes(), _type(built))
            if not (name.endswith(".html") and error):
                return _answer(start_response, b"Not found\n", "text/plain; charset=utf-8",
                               "404 Not Found")
            data = (b'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>'
                    b"Preview</title></head><body></body></html>")
        if name.endswith(".html"):
            data = self._with_bar(data, version, error)
            return _answer(start_response, data, "text/html; charset=utf-8",
                           policy=PREVIEW_POLICY)
        return _answer(start_response, data, _type(Path(name)))

    def _with_bar(self, page: bytes, version: int, error: str) -> bytes:
        shown = f"<pre>{escape(error)}</pre>" if error else ""
        bar = (f'<link rel="stylesheet" href="{PREFIX}preview.css">'
               f'<div id="publisher-preview">Preview of {self.month} · rebuilt in '
               f"{self.state.seconds:.2f} s · "
               f"{self._downloads()}"
               f"{shown}</div>"
               f'<script src="{PREFIX}reload.js" data-version="{version}"></script>').encode()
        at = page.find(b"<body")
        at = page.find(b">", at) + 1 if at >= 0 else 0
        return page[:at] + bar + page[at:]

    def _events(self, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/event-stream"),
                                  ("Cache-Control", "no-store")])
        return self._stream()

    def _stream(self) -> Iterator[bytes]:
        sent: tuple[int, str] | None = None
        while not self._stop.is_set():
            with self.changed:
                now = (self.state.version, json.dumps(self.state.builds))
                if now == sent:
                    self.changed.wait(timeout=15)
                    now = (self.state.version, json.dumps(self.state.builds))
            if now == sent:
                yield b": still here\n\n"
                continue
            sent = now
            yield (f'data: {{"version": {now[0]}, "builds": {now[1]}}}\n\n').encode()


def _type(path: Path) -> str:
    import mimetypes

    from publisher.site.app import TYPES

    return TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or (
        "application/octet-stream")


def _answer(start_response: StartResponse, data: bytes, media_type: str,
            status: str = "200 OK", policy: str | None = None) -> list[bytes]:
    headers = [("Content-Type", media_type), ("Content-Length", str(len(data))),
               ("Cache-Control", "no-store")]
    if policy:
        headers.append(("Content-Security-Policy", policy))
    start_response(status, headers)
    return [data]
