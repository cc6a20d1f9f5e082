"""
Options that each parse but do not combine are one line, exit 2; checking
them opens and creates nothing (what ``serve smtp`` names is opened as the
server starts: see test_protocolsetup).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from protocols.options import parser
from protocols.validation import invalidCombination

from ..helpers import COMMAND, TIMEOUT


class CombinationTests(SynchronousTestCase):
    def test_greetingNeedsBoundaries(self) -> None:
        result = subprocess.run(
            COMMAND + ["serve", "greeting", "--framing", "raw"],
            capture_output=True,
            timeout=TIMEOUT,
        )
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"greeting needs message boundaries", result.stderr)
        self.assertIn(b"(see txmachines serve -h)", result.stderr)  # its options


class NoSideEffectsTests(SynchronousTestCase):
    """Parsing and checking ``serve smtp``'s options touch nothing on disk."""

    def test_theMaildirIsNotCreated(self) -> None:
        here = Path(self.mktemp())  # not there: nothing may create it
        args = parser().parse_args(
            ["serve", "smtp", "--maildir", str(here / "deep" / "mail")]
        )
        self.assertIsNone(invalidCombination(args))
        self.assertFalse(here.exists())

    def test_theKeyIsNotRead(self) -> None:
        """A key that is no key: found as the server starts, not here."""
        here = Path(self.mktemp())
        here.mkdir()
        (here / "key.pem").write_bytes(b"not a key")
        key = str(here / "key.pem")
        args = parser().parse_args(
            ["serve", "smtp", "--maildir", str(here / "mail")]
            + ["--tls-key", key, "--tls-cert", key]
        )
        self.assertIsNone(invalidCombination(args))  # no SystemExit
        self.assertEqual(sorted(p.name for p in here.iterdir()), ["key.pem"])


class IgnoredOptionTests(SynchronousTestCase):
    def test_proxyHeaderNeedsAPlainEndpoint(self) -> None:
        for listen in ("haproxy:ssl:1234:privateKey=k.pem", "haproxy:haproxy:tcp:1"):
            args = parser().parse_args(["serve", "echo", "--listen", listen])
            self.assertIn("takes a plain endpoint", invalidCombination(args) or "")
        args = parser().parse_args(["serve", "echo", "--listen", "haproxy:tcp:1234"])
        self.assertIsNone(invalidCombination(args))

    def test_optionsTheProtocolWouldIgnoreAreErrors(self) -> None:
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
                ["serve", "echo", "--bare-lf", "accept"],
                "--bare-lf is an smtp option; echo does not take it",
            ),
            (
                ["serve", "greeting", "--data-timeout", "5"],
                "--data-timeout is an smtp option; greeting does not take it",
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
            (
                ["serve", "echo", "--worker-timeout", "5"],
                "--worker-timeout watches the processes of --workers N",
            ),
        ]:
            args = parser().parse_args(argv)
            self.assertIn(problem, invalidCombination(args) or "", argv)
        # Given to the protocol that takes them, or left at their defaults: fine.
        for argv in (
            ["serve", "greeting", "--name-timeout", "5"],
            ["serve", "echo", "--workers", "2", "--worker-timeout", "5"],
            ["serve", "echo", "--workers", "0", "--worker-timeout", "0"],
            ["serve", "echo"],
            ["connect", "greeting", "--name", "Ada"],
        ):
            self.assertIsNone(invalidCombination(parser().parse_args(argv)), argv)
