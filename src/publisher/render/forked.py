"""Work in a forked child process, with a way to hand it a value later.

The build runs formats side by side in forked children: a child inherits what
the parent has already read (the issue model, a laid-out document) without
pickling it, and only its result comes back through a pipe.  A child may also
wait for a value the parent computes after starting it (the print layout,
which the EPUB needs only at its end), so its other work overlaps the
parent's.

Where a child cannot be had (inside a daemonic process, or on a one-core
machine) the function runs in this process when its result is asked for.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_NOTHING = object()

#: What a child calls to wait for the value the parent hands it with :meth:`Forked.send`.
Inbox = Callable[[], Any]


def can_fork() -> bool:
    return (not multiprocessing.current_process().daemon and (os.cpu_count() or 1) > 1
            and "fork" in multiprocessing.get_all_start_methods())


class Forked(Generic[T]):
    """``function(inbox, *args)`` in a forked child; :meth:`result` waits for its value.

    An exception raised in the child is raised again by :meth:`result` (it must
    pickle, as :class:`~publisher.errors.PublisherError` does).  Used as a context
    manager, leaving the block early stops the child.
    """

    def __init__(self, function: Callable[..., T], *args: Any, what: str = "a worker"):
        self._what = what
        self._process: Any = None
        self._sent: Any = _NOTHING
        if not can_fork():
            self._run_here = lambda: function(self._take, *args)
            return
        fork = multiprocessing.get_context("fork")
        self._results, child_results = fork.Pipe(duplex=False)
        child_inbox, self._inbox = fork.Pipe(duplex=False)
        self._process = fork.Process(target=_child,
                                     args=(child_results, child_inbox, function, args))
        self._process.start()
        child_results.close()
        child_inbox.close()

    def send(self, value: Any) -> None:
        """Hand ``value`` to the child (what its inbox returns); once."""
        if self._process is None:
            self._sent = value
            return
        # A child that has ended already (failed) no longer reads: result() says why.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._inbox.send(value)

    def result(self) -> T:
        if self._process is None:
            return self._run_here()
        try:
            ok, value = self._results.recv()
        except EOFError:
            self.close()
            raise RuntimeError(f"{self._what} died (exit status "
                               f"{self._process.exitcode})") from None
        self.close()
        if not ok:
            raise value
        return value

    def close(self) -> None:
        """Stop waiting: close the pipes and end the child (if it still runs)."""
        if self._process is None:
            return
        self._inbox.close()
        self._results.close()
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def _take(self) -> Any:
        if self._sent is _NOTHING:
            raise RuntimeError(f"{self._what} waited for a value that was never sent")
        return self._sent

    def __enter__(self) -> Forked[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None and self._process.is_alive() and exc[0] is not None:
            self._process.kill()
        self.close()


def _child(results: Any, inbox: Any, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    def take() -> Any:
        try:
            return inbox.recv()
        except EOFError:  # the parent gave up: end quietly
            os._exit(0)

    try:
        results.send((True, function(take, *args)))
    except BaseException as exc:  # reported to the parent, which raises it
        try:
            results.send((False, exc))
        except BaseException:
            results.send((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        results.close()
