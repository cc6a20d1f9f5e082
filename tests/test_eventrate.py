"""Per-connection events at a bounded rate: the rest at debug, summarised."""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import Logger, LogLevel, capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from protocols.server import MachineServerFactory
from statemachines import EchoMachine
from statemachines.eventrate import EventRate

from .helpers import lost


def levels(events: list[dict[str, object]], level: LogLevel) -> list[dict[str, object]]:
    return [e for e in events if e["log_level"] == level]


class EventRateTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.rate = EventRate(self.clock, burst=3, window=10)
        self.log = Logger(namespace="test")

    def test_pastTheBurstAtDebugThenSummarised(self) -> None:
        with capturedLogs() as events:
            for n in range(5):
                self.rate.emit(self.log, LogLevel.info, "reset {n}", n=n)
        self.assertEqual([e["n"] for e in levels(events, LogLevel.info)], [0, 1, 2])
        self.assertEqual([e["n"] for e in levels(events, LogLevel.debug)], [3, 4])
        self.clock.advance(10)
        with capturedLogs() as events:
            self.rate.emit(self.log, LogLevel.info, "reset {n}", n=5)
        [summary, fresh] = events
        self.assertEqual((summary["count"], summary["like"]), (2, "reset {n}"))
        self.assertEqual(summary["log_level"], LogLevel.info)
        self.assertEqual(fresh["n"], 5)  # a new window

    def test_kindsAreCountedApart(self) -> None:
        with capturedLogs() as events:
            for _ in range(4):
                self.rate.emit(self.log, LogLevel.info, "reset")
                self.rate.emit(self.log, LogLevel.info, "timeout")
        self.assertEqual(len(levels(events, LogLevel.info)), 6)

    def test_flushSummarises(self) -> None:
        with capturedLogs():
            for _ in range(7):
                self.rate.emit(self.log, LogLevel.warn, "refused")
        self.clock.advance(4)
        with capturedLogs() as events:
            self.rate.flush()
        [summary] = events
        self.assertEqual((summary["count"], summary["seconds"]), (4, 4))
        self.assertEqual(summary["log_level"], LogLevel.warn)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class UnderAttackTests(SynchronousTestCase):
    def test_manyRefusalsAndResetsStayReadable(self) -> None:
        clock = Clock()
        factory = MachineServerFactory(
            lambda: EchoMachine(clock), maxPerPeer=1, clock=clock
        )
        adapters = []
        with capturedLogs() as events:
            for port in range(200):
                adapter = factory.buildProtocol(IPv4Address("TCP", "10.9.9.9", port))
                adapter.makeConnection(StringTransport())
                adapters.append(adapter)
            for adapter in adapters:
                adapter.connectionLost(lost())
            EventRate.of(clock).flush()
        refusals = [e for e in events if "refused" in str(e.get("log_format"))]
        noteworthy = [e for e in refusals if e["log_level"] == LogLevel.info]
        self.assertEqual(len(refusals), 199)  # nothing lost at debug level
        self.assertEqual(len(noteworthy), 20)
        [summary] = [e for e in events if e.get("like") == refusals[0]["log_format"]]
        self.assertEqual(summary["count"], 179)
