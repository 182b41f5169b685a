"""What the sending benchmarks (send_bench.py, senders_bench.py) share: the SMTP sink,
and a process's peak memory.

The sink is aiosmtpd in a process of its own, so that the figures are the sender's:
it counts what it accepts and discards it, replying at once, or ``delay`` seconds late
to each message's data (as a relay across a network takes its time over a message), or
``reply_delay`` seconds late to every command (MAIL, RCPT, DATA, the final dot: a
relay's round trips).

    sink = Sink(delay=0.02)
    ... send to 127.0.0.1:sink.port ...
    received = sink.stop()
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from send_support import free_port

SOURCE = """
import asyncio, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

DELAY = float(sys.argv[2])
REPLY_DELAY = float(sys.argv[3])

class Sink:
    count = 0
    async def handle_DATA(self, server, session, envelope):
        if DELAY:
            await asyncio.sleep(DELAY)
        Sink.count += 1
        return "250 OK"

class Relay(SMTP):  # every reply REPLY_DELAY late
    async def push(self, status):
        await asyncio.sleep(REPLY_DELAY)
        await super().push(status)

class Sinks(Controller):
    def factory(self):
        return (Relay if REPLY_DELAY else SMTP)(self.handler, **self.SMTP_kwargs)

controller = Sinks(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]), data_size_limit=0)
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
print(Sink.count, flush=True)
"""


class Sink:
    """A running sink on a free port of 127.0.0.1 (``port``), ready when made."""

    def __init__(self, delay: float = 0.0, reply_delay: float = 0.0):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-c", SOURCE, str(self.port), str(delay), str(reply_delay)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"

    def stop(self) -> int:
        """Stop the sink; the number of messages it accepted."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        received = int(self.process.stdout.read().split()[-1])
        self.process.wait()
        return received


def high_water_kb(pid: int) -> int:
    """VmHWM, the peak resident memory of a running process, in KB (0 once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"^VmHWM:\s+(\d+) kB", text, re.M)
    return int(found.group(1)) if found else 0
