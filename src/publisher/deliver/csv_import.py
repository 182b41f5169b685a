"""A subscriber CSV, read once and in bounded memory, then applied in one transaction.

:func:`import_csv` is ``publisher subscribers import``: a reader of the file that
uses the store (:mod:`publisher.deliver.subscribers`), which knows nothing of it.
:func:`stage` reads the file a row at a time (a pipe will do: ``import <(...)``),
checks each row, reports each bad one as it is found (``file:line``) and keeps
the good ones, duplicates merged, in a temporary SQLite file rather than in
memory.  :meth:`Staged.apply` then adds them to the store in one short
transaction of set-based SQL, so the store's write lock is held for that only,
not for the parsing.  Nothing reaches the store until the whole file is read:
a file with a bad row changes nothing unless the caller says otherwise.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import re
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from publisher.deliver import subscribers
from publisher.errors import PublisherError

log = logging.getLogger(__name__)

#: A line longer than this is not a subscriber's row (an address is at most 254
#: characters): the file is refused rather than read into memory whole.
MAX_LINE = 1 << 20

_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # undecodable bytes, kept as surrogates

_STAGING = """
CREATE TABLE rows (
    key TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    name TEXT NOT NULL,
    line INTEGER NOT NULL,
    repeats INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
"""
# A repeated address keeps its first spelling and line; a later non-empty name wins.
_STAGE_ROW = """
INSERT INTO rows (key, address, name, line) VALUES (?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    name = CASE WHEN excluded.name != '' THEN excluded.name ELSE rows.name END,
    repeats = repeats + 1
"""
_COUNTS = """
SELECT count(*) FILTER (WHERE s.id IS NULL),
       count(*) FILTER (WHERE s.id IS NOT NULL AND r.name != '' AND r.name != s.name),
       count(*) FILTER (WHERE s.status = 'subscribed'
                        AND NOT (r.name != '' AND r.name != s.name)),
       count(*) FILTER (WHERE s.status = 'unsubscribed')
FROM staging.rows AS r LEFT JOIN main.subscribers AS s ON s.email_key = r.key
"""
# New addresses join in the file's order; a known one only takes a new, non-empty name
# (an unsubscribed address stays unsubscribed).
_APPLY = """
INSERT INTO main.subscribers (email, email_key, name, created, changed)
SELECT address, key, name, :stamp, :stamp FROM staging.rows WHERE true ORDER BY line
ON CONFLICT (email_key) DO UPDATE SET name = excluded.name, changed = excluded.changed
WHERE excluded.name != '' AND excluded.name != subscribers.name
"""


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int
    unchanged: int
    kept_unsubscribed: int
    merged: int
    skipped: int


@dataclass(frozen=True)
class Staged:
    """The good rows of a CSV in a temporary SQLite file, ready to apply."""

    file: Path
    good: int  # distinct addresses
    bad: int
    merged: int  # rows that repeated an earlier address

    def apply(self, db: sqlite3.Connection) -> ImportResult:
        """Add or update the staged subscribers in one transaction of the store ``db``."""
        db.execute("ATTACH DATABASE ? AS staging", (str(self.file),))
        try:
            with subscribers.transaction(db):
                added, updated, unchanged, kept = db.execute(_COUNTS).fetchone()
                db.execute(_APPLY, {"stamp": subscribers.now()})
        finally:
            db.execute("DETACH DATABASE staging")
        return ImportResult(added, updated, unchanged, kept, self.merged, self.bad)


def import_csv(path: Path, db_path: Path, *, skip_bad: bool = False) -> ImportResult:
    """Add or update the subscribers of a CSV in the store at ``db_path`` (created if
    need be), all in one transaction: ``publisher subscribers import``.

    Each bad row is logged with its line as soon as it is read; any makes the import
    change nothing and create no store, unless ``skip_bad``: then the bad rows are
    warnings and the rest is imported.  The file is read once (:func:`stage`), so a
    pipe will do.  The store's failures (busy, disk full) are one-line errors
    (:func:`~publisher.deliver.subscribers.store_errors`).
    """
    if not path.exists() or path.is_dir():  # a file, or a pipe: `import <(...)`
        raise PublisherError("no such file", path)

    def report(error: PublisherError) -> None:  # each bad row as soon as it is read
        if skip_bad:
            log.warning("%s (skipped)", error)
        else:
            log.error("%s", error)

    with stage(path, report) as staged:
        if staged.bad and not skip_bad:  # a file with bad rows creates no store
            raise PublisherError(f"{staged.bad} bad row(s): nothing was imported "
                                 "(--skip-bad imports the good rows)", path)
        db = subscribers.connect(db_path, create=True)
        try:
            with subscribers.store_errors(db_path):
                return staged.apply(db)
        finally:
            db.close()


@contextlib.contextmanager
def stage(path: Path, report: Callable[[PublisherError], None]) -> Iterator[Staged]:
    """Read ``path`` once; ``report`` each bad row; yield the good ones, staged.

    A file that is not a subscriber CSV at all (unreadable, no ``email`` column,
    a line over :data:`MAX_LINE`) raises :class:`PublisherError`.  The staging
    file is removed on the way out.
    """
    try:
        folder = tempfile.TemporaryDirectory(prefix="publisher-import-")
    except OSError as exc:
        raise PublisherError(f"cannot make a temporary folder for the import: {exc}",
                             path) from None
    with folder as tmp:
        file = Path(tmp) / "staging.sqlite"
        reading = _Reading(path, report)
        db = sqlite3.connect(file, isolation_level=None)
        try:
            db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _STAGING)
            db.execute("BEGIN")
            db.executemany(_STAGE_ROW, reading.checked())
            db.execute("COMMIT")
            distinct = db.execute("SELECT count(*) FROM rows").fetchone()[0]
        except sqlite3.Error as exc:  # a full disk, most likely
            raise PublisherError(f"cannot keep the rows read in {Path(tmp).parent} ({exc}): "
                                 "nothing was changed", path) from None
        except OSError as exc:  # the file, while it is read
            raise PublisherError(f"cannot read: {exc.strerror or exc}", path) from None
        finally:
            db.close()
        yield Staged(file, distinct, reading.bad, reading.good - distinct)


class _Reading:
    """One pass over a subscriber CSV: its checked rows, and how many were good and bad."""

    def __init__(self, path: Path, report: Callable[[PublisherError], None]):
        self.path = path
        self.report = report
        self.good = 0
        self.bad = 0

    def checked(self) -> Iterator[tuple[str, str, str, int]]:
        """(key, address, name, line) of each good row; each bad one reported."""
        for line, email, name in self._rows():
            try:
                address = subscribers.normalize_address(email)
            except ValueError as exc:
                self._bad(f"invalid address {email.strip() or '(empty)'!r}: {exc}", line)
                continue
            try:
                name = subscribers.check_name(name)
            except ValueError as exc:
                self._bad(f"{address}: {exc}", line)
                continue
            self.good += 1
            yield subscribers.address_key(address), address, name, line

    def _bad(self, message: str, line: int) -> None:
        self.report(PublisherError(message, self.path, line))
        self.bad += 1

    def _rows(self) -> Iterator[tuple[int, str, str]]:
        """(line, email, name) of each non-blank data row, read as it goes."""
        path = self.path
        try:
            binary = path.open("rb")
        except OSError as exc:
            raise PublisherError(f"cannot read: {exc.strerror}", path) from None
        with binary, io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape",
                                      newline="") as text:
            reader = csv.reader(_lines(text, path))
            try:
                header = [h.strip().casefold() for h in next(reader)]
            except StopIteration:
                raise PublisherError("empty file: expected a header row with 'email' (and "
                                     "'name')", path, 1) from None
            except csv.Error as exc:
                raise PublisherError(f"not CSV: {exc}", path, 1) from None
            if "email" not in header:
                raise PublisherError("the header row has no 'email' column", path, 1)
            col_email = header.index("email")
            col_name = header.index("name") if "name" in header else None
            line = reader.line_num + 1
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:  # the rest of the file cannot be told apart
                    self._bad(f"not CSV: {exc}", line)
                    return
                start, line = line, reader.line_num + 1
                if not any(cell.strip() for cell in row):
                    continue
                if any(_NOT_UTF8.search(cell) for cell in row):
                    self._bad("not UTF-8 text: save the file as UTF-8", start)
                    continue
                email = row[col_email] if col_email < len(row) else ""
                name = row[col_name] if col_name is not None and col_name < len(row) else ""
                yield start, email, name


def _lines(text: io.TextIOWrapper, path: Path) -> Iterator[str]:
    """The file's lines, each read with a bound (a huge line is refused, not loaded)."""
    number = 0
    while line := text.readline(MAX_LINE + 1):
        number += 1
        if len(line) > MAX_LINE:
            raise PublisherError(f"a line longer than {MAX_LINE // 2**20} MiB: not a "
                                 "subscriber CSV", path, number)
        yield line
