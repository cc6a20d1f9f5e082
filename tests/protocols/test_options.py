"""The ``txmachines`` parser: its defaults; parsing opens nothing."""

from __future__ import annotations

import contextlib
import io
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
        self.assertEqual(args.worker_timeout, 30.0)
        self.assertEqual(smtp.data_timeout, 600.0)  # RFC 5321 4.5.3.2
        self.assertEqual(smtp.bare_lf, "reject")  # as Postfix 3.9

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


class LimitOptionTests(SynchronousTestCase):
    """Timeouts, limits and sizes on the command line: bad values are one
    usage line naming the option; 0 means off where off is allowed."""

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
            ("--data-timeout", "-1"),
            ("--data-timeout", "nan"),
            ("--data-timeout", "soon"),
            ("--bare-lf", "strip"),
            ("--close-timeout", "0"),
            ("--close-timeout", "soon"),
            ("--worker-timeout", "-1"),
            ("--worker-timeout", "nan"),
            ("--worker-timeout", "inf"),
            ("--worker-timeout", "soon"),
        ]:
            message = self.usageError("serve", "echo", option, value)
            self.assertIn(f"argument {option}: ", message, (option, value))
        message = self.usageError("connect", "echo", "--max-attempts", "-1")
        self.assertIn("argument --max-attempts: must not be negative", message)

    def test_negativeWorkersSayWhatZeroMeans(self) -> None:
        """Its 0 is one worker per core, not a lifted limit."""
        message = self.usageError("serve", "echo", "--workers", "-1")
        self.assertIn(
            "argument --workers: must not be negative (0: one per core)", message
        )
        self.assertNotIn("lifts", message)
        self.assertIsNone(
            parser().parse_args(["serve", "echo", "--workers", "0"]).workers
        )

    def test_zeroMeansOffOnTheCommandLine(self) -> None:
        args = parser().parse_args(
            ["serve", "greeting", "--idle-timeout", "0", "--name-timeout", "0"]
            + ["--max-connections", "0", "--max-per-peer", "0"]
        )
        self.assertEqual(
            (args.idle_timeout, args.name_timeout, args.max_connections),
            (None, None, None),
        )
        args = parser().parse_args(
            ["serve", "echo", "--workers", "2", "--worker-timeout", "0"]
        )
        self.assertIsNone(args.worker_timeout)
        args = parser().parse_args(
            ["serve", "smtp", "--maildir", "m", "--data-timeout", "0"]
        )
        self.assertIsNone(args.data_timeout)

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
