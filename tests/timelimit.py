"""
A time limit for every test, so that a bug that loops forever (a timer that
keeps rescheduling itself, a read loop that never ends) fails its test
instead of hanging the suite.

Trial's ``SynchronousTestCase`` has no time limit of its own, so each test
runs under a ``SIGALRM`` that raises `TestTimedOut` in whatever the test is
doing after ``TXMACHINES_TEST_TIME_LIMIT`` seconds (default 120).  Nested runs
(a test running a suite of its own) keep the outer limit.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

LIMIT = float(os.environ.get("TXMACHINES_TEST_TIME_LIMIT", "120"))


class TestTimedOut(Exception):
    """The test ran longer than the suite's time limit."""


def _timedOut(signum: int, frame: object) -> None:
    raise TestTimedOut(f"the test ran longer than {LIMIT:g} s")


_running = threading.local()
_originalRun = SynchronousTestCase.run


def _runWithinTheLimit(self: SynchronousTestCase, result: Any) -> Any:
    if getattr(_running, "test", False) or not LIMIT:
        return _originalRun(self, result)
    if threading.current_thread() is not threading.main_thread():
        return _originalRun(self, result)
    _running.test = True
    previous = signal.signal(signal.SIGALRM, _timedOut)
    signal.setitimer(signal.ITIMER_REAL, LIMIT)
    try:
        return _originalRun(self, result)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _running.test = False


def install() -> None:
    """Give every trial test the time limit (idempotent)."""
    SynchronousTestCase.run = _runWithinTheLimit  # type: ignore[method-assign]
