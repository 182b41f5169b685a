"""Work in a forked child: values out, a value in later, errors back, nothing left behind."""

from __future__ import annotations

import os
import time

import pytest

from publisher.errors import PublisherError
from publisher.render import forked
from publisher.render.forked import Forked


def _pid_and_double(inbox, value):  # type: ignore[no-untyped-def]
    return os.getpid(), value * 2, inbox()


def _fail(inbox):  # type: ignore[no-untyped-def]
    raise PublisherError("the layout has no page", None)


def _wait_forever(inbox):  # type: ignore[no-untyped-def]
    return inbox()


def test_the_child_runs_elsewhere_and_receives_a_value_sent_after_it_started() -> None:
    job = Forked(_pid_and_double, 21)
    job.send({"page": "3"})
    pid, doubled, received = job.result()
    assert pid != os.getpid()
    assert doubled == 42
    assert received == {"page": "3"}


def test_an_error_in_the_child_is_raised_here_with_its_message() -> None:
    job = Forked(_fail)
    with pytest.raises(PublisherError, match="the layout has no page"):
        job.result()


def test_a_value_sent_to_a_child_that_failed_already_does_not_hide_its_error() -> None:
    job = Forked(_fail)
    job._process.join()  # the child has failed and its end of the inbox is closed
    job.send({"page": "3"} | {str(n): "x" * 100 for n in range(2000)})  # more than a pipe holds
    with pytest.raises(PublisherError, match="the layout has no page"):
        job.result()


def _die(inbox):  # type: ignore[no-untyped-def]
    os._exit(3)


def test_a_child_that_dies_is_reported_with_its_exit_status() -> None:
    with pytest.raises(RuntimeError, match=r"the worker died \(exit status 3\)"):
        Forked(_die, what="the worker").result()


def test_leaving_early_ends_a_child_that_still_waits() -> None:
    with pytest.raises(KeyError), Forked(_wait_forever) as job:
        process = job._process
        raise KeyError("the parent failed before sending")
    deadline = time.monotonic() + 5
    while process.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not process.is_alive()


def test_without_fork_the_function_runs_here_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forked, "can_fork", lambda: False)
    job = Forked(_pid_and_double, 5)
    job.send("late")
    assert job.result() == (os.getpid(), 10, "late")


def test_without_fork_a_value_never_sent_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forked, "can_fork", lambda: False)
    with pytest.raises(RuntimeError, match="never sent"):
        Forked(_wait_forever).result()
