"""SIGTERM and SIGINT during a send: finish the messages in flight, then stop.

The first signal sets an event the send watches (no new message is started; the
ones in flight finish and are recorded); a second one also drops the
connections, so a stuck server cannot hold the stop.  The exit status is 128 +
the signal's number (130 for SIGINT, 143 for SIGTERM), as a shell reports it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType


@dataclass
class Stop:
    """Why the send was asked to stop, if it was."""

    event: threading.Event = field(default_factory=threading.Event)
    signum: int = 0
    hurry: Callable[[], None] = lambda: None  # what a second signal does

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    @property
    def status(self) -> int:
        return 128 + self.signum


@contextlib.contextmanager
def on_signals(stop: Stop) -> Iterator[Stop]:
    """Catch SIGTERM and SIGINT into ``stop`` (in the main thread; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.event.is_set():
            stop.hurry()
        stop.signum = stop.signum or signum
        stop.event.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
