"""What ``publisher send MONTH --status`` shows: the ledger's counts, then each row
that needs a look: failed, deferred, in flight, and in doubt with the copies it
may have; then each sender of the mailing and its progress (on PostgreSQL, where
several share a mailing; on SQLite while a send runs)."""

from __future__ import annotations

from collections.abc import Iterator

from publisher.deliver.ledger import (
    DEFERRED,
    DOUBT,
    FAILED,
    HANDED,
    PENDING,
    SENDING,
    SENT,
    SHOWN,
    Ledger,
    Row,
    SenderProgress,
)


def copies(row: Row) -> str:
    """How many copies an address may have: '0 or 1 copy', '1 or 2 copies', '1 to 3 copies'."""
    low, high = row.copies
    unit = "copy" if high == 1 else "copies"
    joint = "or" if high - low == 1 else "to"
    return f"{low} {joint} {high} {unit}" if high > low else f"{high} {unit}"


def status_lines(ledger: Ledger) -> Iterator[str]:
    counts = ledger.counts()
    counts[SENDING] += counts.pop(HANDED)
    yield f"{ledger.issue}: " + ", ".join(f"{n} {SHOWN[state]}" for state, n in counts.items())
    for row in ledger.rows(FAILED):
        yield f"failed    {row.email}  {row.reply}"
    for row in ledger.rows(DEFERRED):
        yield f"deferred  {row.email}  after {row.attempts} attempt(s): {row.reply}"
    for row in ledger.rows(SENDING):
        yield (f"sending   {row.email}  {row.message_id} (in flight, or a send was killed: "
               "then not yet handed over, the next run sends it)")
    for row in ledger.rows(HANDED):
        yield (f"sending   {row.email}  {row.message_id} (handed over, awaiting the reply; "
               "or a send was killed: then in doubt, and the next run does not send it)")
    for row in ledger.rows(in_doubt=True):
        high = row.copies[1]
        state = "not confirmed" if row.state == DOUBT else row.state
        yield (f"in doubt  {row.email}  {row.message_id}  {state}: {copies(row)}, at most "
               f"{max(0, high - 1)} extra ({row.in_doubt} hand-over(s) with no reply)")
    senders = ledger.senders()
    if ledger.db.dialect.several_senders or any(s.running for s in senders):
        for sender in senders:
            yield sender_line(sender)


def sender_line(sender: SenderProgress) -> str:
    rows = sender.rows
    state = ("running" if sender.running else f"ended {sender.ended}" if sender.ended
             else "stopped without ending")
    return (f"sender    process {sender.pid} on {sender.host}, since {sender.started}: "
            f"{rows.get(SENT, 0)} sent, {rows.get(FAILED, 0)} failed, "
            f"{rows.get(DOUBT, 0)} in doubt, {rows.get(DEFERRED, 0)} deferred, "
            f"{rows.get(SENDING, 0) + rows.get(HANDED, 0)} in flight, "
            f"{rows.get(PENDING, 0)} reserved ({state})")
