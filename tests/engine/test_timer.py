from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from statemachines.engine import Timer
from statemachines.engine.timer import entriesKept


class Owner:
    def __init__(self, timeout: Callable[[], object]) -> None:
        self.timeout = timeout


class TimerTests(SynchronousTestCase):
    def test_oneCallAtATime(self) -> None:
        clock, fired = Clock(), []
        timer = Timer(clock, Owner(lambda: fired.append(clock.seconds())))
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
        timer = Timer(clock, Owner(lambda: fired.append(1)))
        timer.start(1)
        timer.cancel()
        clock.advance(10)
        self.assertEqual((fired, clock.getDelayedCalls()), ([], []))

    def test_restartOnlyMovesTheDeadline(self) -> None:
        clock, fired = Clock(), []
        timer = Timer(clock, Owner(lambda: fired.append(clock.seconds())))
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
        timer = Timer(clock, Owner(lambda: fired.append(clock.seconds())))
        timer.start(60)
        timer.restart(5)
        clock.advance(5)
        self.assertEqual((fired, clock.getDelayedCalls()), ([5.0], []))

    def test_restartWithNothingPendingStarts(self) -> None:
        clock, fired = Clock(), []
        timer = Timer(clock, Owner(lambda: fired.append(clock.seconds())))
        timer.restart(3)
        clock.advance(3)
        self.assertEqual(fired, [3.0])
        timer.restart(None)
        self.assertEqual(clock.getDelayedCalls(), [])


class SharedDeadlinesTests(SynchronousTestCase):
    """Many timers on one clock behave like independent deadlines."""

    @settings(max_examples=300, deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.sampled_from(["start", "restart", "cancel", "advance"]),
                st.integers(0, 4),
                st.sampled_from([None, 0.0, 0.5, 1.0, 2.5, 7.0]),
            ),
            max_size=60,
        )
    )
    def test_likeIndependentDeadlines(
        self, operations: list[tuple[str, int, float | None]]
    ) -> None:
        clock = Clock()
        fired: list[tuple[int, float]] = []
        timers = [
            Timer(clock, Owner(lambda i=i: fired.append((i, clock.seconds()))))
            for i in range(5)
        ]
        model: dict[int, float | None] = dict.fromkeys(range(5))
        expected: list[tuple[int, float]] = []
        for operation, i, delay in operations:
            if operation == "advance":
                step = delay or 0.0
                until = clock.seconds() + step
                due = sorted(
                    (t, j) for j, t in model.items() if t is not None and t <= until
                )
                for _, j in due:
                    # Clock.advance moves time first, then runs what is due.
                    expected.append((j, until))
                    model[j] = None
                clock.advance(step)
                self.assertEqual(sorted(fired), sorted(expected))
            elif operation == "cancel":
                timers[i].cancel()
                model[i] = None
            elif delay is None:
                getattr(timers[i], operation)(None)  # None: never
                model[i] = None
            else:
                getattr(timers[i], operation)(delay)
                model[i] = clock.seconds() + delay
            live = [t for t in model.values() if t is not None]
            calls = clock.getDelayedCalls()
            self.assertEqual(len(calls), 1 if live else 0)
            if live:
                self.assertLessEqual(calls[0].getTime(), min(live))

    def test_manyCancelledEntriesAreCompacted(self) -> None:
        clock = Clock()
        timers = [Timer(clock, Owner(lambda: None)) for _ in range(200)]
        for i, timer in enumerate(timers):
            timer.start(100 + i)
        for timer in timers[1:]:
            timer.cancel()
        self.assertLess(entriesKept(clock), 100)
        timers[0].cancel()
        self.assertEqual(clock.getDelayedCalls(), [])


class ExternalCancelTests(SynchronousTestCase):
    def test_timersStillFireAfterTheSharedCallWasCancelledElsewhere(self) -> None:
        # trial's cleanup cancels delayed calls left behind; the timers of
        # that clock must keep working afterwards.
        clock = Clock()
        fired: list[str] = []
        Timer(clock, Owner(lambda: fired.append("first"))).start(10)
        [call] = clock.getDelayedCalls()
        call.cancel()
        Timer(clock, Owner(lambda: fired.append("second"))).start(20)
        clock.advance(20)
        self.assertEqual(fired, ["first", "second"])
