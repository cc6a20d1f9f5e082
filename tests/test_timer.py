from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from protocols.framing import adapterFor
from statemachines.timer import Timer


class TimerTests(SynchronousTestCase):
    def test_oneCallAtATime(self) -> None:
        clock, fired = Clock(), []
        timer = Timer(clock, lambda: fired.append(clock.seconds()))
        timer.start(5)
        clock.advance(3)
        timer.start(5)  # replaces the first
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        clock.advance(5)
        self.assertEqual(fired, [8])
        timer.cancel()  # nothing pending: harmless
        timer.start(None)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_cancel(self) -> None:
        clock, fired = Clock(), []
        timer = Timer(clock, lambda: fired.append(1))
        timer.start(1)
        timer.cancel()
        clock.advance(10)
        self.assertEqual((fired, clock.getDelayedCalls()), ([], []))


class AdapterForTests(SynchronousTestCase):
    def test_unknownFraming(self) -> None:
        with self.assertRaises(ValueError) as caught:
            adapterFor("smoke-signals")
        self.assertIn("line, netstring, int32, raw", str(caught.exception))
