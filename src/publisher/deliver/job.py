"""``publisher send``: mail one built issue to every subscriber, exactly once.

The run locks the store file (``flock``, whatever name it is reached by:
:class:`publisher.deliver.store.FileLock`), takes the mailing's lease in the store
(:mod:`publisher.deliver.lease`), then the main thread feeds the ledger's pending
rows to a small pool of worker threads, one SMTP connection each. A worker claims a
row (``sending``: still subscribed, the lease still held), sends the data, commits
``handed``, sends the final dot, then commits the outcome
(:mod:`publisher.deliver.ledger`). The main thread schedules the retries of
temporary failures, each message at most ``retries`` tries in a run, whatever went
wrong; the server's failures in a row pause every connection
(:class:`publisher.deliver.smtp.Backoff`) and, past a limit, stop the run. A store
that stays busy or fills up, a signal, a fatal reply: the run stops after the
messages in flight, and a later run of the same command picks up where it stopped.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from publisher.build.atomic import write_atomic
from publisher.deliver import db as store_db
from publisher.deliver import signed, smtp, store, subscribers, tokens, verp
from publisher.deliver.db import Connection, Location
from publisher.deliver.dkim import DkimSettings, signer_for
from publisher.deliver.lease import Lease
from publisher.deliver.ledger import (
    DEFERRED,
    DOUBT,
    FAILED,
    HANDED,
    PENDING,
    SENDING,
    SENT,
    Delivery,
    Ledger,
    Outcome,
)
from publisher.deliver.personalise import Recipient, Template, message_id
from publisher.deliver.status import status_lines
from publisher.deliver.stopping import Stop
from publisher.errors import PublisherError, disk_error
from publisher.model import Publication

log = logging.getLogger(__name__)
progress = logging.getLogger("publisher.progress")

PROGRESS_EVERY = 2.0  # seconds between progress lines
#: Seconds between looks at the other senders' rows, for a sender that has none left
#: while others still have rows reserved or in flight (several senders, PostgreSQL).
WAIT_POLL = 0.5
UNSTARTED, UNSUBSCRIBED, GONE = "unstarted", "unsubscribed", "gone"  # results, not states
__all__ = ["Mailing", "Send", "Summary", "dry_run", "send_test", "status_lines"]


@dataclass(frozen=True)
class Mailing:
    """One issue's email and everything needed to personalise it, sign it
    (``dkim``: :mod:`publisher.deliver.dkim`, None for no signature) and give it its
    return path (``bounce_domain``: VERP, :mod:`publisher.deliver.verp`; "" for the
    sender's address; checked with the issue when the mailing is made, a ValueError for
    one a return path cannot carry)."""

    issue: str
    template: Template
    publication: Publication
    secret: bytes = field(repr=False)
    dkim: DkimSettings | None = None
    bounce_domain: str = ""
    _return_paths: verp.ReturnPaths | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        paths = (verp.ReturnPaths(self.issue, self.secret, self.bounce_domain)
                 if self.bounce_domain else None)
        object.__setattr__(self, "_return_paths", paths)  # frozen: set once, here

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
            preferences_url=signed.preferences_url(self.publication, self.list_name, email,
                                                   self.secret),
        )

    def render(self, email: str, name: str, msg_id: str | None = None, *,
               wire: bool = False) -> bytes:
        """The message for one subscriber, signed when DKIM is set; ``wire``: dot-stuffed
        for SMTP ``DATA`` (the signature is the same: it covers the message itself)."""
        recipient = self.recipient(email, name, msg_id)
        if self.dkim is None:
            return self.template.render(recipient, wire=wire)
        # one pass renders the message in the pieces the signer wants (the template's own
        # pieces canonicalized once a mailing, not once a message) and dot-stuffed
        rendered = self.template.render_signable(recipient)
        header = signer_for(self.dkim).signature_of(rendered)
        return header + (rendered.wire if wire else rendered.message)

    def return_path(self, subscriber_id: int) -> str:
        """The envelope sender of the message to ``subscriber_id``: a VERP address when a
        bounce domain is set, else the sender's."""
        if self._return_paths is None:
            return self.template.sender
        return self._return_paths.of(subscriber_id)


