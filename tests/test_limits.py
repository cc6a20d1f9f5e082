"""
Timeouts and limits are checked alike in code and on the command line:
negative, NaN and infinite values are refused, naming what is wrong, and 0
means off (or no limit) in both, where off is allowed.
"""

from __future__ import annotations

import contextlib
import io
import math

from twisted.internet.task import Clock
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from protocols.options import parser
from protocols.server import MachineServerFactory
from protocols.twistplugin import Options
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


class CommandLineTests(SynchronousTestCase):
    def usageError(self, *argv: str) -> str:
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), self.assertRaises(SystemExit) as exit:
            parser().parse_args(list(argv))
        self.assertEqual(exit.exception.code, 2)
        self.assertEqual(len(stderr.getvalue().splitlines()), 1, stderr.getvalue())
        return stderr.getvalue()

    def test_badValuesAreUsageErrorsNamingTheOption(self) -> None:
        for option, value in [
            ("--max-frame", "-5"),
            ("--max-frame", "0"),
            ("--idle-timeout", "-1"),
            ("--idle-timeout", "nan"),
            ("--idle-timeout", "inf"),
            ("--max-connections", "-1"),
            ("--max-per-peer", "-1"),
            ("--name-timeout", "-3"),
            ("--close-timeout", "0"),
            ("--close-timeout", "soon"),
        ]:
            message = self.usageError("serve", "echo", option, value)
            self.assertIn(f"argument {option}: ", message, (option, value))
        message = self.usageError("connect", "echo", "--max-attempts", "-1")
        self.assertIn("argument --max-attempts: must not be negative", message)

    def test_zeroMeansOffOnTheCommandLine(self) -> None:
        args = parser().parse_args(
            ["serve", "greeting", "--idle-timeout", "0", "--name-timeout", "0"]
            + ["--max-connections", "0", "--max-per-peer", "0"]
        )
        self.assertEqual(
            (args.idle_timeout, args.name_timeout, args.max_connections),
            (None, None, None),
        )

    def test_proxyHeaderNeedsAPlainEndpoint(self) -> None:
        from protocols.validation import invalidCombination

        for listen in ("haproxy:ssl:1234:privateKey=k.pem", "haproxy:haproxy:tcp:1"):
            args = parser().parse_args(["serve", "echo", "--listen", listen])
            self.assertIn("takes a plain endpoint", invalidCombination(args) or "")
        args = parser().parse_args(["serve", "echo", "--listen", "haproxy:tcp:1234"])
        self.assertIsNone(invalidCombination(args))

    def test_optionsTheProtocolWouldIgnoreAreErrors(self) -> None:
        from protocols.validation import invalidCombination

        for argv, problem in [
            (
                ["serve", "echo", "--tls-key", "k.pem", "--tls-cert", "c.pem"],
                "--tls-cert is an smtp option; echo does not take it",
            ),
            (
                ["serve", "greeting", "--maildir", "m"],
                "--maildir is an smtp option; greeting does not take it",
            ),
            (
                ["serve", "echo", "--max-recipients", "5"],
                "--max-recipients is an smtp option; echo does not take it",
            ),
            (
                ["serve", "smtp", "--maildir", "m", "--name-timeout", "5"],
                "--name-timeout is a greeting option; smtp does not take it",
            ),
            (
                ["serve", "statemachines:EchoMachine", "--hostname", "x"],
                "--hostname is an smtp option; statemachines:EchoMachine does not",
            ),
            (
                ["connect", "echo", "--name", "Ada"],
                "--name is a greeting option; echo does not take it",
            ),
        ]:
            args = parser().parse_args(argv)
            self.assertIn(problem, invalidCombination(args) or "", argv)
        # Given to the protocol that takes them, or left at their defaults: fine.
        for argv in (
            ["serve", "greeting", "--name-timeout", "5"],
            ["serve", "echo"],
            ["connect", "greeting", "--name", "Ada"],
        ):
            self.assertIsNone(invalidCombination(parser().parse_args(argv)), argv)

    def test_twistReportsTheSameUsageErrors(self) -> None:
        with self.assertRaises(usage.UsageError) as caught:
            Options().parseOptions(["serve", "echo", "--idle-timeout", "-1"])
        self.assertIn("--idle-timeout", str(caught.exception))

    def test_sizesTakeUnits(self) -> None:
        for text, size in [
            ("64MiB", 64 << 20),
            ("16k", 16 << 10),
            ("16KB", 16 << 10),
            ("1g", 1 << 30),
            ("512", 512),
            ("512b", 512),
        ]:
            args = parser().parse_args(["serve", "echo", "--max-frame", text])
            self.assertEqual(args.max_frame, size, text)
        for bad in ("12 parsecs", "1.5MiB", "MiB", "0KiB"):
            message = self.usageError("serve", "echo", "--max-frame", bad)
            self.assertIn("argument --max-frame: ", message, bad)
