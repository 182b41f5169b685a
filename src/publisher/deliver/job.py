"""``publisher send``: mail one built issue to every subscriber, exactly once.

The main thread feeds the ledger's pending rows to a small pool of worker
threads, one SMTP connection each.  A worker commits ``sending``, runs the
SMTP transaction, then commits the outcome; the main thread schedules 4xx
retries with exponential backoff and logs progress.  Killed at any moment, the
next run of the same command picks up where this one stopped (see
:mod:`publisher.deliver.ledger`).
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import itertools
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from publisher import subscribers, tokens
from publisher.deliver import smtp
from publisher.deliver.ledger import DEFERRED, FAILED, PENDING, SENDING, SENT, Delivery, Ledger
from publisher.deliver.personalise import Recipient, Template, message_id
from publisher.errors import PublisherError
from publisher.model import Publication

log = logging.getLogger(__name__)
progress = logging.getLogger("publisher.progress")

PROGRESS_EVERY = 2.0  # seconds between progress lines
_FINAL = {smtp.SENT: SENT, smtp.TEMPORARY: DEFERRED, smtp.PERMANENT: FAILED}


@dataclass(frozen=True)
class Mailing:
    """One issue's email and everything needed to personalise it."""

    issue: str
    template: Template
    publication: Publication
    secret: bytes = field(repr=False)

    @property
    def list_name(self) -> str:
        return tokens.list_id(self.publication)

    @property
    def domain(self) -> str:
        return self.template.sender.rpartition("@")[2] or "localhost"

    def message_id(self, address_key: str) -> str:
        return message_id(self.issue, address_key, self.list_name, self.domain)

    def recipient(self, email: str, name: str, msg_id: str | None = None) -> Recipient:
        return Recipient(
            email=email,
            name=name,
            unsubscribe_url=tokens.unsubscribe_url(self.publication, email, self.secret),
            unsubscribe_mailto=tokens.unsubscribe_mailto(self.publication, email, self.secret),
            message_id=msg_id or self.message_id(subscribers.address_key(email)),
        )

    def render(self, email: str, name: str, msg_id: str | None = None, *,
               wire: bool = False) -> bytes:
        return self.template.render(self.recipient(email, name, msg_id), wire=wire)


