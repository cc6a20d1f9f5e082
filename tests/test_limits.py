"""
Timeouts and limits in code: negative, NaN and infinite values are refused,
naming what is wrong, and 0 means off (or no limit) where off is allowed.  The
command line does the same (tests/protocols/test_options.py).
"""

from __future__ import annotations

import math

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from protocols.server import MachineServerFactory
from statemachines import ClientMachine, EchoMachine, GreetingMachine
from statemachines.testing import RecordingDialer


class InCodeTests(SynchronousTestCase):
    def test_zeroMeansOff(self) -> None:
        machine = GreetingMachine(Clock(), idleTimeout=0, nameTimeout=0)
        self.assertEqual((machine.idleTimeout, machine.nameTimeout), (None, None))
        factory = MachineServerFactory(
            lambda: EchoMachine(Clock()), maxConnections=0, maxPerPeer=0, clock=Clock()
        )
        self.assertEqual((factory.maxConnections, factory.maxPerPeer), (None, None))
        client = ClientMachine(RecordingDialer(), Clock(), maxAttempts=0)
        self.assertIsNone(client.maxAttempts)

    def test_badValuesRefused(self) -> None:
        for bad in (-1, -0.5, math.nan, math.inf):
            with self.assertRaises(ValueError) as caught:
                EchoMachine(Clock(), idleTimeout=bad)
            self.assertIn("idleTimeout", str(caught.exception))
            with self.assertRaises(ValueError):
                GreetingMachine(Clock(), nameTimeout=bad)
        for bad in (0, -1, math.nan, math.inf):
            with self.assertRaises(ValueError) as caught:
                EchoMachine(Clock(), closeTimeout=bad)
            self.assertIn("closeTimeout", str(caught.exception))
        for name in ("maxConnections", "maxPerPeer"):
            with self.assertRaises(ValueError) as caught:
                MachineServerFactory(lambda: EchoMachine(Clock()), **{name: -1})
            self.assertIn(name, str(caught.exception))
        for frame in (0, -5):
            with self.assertRaises(ValueError):
                MachineServerFactory(lambda: EchoMachine(Clock()), maxFrameLength=frame)
        with self.assertRaises(ValueError):
            ClientMachine(RecordingDialer(), Clock(), maxAttempts=-1)
