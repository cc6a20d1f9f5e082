"""
The reply deadline (`ReplyDeadline`): one thing owed at a time, on the
client's one timer, and nothing owed once forgotten.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from statemachines.engine import Timer
from statemachines.replies import ReplyDeadline


class Owner:
    def __init__(self) -> None:
        self.timeouts = 0

    def timeout(self) -> None:
        self.timeouts += 1


def deadline(replyTimeout: float | None = 5.0) -> tuple[ReplyDeadline, Owner, Clock]:
    clock, owner = Clock(), Owner()
    return ReplyDeadline(Timer(clock, owner), replyTimeout), owner, clock


class ReplyDeadlineTests(SynchronousTestCase):
    def test_silenceFiresTheTimer(self) -> None:
        replies, owner, clock = deadline()
        replies.expect("a reply to b'hi'")
        clock.advance(5)
        self.assertEqual(owner.timeouts, 1)
        self.assertEqual(
            replies.silence(),
            "the server sent nothing for 5 s while we waited for a reply to b'hi'",
        )

    def test_oneThingOwedAtATime(self) -> None:
        """Expecting while something is owed changes neither what nor when."""
        replies, owner, clock = deadline()
        replies.expect("the first")
        clock.advance(3)
        replies.expect("the second")
        clock.advance(2)
        self.assertEqual((owner.timeouts, replies.awaiting), (1, "the first"))

    def test_arrivedStopsOrStartsAfresh(self) -> None:
        replies, owner, clock = deadline()
        replies.expect("the banner")
        clock.advance(4)
        replies.arrived("the verdict")  # a new deadline, from now
        clock.advance(4)
        self.assertEqual((owner.timeouts, replies.awaiting), (0, "the verdict"))
        replies.arrived()
        clock.advance(10)
        self.assertEqual((owner.timeouts, replies.awaiting), (0, None))

    def test_arrivedWithNothingOwedLeavesTheTimer(self) -> None:
        """Closing: the timer is the close deadline; a late reply keeps it."""
        replies, owner, clock = deadline()
        replies.expect("a reply")
        replies.forget()
        replies.timer.start(3)  # the close deadline
        replies.arrived()
        clock.advance(3)
        self.assertEqual(owner.timeouts, 1)

    def test_noLimit(self) -> None:
        replies, owner, clock = deadline(None)
        replies.expect("a reply")
        self.assertEqual((clock.getDelayedCalls(), replies.awaiting), ([], "a reply"))
