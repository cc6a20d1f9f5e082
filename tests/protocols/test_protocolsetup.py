"""
What ``serve smtp`` opens as it starts (the Maildir, the TLS key), and its
options' mistakes: each one line, exit 2 for bad usage, 1 for what will not do.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from protocols.maildir import STALE_AFTER
from protocols.options import parser
from protocols.protocolsetup import machineOptions, openResources

from ..certificates import Authority
from ..helpers import COMMAND, TIMEOUT


class CommandLineTests(SynchronousTestCase):
    def test_mistakesAreOneLine(self) -> None:
        m = self.mktemp()
        for options, fragment, code in [
            ([], "smtp needs --maildir DIR", 2),
            (["--maildir", m, "--tls-key", "k.pem"], "needs both --tls-key and", 2),
            (  # right options, a file that is not there: it cannot start
                ["--maildir", m, "--tls-key", "/no/k.pem", "--tls-cert", "/no/c"],
                "No such file or directory: /no/k.pem",
                1,
            ),
            (["--maildir", "/proc/nope"], "--maildir: ", 1),
            (["--maildir", m, "--framing", "int32"], "smtp is a line protocol", 2),
            (["--maildir", m, "--max-message-size", "0"], "--max-message-size", 2),
        ]:
            result = subprocess.run(
                [*COMMAND, "serve", "smtp", *options],
                capture_output=True,
                timeout=TIMEOUT,
            )
            lines = result.stderr.decode().splitlines()
            self.assertEqual(
                (result.returncode, len(lines)), (code, 1), (options, lines)
            )
            self.assertIn(fragment, lines[0])

    def test_aMaildirThatCannotBeCreatedEndsItAtStart(self) -> None:
        """Served alone or by workers: one line, exit 1, before any listening."""
        here = Path(self.mktemp())
        here.mkdir()
        (here / "file").write_bytes(b"")
        maildir = str(here / "file" / "mail")  # under a file: it cannot be
        for workers in ([], ["--workers", "2"]):
            result = subprocess.run(
                [*COMMAND, "serve", "smtp", "--maildir", maildir, *workers],
                capture_output=True,
                timeout=TIMEOUT,
            )
            lines = result.stderr.decode().splitlines()
            self.assertEqual((result.returncode, len(lines)), (1, 1), lines)
            self.assertIn("txmachines: --maildir: Not a directory: ", lines[0])


class OpenResourcesTests(SynchronousTestCase):
    def test_theMaildirAndTheKeyAreOpenedForTheMachines(self) -> None:
        here = Path(self.mktemp())
        authority = Authority.create(here / "ca")
        pem = str(authority.issue(here / "server.pem", "localhost"))
        args = parser().parse_args(
            ["serve", "smtp", "--maildir", str(here / "mail"), "--data-timeout", "60"]
            + ["--tls-key", pem, "--tls-cert", pem, "--bare-lf", "accept"]
        )
        self.assertIsNone(machineOptions(args)["mailbox"])  # until it starts
        openResources(args)
        self.assertEqual(
            sorted(p.name for p in (here / "mail").iterdir()), ["cur", "new", "tmp"]
        )
        options = machineOptions(args)
        self.assertEqual(options["mailbox"].path, here / "mail")
        self.assertIsNotNone(options["tlsOptions"])
        self.assertEqual((options["dataTimeout"], options["bareLF"]), (60.0, "accept"))

    def test_whatWillNotDoIsOneLine(self) -> None:
        here = Path(self.mktemp())
        here.mkdir()
        (here / "file").write_bytes(b"not a key")
        for options, line in [
            (
                ["--maildir", str(here / "file" / "mail")],
                f"txmachines: --maildir: Not a directory: {here}/file/mail",
            ),
            (
                ["--maildir", str(here / "mail"), "--tls-key", str(here / "no.pem")]
                + ["--tls-cert", str(here / "file")],
                "txmachines: --tls-key/--tls-cert: No such file or directory: "
                f"{here}/no.pem",
            ),
        ]:
            args = parser().parse_args(["serve", "smtp", *options])
            with self.assertRaises(SystemExit) as caught:
                openResources(args)
            self.assertTrue(str(caught.exception.code).startswith(line), options)
            self.assertNotIn("\n", str(caught.exception.code))

    def test_otherProtocolsOpenNothing(self) -> None:
        args = parser().parse_args(["serve", "echo"])
        openResources(args)
        self.assertEqual(
            machineOptions(args), {"idleTimeout": 300.0, "closeTimeout": 10.0}
        )

    def test_staleDraftsAreRemovedAtStart(self) -> None:
        """What a SIGKILL during DATA left in ``tmp/`` 36 hours ago goes."""
        here = Path(self.mktemp())
        (here / "mail" / "tmp").mkdir(parents=True)
        stale, fresh = here / "mail" / "tmp" / "stale", here / "mail" / "tmp" / "fresh"
        for path in (stale, fresh):
            path.write_bytes(b"Subject: cut short\r\n")
        longAgo = time.time() - STALE_AFTER - 60
        os.utime(stale, (longAgo, longAgo))
        args = parser().parse_args(["serve", "smtp", "--maildir", str(here / "mail")])
        with capturedLogs() as events:
            openResources(args)
        self.assertEqual(list((here / "mail" / "tmp").iterdir()), [fresh])
        self.assertEqual([e.get("count") for e in events], [1])


class StaleDraftsAtStartTests(SynchronousTestCase):
    def test_serveRemovesThemWithALine(self) -> None:
        """Served alone or by workers: one line counting them, before listening."""
        here = Path(self.mktemp())
        tmp = here / "mail" / "tmp"
        tmp.mkdir(parents=True)
        for workers in ([], ["--workers", "2"]):
            longAgo = time.time() - STALE_AFTER - 60
            for name in ("one", "two"):
                (tmp / name).write_bytes(b"Subject: cut short\r\n")
                os.utime(tmp / name, (longAgo, longAgo))
            proc = subprocess.Popen(
                [*COMMAND, "serve", "smtp", "--maildir", str(here / "mail"), *workers]
                + ["--listen", "tcp:0:interface=127.0.0.1"],
                stderr=subprocess.PIPE,
            )
            self.addCleanup(proc.wait, TIMEOUT)
            self.addCleanup(proc.kill)
            assert proc.stderr is not None
            self.addCleanup(proc.stderr.close)
            said = []
            for line in proc.stderr:  # up to the line saying it listens
                said.append(line.decode())
                if "listening on" in line.decode():
                    break
            proc.terminate()  # stops as Ctrl-C does: its workers too
            proc.wait(TIMEOUT)
            removed = [line for line in said if "stale" in line]
            self.assertEqual(len(removed), 1, said)
            self.assertIn(f"removed 2 stale files from {tmp}", removed[0])
            self.assertEqual(list(tmp.iterdir()), [])
