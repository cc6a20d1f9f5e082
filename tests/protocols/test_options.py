"""The ``txmachines`` parser: its defaults; parsing opens nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from protocols.options import DEFAULT_LISTEN, listenDescription, parser

from ..helpers import COMMAND, TIMEOUT


class ParserTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        args = parser().parse_args(["serve", "echo"])
        self.assertEqual(
            (listenDescription(args), args.framing, args.max_frame),
            (DEFAULT_LISTEN, "line", 16384),
        )
        smtp = parser().parse_args(["serve", "smtp", "--maildir", "m"])
        self.assertEqual(listenDescription(smtp), "tcp:8025:interface=127.0.0.1")
        self.assertIn("interface=127.0.0.1", DEFAULT_LISTEN)
        self.assertEqual(
            (args.max_connections, args.max_per_peer, args.name_timeout),
            (10_000, 100, 60.0),
        )

    def test_helpOpensNothing(self) -> None:
        """``serve smtp --maildir DIR --help``: the help, and nothing on disk."""
        here = Path(self.mktemp())  # not there: nothing may create it
        result = subprocess.run(
            COMMAND + ["serve", "smtp", "--maildir", str(here / "mail"), "--help"],
            capture_output=True,
            timeout=TIMEOUT,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(b"--maildir", result.stdout)
        self.assertFalse(here.exists())
