"""
The error policy every machine with a connection shares (TransportMachine):
a rejected input or a failing hook is logged and fails the connection; when
even that cannot be handled, the connection is aborted, never looping.
"""

from __future__ import annotations

from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from statemachines.connection import ConnectionMachine

from .helpers import connected


class LastResortTests(SynchronousTestCase):
    def test_stateWithoutFailedAborts(self) -> None:
        """A subclass state that cannot even fail: log, abort, never loop."""
        from automat import MethodicalMachine

        from statemachines import inherited, rejects

        class Limbo(ConnectionMachine):
            _machine = MethodicalMachine()
            parent = inherited(_machine, ConnectionMachine)

            @_machine.state()
            def limbo(self) -> None:
                "Accepts nothing at all."

            parent.connected.upon(parent.messageReceived, enter=limbo, outputs=[])
            # Deliberately deaf (a state that ignores these is otherwise refused):
            deaf = rejects(limbo, [parent.connectionLost, parent.timeout], "limbo")

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
