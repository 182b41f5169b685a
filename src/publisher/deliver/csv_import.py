"""A subscriber CSV, read once and in bounded memory, then applied in one transaction.

:func:`import_csv` is ``publisher subscribers import``: a reader of the file that
uses the store (:mod:`publisher.deliver.subscribers`), which knows nothing of it.
:func:`stage` reads the file a row at a time (a pipe will do: ``import <(...)``),
checks each row, reports each bad one as it is found (``file:line``) and keeps
the good ones, duplicates merged, in a temporary SQLite file rather than in
memory.  :meth:`Staged.apply` then adds them to the store in one short
transaction of set-based SQL, so the store's write lock is held for that only,
not for the parsing (on PostgreSQL the staged rows are copied into a temporary table of
the same transaction first).  Nothing reaches the store until the whole file is read:
a file with a bad row changes nothing unless the caller says otherwise.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import re
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from publisher.deliver import subscribers
from publisher.deliver.db import Connection, Location, locate
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
    repeats INTEGER NOT NULL DEFAULT 0,
    consent TEXT NOT NULL DEFAULT '',
    key_hash TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
"""
# A repeated address keeps its first spelling and line; a later non-empty name wins.
_STAGE_ROW = """
INSERT INTO rows (key, address, name, line, consent, key_hash) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    name = CASE WHEN excluded.name != '' THEN excluded.name ELSE rows.name END,
    consent = CASE WHEN excluded.consent != '' THEN excluded.consent ELSE rows.consent END,
    repeats = repeats + 1
"""
_COUNTS = """
SELECT count(*) FILTER (WHERE s.id IS NULL),
       count(*) FILTER (WHERE s.id IS NOT NULL AND r.name != '' AND r.name != s.name),
       count(*) FILTER (WHERE s.status = 'subscribed'
                        AND NOT (r.name != '' AND r.name != s.name)),
       count(*) FILTER (WHERE s.status = 'unsubscribed')
FROM {rows} AS r LEFT JOIN {subscribers} AS s ON s.email_key = r.key
WHERE r.key_hash NOT IN (SELECT key_hash FROM {erasures})
"""
_ERASED = "SELECT count(*) FROM {rows} WHERE key_hash IN (SELECT key_hash FROM {erasures})"
# Each address the import adds: its history says where its consent comes from.
_EVENTS = """
INSERT INTO {events} (email_key, email, event, how, detail, at)
SELECT r.key, r.address, 'import', 'import',
       CASE WHEN r.consent != '' THEN ? || ': consent recorded in the file: ' || r.consent
            ELSE ? || ': consent assumed from the operator (no consent in the file)' END, ?
FROM {rows} AS r LEFT JOIN {subscribers} AS s ON s.email_key = r.key
WHERE s.id IS NULL AND r.key_hash NOT IN (SELECT key_hash FROM {erasures})
"""
# A known address whose name the import changes: that is in its history too.
_RENAMED = """
INSERT INTO {events} (email_key, email, event, how, detail, at)
SELECT s.email_key, s.email, 'name', 'import', ? || ': name changed', ?
FROM {rows} AS r JOIN {subscribers} AS s ON s.email_key = r.key
WHERE r.name != '' AND r.name != s.name
"""
# New addresses join in the file's order; a known one only takes a new, non-empty name
# (an unsubscribed address stays unsubscribed).
_APPLY = """
INSERT INTO {subscribers} (email, email_key, name, created, changed)
SELECT address, key, name, ?, ? FROM {rows}
WHERE key_hash NOT IN (SELECT key_hash FROM {erasures}) ORDER BY line
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
    kept_erased: int = 0  # erased by their reader: not added back
    with_consent: int = 0  # added with consent recorded in the file (the rest: assumed)


@dataclass(frozen=True)
class Staged:
    """The good rows of a CSV in a temporary SQLite file, ready to apply."""

    file: Path
    good: int  # distinct addresses
    bad: int
    merged: int  # rows that repeated an earlier address

    def apply(self, db: Connection, source: str = "") -> ImportResult:
        """Add or update the staged subscribers in one transaction of the store ``db``;
        ``source`` (the file's name) goes into each added address's history."""
        stamp = subscribers.now()
        if db.is_sqlite:
            names = {"rows": "staging.rows", "subscribers": "main.subscribers",
                     "erasures": "main.erasures", "events": "main.consent_events"}
            db.execute("ATTACH DATABASE ? AS staging", (str(self.file),))
            try:
                with subscribers.transaction(db):
                    found = self._apply(db, names, stamp, source)
            finally:
                db.execute("DETACH DATABASE staging")
        else:
            names = {"rows": "staging_rows", "subscribers": "subscribers",
                     "erasures": "erasures", "events": "consent_events"}
            with subscribers.transaction(db):
                db.execute("CREATE TEMP TABLE staging_rows (key TEXT PRIMARY KEY, address TEXT "
                           "NOT NULL, name TEXT NOT NULL, line INTEGER NOT NULL, consent TEXT "
                           "NOT NULL, key_hash TEXT NOT NULL) ON COMMIT DROP")
                self._copy_into(db)
                found = self._apply(db, names, stamp, source)
        added, updated, unchanged, kept, erased, consented = found
        return ImportResult(added, updated, unchanged, kept, self.merged, self.bad, erased,
                            consented)

    def _apply(self, db: Connection, names: dict[str, str], stamp: str,
               source: str) -> tuple[int, ...]:
        added, updated, unchanged, kept = db.execute(_COUNTS.format(**names)).fetchone()
        erased = db.execute(_ERASED.format(**names)).fetchone()[0]
        consented = db.execute(
            f"SELECT count(*) FROM {names['rows']} AS r LEFT JOIN {names['subscribers']} AS s "
            "ON s.email_key = r.key WHERE s.id IS NULL AND r.consent != '' AND r.key_hash "
            f"NOT IN (SELECT key_hash FROM {names['erasures']})").fetchone()[0]
        where = source or "the import"
        db.execute(_EVENTS.format(**names), (where, where, stamp))
        db.execute(_RENAMED.format(**names), (where, stamp))
        db.execute(_APPLY.format(**names), (stamp, stamp))
        return added, updated, unchanged, kept, erased, consented

    def _copy_into(self, db: Connection) -> None:
        """The staged rows into PostgreSQL's ``staging_rows`` (``COPY``, in one stream)."""
        staged = sqlite3.connect(self.file)
        try:
            with db.raw.cursor() as cursor, cursor.copy(
                    "COPY staging_rows (key, address, name, line, consent, key_hash) "
                    "FROM STDIN") as copy:
                for row in staged.execute("SELECT key, address, name, line, consent, key_hash "
                                          "FROM rows"):
                    copy.write_row(row)
        finally:
            staged.close()


def import_csv(path: Path, where: Location | str | os.PathLike[str], *,
               skip_bad: bool = False, secret: bytes | None = None) -> ImportResult:
    """Add or update the subscribers of a CSV in the store ``where`` (an SQLite file,
    created if need be, or a PostgreSQL URL), all in one transaction: ``publisher
    subscribers import``.

    Each bad row is logged with its line as soon as it is read; any makes the import
    change nothing and create no store, unless ``skip_bad``: then the bad rows are
    warnings and the rest is imported.  A ``consent`` column, when the file has one,
    goes into the history of each address added (else: consent assumed from the
    operator).  An address its reader erased is not added back: that check needs the
    ``secret`` (``PUBLISHER_SECRET``) once the store holds an erasure.  The file is
    read once (:func:`stage`), so a pipe will do.  The store's failures (busy, disk
    full) are one-line errors (:func:`publisher.deliver.subscribers.store_errors`).
    """
    location = locate(where)
    if not path.exists():  # a file, or a pipe: `import <(...)`
        raise PublisherError("no such file", path)
    if path.is_dir():
        raise PublisherError("is a folder, not a CSV file: name the file in it", path)

    def report(error: PublisherError) -> None:  # each bad row as soon as it is read
        if skip_bad:
            log.warning("%s (skipped)", error)
        else:
            log.error("%s", error)

    with stage(path, report, secret) as staged:
        if staged.bad and not skip_bad:  # a file with bad rows creates no store
            raise PublisherError(f"{staged.bad} bad row(s): nothing was imported "
                                 "(--skip-bad imports the good rows)", path)
        db = subscribers.connect(location, create=True)
        try:
            with subscribers.store_errors(location):
                if secret is None and db.execute(
                        "SELECT 1 FROM erasures LIMIT 1").fetchone() is not None:
                    raise PublisherError("PUBLISHER_SECRET is not set: the store holds "
                                         "addresses their readers erased, which an import "
                                         "must not add back, and it is needed to know them: "
                                         "nothing was imported", path)
                return staged.apply(db, path.name)
        finally:
            db.close()


@contextlib.contextmanager
def stage(path: Path, report: Callable[[PublisherError], None],
          secret: bytes | None = None) -> Iterator[Staged]:
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
        reading = _Reading(path, report, secret)
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

    def __init__(self, path: Path, report: Callable[[PublisherError], None],
                 secret: bytes | None = None):
        self.secret = secret
        self.path = path
        self.report = report
        self.good = 0
        self.bad = 0

    def checked(self) -> Iterator[tuple[str, str, str, int, str, str]]:
        """(key, address, name, line, consent, keyed hash) of each good row; each bad one
        reported."""
        from publisher.deliver.consent import erasure_hash

        for line, email, name, agreed in self._rows():
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
            key = subscribers.address_key(address)
            hashed = erasure_hash(self.secret, key) if self.secret else ""
            yield key, address, name, line, " ".join(agreed.split())[:200], hashed

    def _bad(self, message: str, line: int) -> None:
        self.report(PublisherError(message, self.path, line))
        self.bad += 1

    def _rows(self) -> Iterator[tuple[int, str, str, str]]:
        """(line, email, name, consent) of each non-blank data row, read as it goes."""
        path = self.path
        try:
            binary = path.open("rb")
        except OSError as exc:
            raise PublisherError(f"cannot read: {exc.strerror}", path) from None
        with binary, io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape",
                                      newline="") as text:
            reader = csv.reader(_lines(text, path))
            try:
                raw = next(reader)
            except StopIteration:
                raise PublisherError("empty file: expected a header row with 'email' (and "
                                     "'name')", path, 1) from None
            except csv.Error as exc:
                raise PublisherError(f"not CSV: {exc}", path, 1) from None
            header = [h.strip().casefold() for h in raw]
            if any(_NOT_UTF8.search(cell) for cell in header):
                kind = ("UTF-16" if header and header[0].startswith(("\udcff\udcfe",
                                                                      "\udcfe\udcff"))
                        else "not UTF-8")
                raise PublisherError(f"{kind} text: save the file as UTF-8", path, 1)
            if "email" not in header:
                found = ",".join(raw)
                shown = found if len(found) <= 80 else found[:79] + "…"
                raise PublisherError(f"the header row has no 'email' column (it reads "
                                     f"'{shown}'): the first row names the columns, "
                                     "separated by commas", path, 1)
            col_email = header.index("email")
            col_name = header.index("name") if "name" in header else None
            col_consent = header.index("consent") if "consent" in header else None
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
                # More fields than columns: a comma in a value not quoted ('ann@example.org,
                # Kim, Ann'), whose rest would be dropped unsaid.  Empty ones lose nothing.
                if any(cell.strip() for cell in row[len(header):]):
                    self._bad(f"{len(row)} fields where the header row names {len(header)} "
                              f"({','.join(raw)}): put a value with a comma in it in double "
                              "quotes, as \"Kim, Ann\"", start)
                    continue
                email = row[col_email] if col_email < len(row) else ""
                name = row[col_name] if col_name is not None and col_name < len(row) else ""
                agreed = (row[col_consent] if col_consent is not None
                          and col_consent < len(row) else "")
                yield start, email, name, agreed


def _lines(text: io.TextIOWrapper, path: Path) -> Iterator[str]:
    """The file's lines, each read with a bound (a huge line is refused, not loaded)."""
    number = 0
    while line := text.readline(MAX_LINE + 1):
        number += 1
        if len(line) > MAX_LINE:
            raise PublisherError(f"a line longer than {MAX_LINE // 2**20} MiB: not a "
                                 "subscriber CSV", path, number)
        yield line