@contextlib.contextmanager
def exclusive(db_path: Path) -> Iterator[None]:
    """Only one send at a time per store (the lock goes with the process, even on SIGKILL)."""
    lock_path = db_path.with_name(db_path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PublisherError("another 'publisher send' is running on this store",
                                 db_path) from None
        yield
    finally:
        os.close(fd)


def dry_run(db: sqlite3.Connection, mailing: Mailing, folder: Path) -> int:
    """Write every subscriber's message to ``folder`` (one .eml each); send nothing."""
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for sub in subscribers.subscribed(db):
        data = mailing.render(sub.email, sub.name)
        path = folder / f"{sub.id:07d}.eml"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        n += 1
    progress.info("wrote %d personalised message(s) to %s; nothing was sent", n, folder)
    return n


def send_test(mailing: Mailing, settings: smtp.SmtpSettings, address: str, name: str) -> str:
    """Send one proof to ``address``, outside the ledger; the server's reply."""
    conn = smtp.Connection(settings, eight_bit=mailing.template.eight_bit)
    conn.open()
    try:
        proof_id = message_id(f"{mailing.issue}-proof-{time.time_ns()}", address,
                              mailing.list_name, mailing.domain)
        outcome = conn.send(mailing.template.sender, address,
                            mailing.render(address, name, proof_id))
    finally:
        conn.close()
    if outcome.kind != smtp.SENT:
        raise PublisherError(f"the proof to {address} was not sent: {outcome.reply}")
    return outcome.reply


@dataclass
class _Item:
    delivery: Delivery
    tries: int = 0  # transactions this run
    data: bytes = b""  # the personalised message, dot-stuffed, rendered by the main thread


@dataclass
class Summary:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    pending: int = 0
    elapsed: float = 0.0
    error: str = ""


class Send:
    """One run of ``publisher send MONTH`` against an SMTP server."""

    def __init__(self, db_path: Path, mailing: Mailing, settings: smtp.SmtpSettings, *,
                 connections: int = 1, rate: float = 0.0, retry_failed: bool = False,
                 clock: Callable[[], float] = time.monotonic):
        self.db_path = db_path
        self.mailing = mailing
        self.settings = settings
        self.connections = max(1, connections)
        self.limit = smtp.RateLimit(rate)
        self.retry_failed = retry_failed
        self.clock = clock
        self.jobs: queue.Queue[_Item | None] = queue.Queue()
        self.results: queue.Queue[tuple[_Item, smtp.Outcome]] = queue.Queue()
        self.abort = threading.Event()
        self.fatal = ""
        self.crash: BaseException | None = None  # a bug in a worker, raised in run()

    def run(self) -> Summary:
        pool = [smtp.Connection(self.settings, eight_bit=self.mailing.template.eight_bit)
                for _ in range(self.connections)]
        try:
            for conn in pool:  # every connection works before anything is marked
                conn.open()
        except PublisherError as exc:
            for conn in pool:
                conn.close()
            raise PublisherError(f"{exc}; nothing was sent") from None
        try:
            db = subscribers.connect(self.db_path)
        except BaseException:
            for conn in pool:
                conn.close()
            raise
        ledger = Ledger(db, self.mailing.issue)
        try:
            added, recovered = ledger.prepare(self.mailing.message_id)
            retried = ledger.retry_failed() if self.retry_failed else 0
        except BaseException:
            db.close()
            for conn in pool:
                conn.close()
            raise
        log.debug("%d subscriber(s) added to the ledger of %s", added, self.mailing.issue)
        if recovered:
            log.warning("%d message(s) were in flight when an earlier send stopped: they are "
                        "sent again with the same Message-ID (see --status)", recovered)
        if retried:
            log.info("%d message(s) the server refused before are sent again", retried)
        counts = ledger.counts()
        total = counts[PENDING] + counts[DEFERRED]
        progress.info("sending %s to %d subscriber(s) over %d connection(s) (%d already "
                      "sent, %d failed earlier)", self.mailing.issue, total, len(pool),
                      counts[SENT], counts[FAILED])
        workers = [threading.Thread(target=self._work, args=(conn,), daemon=True,
                                    name=f"smtp-{i}") for i, conn in enumerate(pool)]
        for worker in workers:
            worker.start()
        summary = Summary()
        start = self.clock()
        try:
            self._dispatch(ledger, total, summary, start)
        finally:
            self.abort.set()
            for _ in workers:
                self.jobs.put(None)
            for worker in workers:
                worker.join()
            summary.elapsed = self.clock() - start
            left = ledger.counts()
            summary.pending = left[PENDING] + left[SENDING]
            db.close()
        if self.crash is not None:
            raise self.crash
        summary.error = self.fatal
        return summary

    # -- the main thread ------------------------------------------------------------

    def _dispatch(self, ledger: Ledger, total: int, summary: Summary, start: float) -> None:
        after, exhausted = 0, False
        fresh: list[_Item] = []
        retry: list[tuple[float, int, _Item]] = []
        order = itertools.count()
        outstanding, capacity = 0, self.connections * 2
        done = 0
        last_report = start
        while not self.abort.is_set():
            if not fresh and not exhausted:
                batch = ledger.to_send(after)
                exhausted = not batch
                if batch:
                    after = batch[-1].subscriber_id
                    fresh = [_Item(d) for d in reversed(batch)]
            now = self.clock()
            while outstanding < capacity:
                if retry and retry[0][0] <= now:
                    item = heapq.heappop(retry)[2]
                elif fresh:
                    item = fresh.pop()
                else:
                    break
                if not item.data:  # rendered here, while the workers wait on the network
                    d = item.delivery
                    item.data = self.mailing.render(d.email, d.name, d.message_id, wire=True)
                self.jobs.put(item)
                outstanding += 1
            if not outstanding and not fresh and exhausted and not retry:
                break
            timeout = max(0.0, retry[0][0] - now) if retry else PROGRESS_EVERY
            try:
                item, outcome = self.results.get(timeout=min(timeout, PROGRESS_EVERY))
            except queue.Empty:
                continue
            outstanding -= 1
            if outcome.kind == smtp.SENT:
                summary.sent += 1
                done += 1
            elif outcome.kind == smtp.PERMANENT:
                summary.failed += 1
                done += 1
                log.warning("%s: failed: %s", item.delivery.email, outcome.reply)
            elif outcome.kind == smtp.TEMPORARY:
                if item.tries < self.settings.retries:
                    due = self.clock() + self.settings.delay(item.tries)
                    heapq.heappush(retry, (due, next(order), item))
                else:
                    summary.deferred += 1
                    done += 1
                    log.warning("%s: deferred after %d attempts: %s", item.delivery.email,
                                item.tries, outcome.reply)
            elif outcome.kind == smtp.LOST:
                fresh.append(item)  # the worker has reconnected: send it again
            now = self.clock()
            if now - last_report >= PROGRESS_EVERY:
                last_report = now
                self._report(done, total, summary, now - start)
        self._report(done, total, summary, self.clock() - start)

    def _report(self, done: int, total: int, summary: Summary, elapsed: float) -> None:
        share = done / total if total else 1.0
        bar = "#" * int(share * 20)
        progress.info("[%-20s] %d/%d  sent %d, deferred %d, failed %d  (%.0f msg/s)",
                      bar, done, total, summary.sent, summary.deferred, summary.failed,
                      summary.sent / elapsed if elapsed > 0 else 0.0)

    # -- the workers ----------------------------------------------------------------

    def _work(self, conn: smtp.Connection) -> None:
        """Send the queued messages over ``conn``.

        Each message is marked ``sending`` in a commit before its transaction and its
        outcome in a commit after it; without a rate limit, one commit does both the
        outcome of a message and the ``sending`` of the next.
        """
        db = subscribers.connect(self.db_path)
        ledger = Ledger(db, self.mailing.issue)
        sender = self.mailing.template.sender
        done: tuple[_Item, str, smtp.Outcome] | None = None  # an outcome not yet committed

        def flush() -> None:
            nonlocal done
            if done is not None:
                item, state, outcome = done
                ledger.mark(item.delivery.subscriber_id, state, outcome.reply)
                self.results.put((item, outcome))
                done = None

        try:
            while True:
                try:
                    item = self.jobs.get_nowait()
                except queue.Empty:
                    flush()
                    item = self.jobs.get()
                if item is None or self.abort.is_set():
                    flush()
                    if item is None:
                        break
                    continue
                if self.limit.interval:
                    flush()
                    self.limit.wait()
                sid = item.delivery.subscriber_id
                item.tries += 1
                if done is not None:
                    prev, state, outcome = done
                    ledger.mark_two(prev.delivery.subscriber_id, state, outcome.reply,
                                    sid, SENDING)
                    self.results.put((prev, outcome))
                    done = None
                else:
                    ledger.mark(sid, SENDING)
                outcome = conn.send(sender, item.delivery.email, item.data, stuffed=True)
                if outcome.kind in _FINAL:
                    done = (item, _FINAL[outcome.kind], outcome)
                    continue
                ledger.mark(sid, PENDING, outcome.reply, in_doubt=outcome.in_doubt)
                if outcome.kind == smtp.FATAL:
                    self._stop(outcome.reply)
                elif not self._reconnect(conn, outcome.reply):
                    self._stop(f"lost the SMTP server {self.settings.where} "
                               f"({outcome.reply}) and could not reconnect")
                self.results.put((item, outcome))
        except BaseException as exc:
            self.crash = exc
            self.abort.set()
        finally:
            if self.crash is None:
                flush()
            conn.close()
            db.close()

    def _reconnect(self, conn: smtp.Connection, why: str) -> bool:
        log.info("connection to %s lost (%s): reconnecting", self.settings.where, why)
        for attempt in range(1, self.settings.reconnects + 1):
            if self.abort.is_set():
                return False
            try:
                conn.open()
                return True
            except PublisherError as exc:
                log.info("reconnect %d failed: %s", attempt, exc)
                time.sleep(self.settings.delay(attempt))
        return False

    def _stop(self, why: str) -> None:
        if not self.fatal:
            self.fatal = why
        self.abort.set()


def status_lines(ledger: Ledger) -> Iterator[str]:
    """What ``--status`` shows: the counts, then every failed, deferred, unsent and in-doubt row."""
    counts = ledger.counts()
    yield (f"{ledger.issue}: " + ", ".join(f"{n} {state}" for state, n in counts.items()))
    for row in ledger.rows(FAILED):
        yield f"failed    {row.email}  {row.reply}"
    for row in ledger.rows(DEFERRED):
        yield f"deferred  {row.email}  after {row.attempts} attempt(s): {row.reply}"
    for row in ledger.rows(SENDING):
        yield f"sending   {row.email}  {row.message_id} (in flight, or a send was killed)"
    for row in ledger.rows(in_doubt=True):
        yield (f"in doubt  {row.email}  {row.message_id}: in flight at an interruption "
               f"{row.in_doubt} time(s), may have 2 copies ({row.state})")