def dry_run(db: Connection, mailing: Mailing, folder: Path) -> int:
    """Write every subscriber's message to ``folder`` (one .eml each); send nothing."""
    if folder.exists() and not folder.is_dir():
        raise PublisherError("is not a folder: give --dry-run a folder to write the "
                             "messages to", folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise disk_error(exc, folder, "cannot create the folder") from None
    n = 0
    for sub in subscribers.subscribed(db):
        data = mailing.render(sub.email, sub.name)
        write_atomic(folder / f"{sub.id:07d}.eml", data, quiet=True)
        n += 1
    progress.info("wrote %d personalised message(s) to %s; nothing was sent", n, folder)
    return n


def send_test(mailing: Mailing, settings: smtp.SmtpSettings, address: str, name: str) -> str:
    """Send one proof to ``address``, outside the ledger; the server's reply.  It is
    signed as the real ones are, but its return path is the sender's (a proof is no
    subscriber's: a VERP address would have to carry the whole address, which may not
    fit in a local part)."""
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
    tries: int = 0  # claims this run
    data: bytes = b""  # the personalised message, dot-stuffed, rendered by the main thread
    sender: str = ""  # its return path (MAIL FROM), made by the main thread too


@dataclass(frozen=True)
class _Result:
    item: _Item
    state: str  # the state recorded, or UNSTARTED, UNSUBSCRIBED, GONE
    reply: str = ""
    handed: bool = False  # the final dot went out


@dataclass
class Summary:
    sent: int = 0        # in this run
    failed: int = 0
    doubt: int = 0       # messages this run put in doubt (handed over, no reply)
    unsubscribed: int = 0  # unsubscribed during the run: not mailed
    deferred: int = 0    # left for the next run: deferred rows ...
    pending: int = 0     # ... and rows not yet tried
    doubt_before: int = 0  # rows in doubt from earlier runs, not sent again
    unrecorded: int = 0  # outcomes the store would not take: in doubt for the next run
    elapsed: float = 0.0
    error: str = ""      # why the run stopped before the end
    again: bool = True   # whether running the command again can help with ``error``
    signal: str = ""     # the signal that stopped the run


class Send:
    """One run of ``publisher send MONTH`` against an SMTP server."""

    def __init__(self, db_path: Location | Path | str, mailing: Mailing,
                 settings: smtp.SmtpSettings, *,
                 connections: int = 1, rate: float = 0.0, retry_failed: bool = False,
                 resend_in_doubt: bool = False, stop: Stop | None = None,
                 store_timeout: float = store.DEFAULT_TIMEOUT,
                 clock: Callable[[], float] = time.monotonic):
        self.location = store_db.locate(db_path)
        self.db_path = self.location  # where the store's errors are said to be
        self.mailing = mailing
        self.settings = settings
        self.connections = max(1, connections)
        self.limit = smtp.RateLimit(rate)
        self.backoff = smtp.Backoff(settings)
        self.retry_failed = retry_failed
        self.resend_in_doubt = resend_in_doubt
        self.stop = stop or Stop()
        self.store_timeout = store_timeout
        self.clock = clock
        self.lease = Lease(mailing.issue)
        # SQLite: one send per file, whatever name it is reached by
        self.file_lock = store.FileLock(self.location.file) if self.location.is_sqlite else None
        self.jobs: queue.Queue[_Item | None] = queue.Queue()
        self.results: queue.Queue[_Result] = queue.Queue()
        self.fatal = ""
        self.again = True
        self.unrecorded: list[Outcome] = []
        self.lock = threading.Lock()
        self.crash: BaseException | None = None  # a bug in a worker, raised in run()

    def _open(self) -> Connection:
        return store.open_store(self.location, self.store_timeout)

    def _same_file(self) -> bool:
        """Does the store's path still name the file this send locked (SQLite)?"""
        return self.file_lock is None or self.file_lock.same_file()

    def _halt(self, why: str, *, again: bool = True) -> None:
        """Stop the run after the messages in flight (the first reason is kept)."""
        with self.lock:
            if not self.fatal and not self.stop.signum:
                self.fatal, self.again = why, again
        self.stop.event.set()

    def run(self) -> Summary:
        if self.file_lock is None:
            return self._run_locked()
        self.file_lock.acquire()  # before SQLite opens it: one send per store file
        try:
            return self._run_locked()
        finally:
            self.file_lock.release()

    def _run_locked(self) -> Summary:
        db = self._open()
        try:
            with store.errors(self.db_path, self.store_timeout):
                previous = self.lease.acquire(db)
            if previous is not None:
                log.warning("the send of %s by %s had stopped without ending: taken over",
                            self.mailing.issue, previous)
            try:
                return self._run_leased(db)
            finally:
                try:
                    with store.errors(self.db_path, self.store_timeout):
                        self.lease.release(db)
                except store.StoreError:  # it expires, and a dead holder is seen at once
                    log.debug("the lease of %s could not be released", self.mailing.issue)
        finally:
            db.close()

    def _run_leased(self, db: Connection) -> Summary:
        pool = [smtp.Connection(self.settings, eight_bit=self.mailing.template.eight_bit)
                for _ in range(self.connections)]
        try:
            for conn in pool:  # every connection works before anything is marked
                if not conn.open(self.stop.event):
                    break  # a signal: nothing is sent, the run ends as stopped
        except PublisherError as exc:
            for conn in pool:
                conn.close()
            raise PublisherError(f"{exc}; nothing was sent") from None
        ledger = Ledger(db, self.mailing.issue, self.lease.owner)
        try:
            with store.errors(self.db_path, self.store_timeout):
                total, doubt_before = self._prepare(ledger)
        except BaseException:
            for conn in pool:
                conn.close()
            raise
        def hurry() -> None:  # a second signal: stop waiting on the server
            for conn in pool:
                conn.interrupt()

        self.stop.hurry = hurry
        workers = [threading.Thread(target=self._work, args=(conn,), daemon=True,
                                    name=f"smtp-{i}") for i, conn in enumerate(pool)]
        done = threading.Event()
        heartbeat = threading.Thread(target=self._heartbeat, args=(done,), daemon=True,
                                     name="lease")
        heartbeat.start()
        for worker in workers:
            worker.start()
        summary = Summary(doubt_before=doubt_before)
        start = self.clock()
        try:
            self._dispatch(ledger, total, summary, start)
        finally:
            self.stop.event.set()
            for _ in workers:
                self.jobs.put(None)
            for worker in workers:
                worker.join()
            done.set()
            heartbeat.join()
            self.stop.hurry = lambda: None
        if self.crash is not None:
            raise self.crash
        summary.elapsed = self.clock() - start
        self._close(ledger, summary)
        if not self._same_file():
            self._moved(db)
        summary.error, summary.again = self.fatal, self.again
        summary.signal = self.stop.name
        return summary

    def _prepare(self, ledger: Ledger) -> tuple[int, int]:
        """The ledger made ready; (messages to send, rows in doubt left alone)."""
        added, recovered = ledger.prepare(self.mailing.message_id)
        log.debug("%d subscriber(s) added to the ledger of %s", added, self.mailing.issue)
        if recovered.resent:
            log.warning("%d message(s) were being sent when an earlier send stopped, before "
                        "the server had them: they are sent now", recovered.resent)
        if recovered.in_doubt:
            log.warning("%d message(s) had been handed to the server when an earlier send "
                        "stopped, with no reply seen: they are in doubt, not sent again "
                        "(see --status)", recovered.in_doubt)
        if self.resend_in_doubt:
            n = ledger.resend_in_doubt()
            log.info("%d message(s) in doubt are sent again, as asked: each may arrive "
                     "twice", n)
        if self.retry_failed:
            retried, kept = ledger.retry_failed()
            if retried:
                log.info("%d message(s) the server refused before are sent again", retried)
            if kept:
                log.warning("%d refused message(s) are not sent again: an earlier copy of "
                            "each is in doubt (see --status)", kept)
        counts = ledger.counts()
        total = counts[PENDING] + counts[DEFERRED]
        progress.info("sending %s to %d subscriber(s) over %d connection(s) (%d already "
                      "sent, %d failed earlier, %d in doubt)", self.mailing.issue, total,
                      self.connections, counts[SENT], counts[FAILED], counts[DOUBT])
        return total, counts[DOUBT]

    def _close(self, ledger: Ledger, summary: Summary) -> None:
        """Record what the store would not take before, release the claims, count."""
        try:
            with store.errors(self.db_path, self.store_timeout):
                while self.unrecorded:
                    ledger.record(self.unrecorded[0])
                    self.unrecorded.pop(0)
                ledger.release()
        except store.StoreError as exc:
            self._halt(str(exc))
            summary.unrecorded = len(self.unrecorded)
        try:
            with store.errors(self.db_path, self.store_timeout):
                counts = ledger.counts()  # a read: a busy or full store answers it
        except store.StoreError as exc:
            self._halt(str(exc))
            return
        summary.deferred = counts[DEFERRED]
        summary.pending = counts[PENDING] + counts[SENDING] + counts[HANDED]

    def _heartbeat(self, done: threading.Event) -> None:
        try:
            db = self._open()
        except PublisherError:
            return  # the claims check the lease: nothing can go wrong unnoticed
        try:
            while not done.wait(self.lease.ttl / 4):
                try:
                    with store.errors(self.db_path, self.store_timeout):
                        mine = self.lease.renew(db)
                except store.StoreError:
                    continue
                if not self._same_file():  # removed or replaced: stop now
                    self.stop.event.set()  # (said at the end, by _run_leased)
                    return
                if not mine:
                    self._halt(f"another send took over {self.mailing.issue} (this one was "
                               "stopped longer than its lease lasts)")
                    return
        finally:
            db.close()

    def _moved(self, db: Connection) -> None:
        """The store's path no longer names the file this send wrote its ledger to (it
        was removed, or replaced by a copy): a send from what is there now could mail the
        same addresses again.  This run's store, still open here, is saved beside it."""
        path = self.location.file
        saved = path.with_name(f"{path.name}.sent-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            db.execute("VACUUM INTO ?", (str(saved),))
            where = (f"what this run recorded is saved as {saved.name}: put it back in place "
                     f"of {path.name} (with no -wal or -shm file beside it)")
        except sqlite3.Error as exc:
            where = f"what this run recorded could not be saved ({exc})"
        with self.lock:
            self.fatal, self.again = (f"the subscriber store {path} was removed or "
                                      f"replaced during the send; {where}, before sending "
                                      "again"), False

    # -- the main thread ------------------------------------------------------------

    def _dispatch(self, ledger: Ledger, total: int, summary: Summary, start: float) -> None:
        after, exhausted = 0, False
        several = ledger.db.dialect.several_senders
        poll_at = 0.0  # when to look for rows again, waiting on the other senders
        fresh: list[_Item] = []
        retry: list[tuple[float, int, _Item]] = []
        order = itertools.count()
        # a few messages rendered ahead (more when signing: the main thread then takes
        # longer over each, and a busy moment of it must not leave a connection idle)
        outstanding, capacity = 0, self.connections * (2 if self.mailing.dkim is None else 4)
        done = 0
        last_report = start
        while True:
            halting = self.stop.event.is_set()
            if not halting and not fresh and not exhausted and self.clock() >= poll_at:
                try:
                    with store.errors(self.db_path, self.store_timeout):
                        # several senders: small reservations, so that the work stays
                        # shared to the end; one: the rows in order, 500 at a time
                        batch = ledger.to_send(after, limit=max(16, 8 * self.connections)
                                               if several else 500)
                        exhausted = not batch and not (several and self._others(ledger))
                except store.StoreError as exc:
                    self._halt(str(exc))
                    continue
                if batch:
                    after = batch[-1].subscriber_id
                    fresh = [_Item(d) for d in reversed(batch)]
                elif not exhausted:
                    poll_at = self.clock() + WAIT_POLL
            now = self.clock()
            while not halting and outstanding < capacity:
                if retry and retry[0][0] <= now:
                    item = heapq.heappop(retry)[2]
                elif fresh:
                    item = fresh.pop()
                else:
                    break
                if not item.data:  # rendered here, while the workers wait on the network
                    d = item.delivery
                    item.data = self.mailing.render(d.email, d.name, d.message_id, wire=True)
                    item.sender = self.mailing.return_path(d.subscriber_id)
                self.jobs.put(item)
                outstanding += 1
            if self.crash is not None or (not outstanding and (
                    halting or (not fresh and exhausted and not retry))):
                break
            timeout = max(0.0, retry[0][0] - now) if retry else PROGRESS_EVERY
            try:
                result = self.results.get(timeout=min(timeout, 0.25))
            except queue.Empty:
                continue
            outstanding -= 1
            done += self._count(result, summary, retry, order)
            now = self.clock()
            if now - last_report >= PROGRESS_EVERY:
                last_report = now
                self._report(done, total, summary, now - start)
        self._report(done, total, summary, self.clock() - start)

    def _others(self, ledger: Ledger) -> bool:
        """Out of rows: do other senders still have rows reserved or in flight?  The dead
        among them are reaped first (their rows are then free, or in doubt)."""
        dead, recovered = ledger.reap(self.lease)
        for holder in dead:
            log.warning("the sender %s of %s has stopped: its rows are taken over", holder,
                        self.mailing.issue)
        if recovered.in_doubt:
            log.warning("%d message(s) had been handed to the server by a sender that "
                        "stopped, with no reply seen: they are in doubt, not sent again "
                        "(see --status)", recovered.in_doubt)
        return bool(dead) or ledger.waiting_on_others() > 0

    def _count(self, result: _Result, summary: Summary,
               retry: list[tuple[float, int, _Item]], order: itertools.count[int]) -> int:
        """Take one worker's result into the summary; 1 if the message is done with."""
        item, email = result.item, result.item.delivery.email
        if result.state == SENT:
            summary.sent += 1
        elif result.state == FAILED:
            summary.failed += 1
            log.warning("%s: failed: %s", email, result.reply)
        elif result.state == DOUBT:
            summary.doubt += 1
            log.warning("%s: in doubt: the connection was lost after the message was "
                        "handed over (%s); not sent again", email, result.reply)
        elif result.state == UNSUBSCRIBED:
            summary.unsubscribed += 1
            log.info("%s: unsubscribed during the send: not mailed", email)
        elif result.state == DEFERRED:
            if self.stop.event.is_set():
                return 0  # left for the next run, with the rest
            if item.tries < self.settings.retries:
                due = self.clock() + self.settings.delay(item.tries)
                heapq.heappush(retry, (due, next(order), item))
                return 0
            log.warning("%s: deferred after %d tries: %s", email, item.tries, result.reply)
        elif result.state != GONE:
            return 0  # UNSTARTED, or PENDING after a fatal reply: left for the next run
        return 1

    def _report(self, done: int, total: int, summary: Summary, elapsed: float) -> None:
        share = done / total if total else 1.0
        bar = "#" * int(share * 20)
        progress.info("[%-20s] %d/%d  sent %d, failed %d, in doubt %d  (%.0f msg/s)",
                      bar, done, total, summary.sent, summary.failed, summary.doubt,
                      summary.sent / elapsed if elapsed > 0 else 0.0)

    # -- the workers ----------------------------------------------------------------

    def _work(self, conn: smtp.Connection) -> None:
        """Send the queued messages over ``conn``, each claimed before its transaction
        and its outcome recorded after it.  Without a rate limit, one commit records
        the outcome of a message and claims the next."""
        ledger: Ledger | None = None
        carry: list[_Result] = []  # an outcome not yet committed
        reopened = 0
        try:
            try:
                ledger = Ledger(self._open(), self.mailing.issue, self.lease.owner)
            except PublisherError as exc:
                self._halt(str(exc))
            while True:
                try:
                    item = self.jobs.get_nowait()
                except queue.Empty:
                    self._flush(ledger, carry)
                    item = self.jobs.get()
                if item is None:
                    break
                ready = ledger is not None and self._ready(conn)
                while ready and not conn.connected:
                    reopened += 1
                    self._reopen(conn, reopened)
                    ready = self._ready(conn)
                if not ready or ledger is None:
                    self._flush(ledger, carry)
                    self.results.put(_Result(item, UNSTARTED))
                    continue
                if self.limit.interval:
                    self._flush(ledger, carry)
                    self.limit.wait(self.stop.event)
                    if self.stop.event.is_set():
                        self.results.put(_Result(item, UNSTARTED))
                        continue
                self._one(conn, ledger, item, carry)
        except BaseException as exc:
            self.crash = exc
            self.stop.event.set()
        finally:
            if self.crash is None:
                self._flush(ledger, carry)
            conn.close()
            if ledger is not None:
                ledger.db.close()

    def _ready(self, conn: smtp.Connection) -> bool:
        """Wait out the server's pause; False if the run is stopping."""
        if self.backoff.exhausted:
            if self.backoff.reconnecting:
                self._halt(f"lost the SMTP server {self.settings.where} ({conn.lost}) and "
                           "could not reconnect")
            else:
                self._halt(f"the SMTP server {self.settings.where} failed "
                           f"{self.backoff.strikes} times in a row (last: "
                           f"{self.backoff.last})")
        self.backoff.wait(self.stop.event)
        return not self.stop.event.is_set()

    def _reopen(self, conn: smtp.Connection, reopened: int) -> None:
        if reopened > self.settings.reconnects:
            self._halt(f"the connection to the SMTP server {self.settings.where} was lost "
                       f"{reopened - 1} times in this run (last: {conn.lost})")
            return
        log.info("connection to %s lost (%s): reconnecting", self.settings.where, conn.lost)
        try:
            conn.open(self.stop.event)  # False on a stop: _ready says so next
        except PublisherError as exc:
            if "login" in exc.message:  # a refused login does not mend itself
                self._halt(exc.message, again=False)
            else:
                log.info("reconnect failed: %s", exc.message)
                self.backoff.failure(exc.message, reconnecting=True)

    def _one(self, conn: smtp.Connection, ledger: Ledger, item: _Item,
             carry: list[_Result]) -> None:
        """Claim ``item`` (recording the carried outcome), send it, carry its outcome."""
        sid = item.delivery.subscriber_id
        done = [_outcome(r) for r in carry]
        try:
            with store.errors(self.db_path, self.store_timeout):
                claim = ledger.claim(sid, done)
        except store.StoreError as exc:
            self.unrecorded.extend(done)
            self._halt(str(exc))
            carry.append(_Result(item, UNSTARTED))
            claim = UNSTARTED
        for result in carry:
            self.results.put(result)
        carry.clear()
        if claim == UNSTARTED:
            return
        if claim == "lease":
            self._halt(f"another send took over {self.mailing.issue} (this one was stopped "
                       "longer than its lease lasts)")
            self.results.put(_Result(item, UNSTARTED))
            return
        if claim != SENDING:
            self.results.put(_Result(item, claim))  # UNSUBSCRIBED or GONE
            return
        if not self._same_file():  # the store removed or replaced: send no more
            self.stop.event.set()  # (said at the end, by _run_leased; the row stays
            self.results.put(_Result(item, UNSTARTED))  # 'sending': the next run sends it)
            return
        item.tries += 1
        try:
            with store.errors(self.db_path, self.store_timeout):
                outcome = conn.send(item.sender, item.delivery.email,
                                    item.data, stuffed=True,
                                    before_dot=lambda: ledger.hand_over(sid))
        except store.StoreError as exc:  # the dot was not sent: the row stays ``sending``
            conn.lost = "the store could not be written"
            self._halt(str(exc))
            self.results.put(_Result(item, UNSTARTED))
            return
        carry.append(_Result(item, self._judge(conn, outcome), outcome.reply, outcome.handed))
        if outcome.kind == smtp.FATAL:
            self._halt(outcome.reply, again=False)

    def _judge(self, conn: smtp.Connection, outcome: smtp.Outcome) -> str:
        """The state an SMTP outcome moves a message to; the server's record kept."""
        if outcome.kind in (smtp.SENT, smtp.PERMANENT):
            self.backoff.success()
            return SENT if outcome.kind == smtp.SENT else FAILED
        if outcome.kind == smtp.FATAL:
            return FAILED if outcome.handed else PENDING
        self.backoff.failure(outcome.reply, closed=not conn.connected)
        if not conn.connected:
            conn.lost = outcome.reply
        return DOUBT if outcome.in_doubt else DEFERRED

    def _flush(self, ledger: Ledger | None, carry: list[_Result]) -> None:
        if not carry:
            return
        done = [_outcome(r) for r in carry]
        try:
            if ledger is None:
                raise store.StoreError("the subscriber store could not be opened")
            with store.errors(self.db_path, self.store_timeout):
                for o in done:
                    ledger.record(o)
        except store.StoreError as exc:
            self.unrecorded.extend(done)
            self._halt(str(exc))
        for result in carry:
            self.results.put(result)
        carry.clear()


def _outcome(result: _Result) -> Outcome:
    return Outcome(result.item.delivery.subscriber_id, HANDED if result.handed else SENDING,
                   result.state, result.reply)
