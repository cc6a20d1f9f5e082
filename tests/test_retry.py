"""
The retry policy's bookkeeping (`Attempts`): failed attempts in a row, the
delay before the next, and giving up after ``maxAttempts``.
"""

from __future__ import annotations

from twisted.internet.error import ConnectionRefusedError
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from statemachines.retry import Attempts, describeAttempts


def refused(message: str = "") -> Failure:
    return Failure(ConnectionRefusedError(message))


class AttemptsTests(SynchronousTestCase):
    def test_delayFollowsFailuresInARow(self) -> None:
        """As ClientService: policy(n) after n failed attempts in a row."""
        attempts = Attempts(lambda n: 10.0 * n)
        self.assertEqual(attempts.nextDelay(), 0.0)
        attempts.failed(refused())
        attempts.failed(refused())
        self.assertEqual((attempts.failures, attempts.nextDelay()), (2, 20.0))
        attempts.succeeded()
        self.assertEqual((attempts.failures, attempts.nextDelay()), (0, 0.0))

    def test_defaultPolicyIsTwistedsBackoff(self) -> None:
        """Twisted's backoffPolicy: 1 s, x1.5, at most 60 s, plus under 1 s."""
        policy = Attempts().policy
        self.assertGreaterEqual(policy(0), 1.0)
        for count in (10, 30, 100, 10_000):
            self.assertLess(policy(count), 61.0, count)
        for count in (30, 100, 10_000):  # 1.5 ** 11 > 60: capped from then on
            self.assertGreaterEqual(policy(count), 60.0, count)

    def test_exhaustedAfterMaxAttempts(self) -> None:
        attempts = Attempts(maxAttempts=2)
        attempts.failed(refused())
        self.assertFalse(attempts.exhausted())
        self.assertIsNone(attempts.whyGaveUp())
        last = refused("port 7")
        attempts.failed(last)
        self.assertTrue(attempts.exhausted())
        self.assertIs(attempts.lastFailure, last)
        self.assertEqual(
            attempts.whyGaveUp(),
            "gave up connecting (2 attempts failed): Connection was refused by "
            "other side: port 7.",
        )

    def test_noLimitNeverExhausted(self) -> None:
        for limit in (None, 0):
            attempts = Attempts(maxAttempts=limit)
            for _ in range(1000):
                attempts.failed(refused())
            self.assertFalse(attempts.exhausted(), limit)

    def test_badLimitRefused(self) -> None:
        with self.assertRaises(ValueError) as caught:
            Attempts(maxAttempts=-1)
        self.assertIn("maxAttempts", str(caught.exception))

    def test_aNewRunCountsAfresh(self) -> None:
        attempts = Attempts(maxAttempts=1)
        attempts.failed(refused())
        attempts.beginRun()
        self.assertEqual((attempts.failures, attempts.lastFailure), (0, None))
        self.assertFalse(attempts.exhausted())

    def test_failureWithoutMessageNamesItsType(self) -> None:
        attempts = Attempts(maxAttempts=1)
        attempts.failed(Failure(TimeoutError()))
        self.assertEqual(
            attempts.whyGaveUp(), "gave up connecting (1 attempt failed): TimeoutError"
        )

    def test_describeAttempts(self) -> None:
        self.assertEqual(
            [describeAttempts(n) for n in (1, 2)], ["1 attempt", "2 attempts"]
        )
