"""The stop signals of a server: the first drains, every later one aborts."""

from __future__ import annotations

import signal
from typing import Any

from twisted.internet.error import ReactorNotRunning
from twisted.trial.unittest import SynchronousTestCase

from protocols.signals import StopSignals


class FakeReactor:
    """Records what signal handlers ask of the reactor, to run it later."""

    def __init__(self, stopping: bool = False) -> None:
        self.calls: list[Any] = []
        self.stopped = stopping

    def callFromThread(self, f: Any, *args: Any) -> None:
        self.calls.append(lambda: f(*args))

    def stop(self) -> None:
        if self.stopped:
            raise ReactorNotRunning("Can't stop reactor that isn't running.")
        self.stopped = True

    def runCalls(self) -> None:
        calls, self.calls = self.calls, []
        for call in calls:
            call()


class StopSignalsTests(SynchronousTestCase):
    """
    The first SIGINT or SIGTERM stops the reactor (its shutdown drains);
    every later one aborts, even when it comes before the reactor has run
    anything (a second Ctrl-C right behind the first is never lost).
    """

    def setUp(self) -> None:
        self.aborts = 0
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for signum, handler in previous.items():
            self.addCleanup(signal.signal, signum, handler)

    def abort(self) -> None:
        self.aborts += 1

    def test_secondSignalBeforeTheDrainAborts(self) -> None:
        reactor = FakeReactor()
        StopSignals(reactor, self.abort).install()
        handler = signal.getsignal(signal.SIGINT)
        assert callable(handler)
        handler(signal.SIGINT, None)
        handler(signal.SIGTERM, None)  # before the reactor ran anything
        reactor.runCalls()
        self.assertEqual((reactor.stopped, self.aborts), (True, 1))
        handler(signal.SIGINT, None)
        reactor.runCalls()
        self.assertEqual(self.aborts, 2)

    def test_signalWhileAlreadyStoppingAborts(self) -> None:
        """Stopped for another reason (a worker's supervisor went away)."""
        reactor = FakeReactor(stopping=True)
        StopSignals(reactor, self.abort, (signal.SIGTERM,)).install()
        self.assertNotEqual(signal.getsignal(signal.SIGTERM), signal.SIG_DFL)
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)
        handler(signal.SIGTERM, None)
        reactor.runCalls()  # no ReactorNotRunning escapes
        self.assertEqual(self.aborts, 1)
