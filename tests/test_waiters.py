"""
Who waits for a client (`ConnectWaiters`, `StopWaiters`): fired, failed
after N failed attempts, or cancelled, each exactly once.
"""

from __future__ import annotations

from twisted.internet.defer import CancelledError
from twisted.internet.error import ConnectionRefusedError
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from statemachines.testing import RecordingLink
from statemachines.waiters import ConnectWaiters, StopWaiters


def refused() -> Failure:
    return Failure(ConnectionRefusedError())


class ConnectWaitersTests(SynchronousTestCase):
    def test_connectedFiresEachOnce(self) -> None:
        waiters, link = ConnectWaiters(), RecordingLink()
        first, second = waiters.add(), waiters.add()
        waiters.connected(link)
        self.assertIs(self.successResultOf(first), link)
        self.assertIs(self.successResultOf(second), link)
        waiters.connected(RecordingLink())  # no one waits any more

    def test_failAfterFailuresCountsFromWhenAsked(self) -> None:
        waiters = ConnectWaiters()
        early = waiters.add(failAfterFailures=2)
        waiters.attemptFailed(refused())
        late = waiters.add(failAfterFailures=2)
        patient = waiters.add()
        waiters.attemptFailed(refused())
        self.failureResultOf(early, ConnectionRefusedError)
        self.assertNoResult(late)
        waiters.attemptFailed(refused())
        self.failureResultOf(late, ConnectionRefusedError)
        self.assertNoResult(patient)

    def test_aWaiterAddedByACallbackWaitsForTheNextTime(self) -> None:
        waiters = ConnectWaiters()
        again = []
        waiters.add(failAfterFailures=1).addErrback(
            lambda f: again.append(waiters.add(failAfterFailures=1))
        )
        kept = waiters.add()
        waiters.attemptFailed(refused())
        [added] = again
        self.assertNoResult(added)
        waiters.connected(RecordingLink())
        self.successResultOf(added)
        self.successResultOf(kept)

    def test_failAndCancel(self) -> None:
        waiters = ConnectWaiters()
        failed = waiters.add()
        waiters.fail(refused())
        self.failureResultOf(failed, ConnectionRefusedError)
        cancelled = waiters.add()
        waiters.cancel()
        self.failureResultOf(cancelled, CancelledError)


class StopWaitersTests(SynchronousTestCase):
    def test_stoppedFiresThoseWaitingOnly(self) -> None:
        waiters = StopWaiters()
        again = []
        first = waiters.add()
        first.addCallback(lambda _: again.append(waiters.add()))
        waiters.stopped()
        self.assertIsNone(self.successResultOf(first))
        [next] = again
        self.assertNoResult(next)
        waiters.stopped()
        self.successResultOf(next)
