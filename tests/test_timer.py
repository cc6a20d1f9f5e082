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

    def test_restartOnlyMovesTheDeadline(self) -> None:
        clock, fired = Clock(), []
        timer = Timer(clock, lambda: fired.append(clock.seconds()))
        timer.start(10)
        [call] = clock.getDelayedCalls()
        for _ in range(5):
            clock.advance(4)
            timer.restart(10)
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        clock.advance(9.9)
        self.assertEqual(fired, [])
        clock.advance(0.1)
        self.assertEqual(fired, [30.0])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_restartSoonerReplaces(self) -> None:
        clock, fired = Clock(), []
        timer = Timer(clock, lambda: fired.append(clock.seconds()))
        timer.start(60)
        timer.restart(5)
        clock.advance(5)
        self.assertEqual((fired, clock.getDelayedCalls()), ([5.0], []))

    def test_restartWithNothingPendingStarts(self) -> None:
        clock, fired = Clock(), []
        timer = Timer(clock, lambda: fired.append(clock.seconds()))
        timer.restart(3)
        clock.advance(3)
        self.assertEqual(fired, [3.0])
        timer.restart(None)
        self.assertEqual(clock.getDelayedCalls(), [])


class AdapterForTests(SynchronousTestCase):
    def test_unknownFraming(self) -> None:
        with self.assertRaises(ValueError) as caught:
            adapterFor("smoke-signals")
        self.assertIn("line, netstring, int32, raw", str(caught.exception))
