"""
The error policy every machine with a connection shares (TransportMachine):
a rejected input or a failing hook is logged and fails the connection; when
even that cannot be handled, the connection is aborted, never looping.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from statemachines.connection import ConnectionMachine

from .helpers import RecordingLink, connected, lost

Driver = Callable[[ConnectionMachine], None]

ROUTES: dict[str, list[Driver]] = {
    "idle": [],
    "connected": [lambda m: m.connectionMade(RecordingLink())],
    "receiving": [
        lambda m: m.connectionMade(RecordingLink()),
        lambda m: m.messageReceived(b"Alice"),
    ],
    "closing": [lambda m: m.connectionMade(RecordingLink()), lambda m: m.close()],
    "closed": [
        lambda m: m.connectionMade(RecordingLink()),
        lambda m: m.connectionLost(lost()),
    ],
}

ARGUMENTS: dict[str, tuple[object, ...]] = {
    "connectionMade": (RecordingLink(),),
    "messageReceived": (b"Bob",),
    "badFrame": ("bad",),
    "failed": ("oops",),
    "connectionLost": (lost(),),
    "nameAccepted": ("Bob",),
    "nameRejected": ("bad name",),
    "nameRejectedTooOften": ("bad name",),
}


class LastResortTests(SynchronousTestCase):
    def test_stateWithoutFailedAborts(self) -> None:
        """A subclass state that cannot even fail: log, abort, never loop."""
        from automat import MethodicalMachine

        from statemachines import inherited

        class Limbo(ConnectionMachine):
            _machine = MethodicalMachine()
            parent = inherited(_machine, ConnectionMachine)

            @_machine.state()
            def limbo(self) -> None:
                "Accepts nothing at all."

            parent.connected.upon(parent.messageReceived, enter=limbo, outputs=[])

        machine, link, clock = connected(Limbo)
        machine.messageReceived(b"in")
        with capturedLogs() as events:
            machine.messageReceived(b"again")
        self.assertEqual(
            [(e["log_level"].name, e["input"]) for e in events],
            [("warn", "messageReceived"), ("error", "failed")],
        )
        self.assertTrue(link.aborted)
        self.assertEqual(machine.state, "limbo")
