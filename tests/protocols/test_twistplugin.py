"""
``twist txmachines``: the options, the service, and the plugin as ``twist``
finds it, both in the checkout and in an installed wheel.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

from twisted.application.service import IService
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import Logger, LogLevel, textFileLogObserver
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from protocols.twistplugin import (
    Options,
    TwistServer,
    makeService,
    rateLimitTwistsLog,
)
from statemachines.eventrate import DEFAULT_BURST
from statemachines.framing import Int32Framer
from statemachines.smtp import SMTPMachine

from ..helpers import TIMEOUT

REPO = Path(__file__).resolve().parents[2]
TWIST = [sys.executable, "-m", "twisted"]  # what the ``twist`` script runs


def parsed(*argv: str) -> Any:
    options = Options()
    options.parseOptions(list(argv))
    return options


class OptionsTests(SynchronousTestCase):
    def test_sameOptionsAsTheCommand(self) -> None:
        args = parsed(
            "serve",
            "greeting",
            "--listen",
            "tcp:0",
            "--framing",
            "netstring",
            "--max-frame",
            "100",
            "--name-timeout",
            "5",
            "--trace",
        )["args"]
        self.assertEqual(
            (args.protocol.spec, args.listen, args.framing, args.max_frame),
            ("greeting", "tcp:0", "netstring", 100),
        )
        self.assertEqual((args.name_timeout, args.trace), (5.0, True))

    def test_badOptionsAreUsageErrors(self) -> None:
        for argv in (
            [],
            ["serve"],
            ["serve", "nosuch"],
            ["serve", "echo", "--no-such-option"],
            ["serve", "echo", "--max-frame", "lots"],
            ["serve", "greeting", "--framing", "raw"],
        ):
            with self.assertRaises(UsageError, msg=argv):
                parsed(*argv)

    def test_usageNamesTheOptions(self) -> None:
        self.assertIn("serve", str(Options()))

    def test_makeServiceGivesAServerService(self) -> None:
        service = makeService(
            parsed("serve", "echo", "--framing", "int32", "--max-connections", "7")
        )
        self.assertTrue(IService.providedBy(service))
        self.assertIsInstance(service, TwistServer)
        assert isinstance(service, TwistServer)
        self.assertEqual(service.factory.makeFramer, Int32Framer)
        self.assertEqual(service.factory.maxConnections, 7)

    def test_twistsLogIsRateLimitedAsServesIs(self) -> None:
        """
        ``twist``'s observer factory, wrapped: Twisted's per-connection
        events past the rate are dropped below ``--log-level``, kept at it.
        """
        for level, shown in ((LogLevel.info, DEFAULT_BURST), (LogLevel.debug, 30)):
            options = parsed("serve", "echo")
            # What twist's own options hold (its --log-level, --log-format).
            options.parent = cast(Any, {"logLevel": level})
            options.parent["fileLogObserverFactory"] = textFileLogObserver
            rateLimitTwistsLog(options, Clock())
            out = io.StringIO()
            observer = options.parent["fileLogObserverFactory"](out)
            port = Logger(namespace="twisted.internet.tcp.Port", observer=observer)
            for number in range(30):
                port.info(
                    "EMFILE recovery: Closed socket from {address}",
                    address=("127.0.0.1", number),
                )
            self.assertEqual(out.getvalue().count("Closed socket from"), shown, level)
        rateLimitTwistsLog(parsed("serve", "echo"), Clock())  # no twist: nothing

    def test_smtp(self) -> None:
        maildir = self.mktemp()
        service = makeService(parsed("serve", "smtp", "--maildir", maildir))
        assert isinstance(service, TwistServer)
        self.assertEqual(service.description, "tcp:8025:interface=127.0.0.1")
        self.assertFalse(Path(maildir).exists())  # opened as it starts, not before
        service.reactor = MemoryReactorClock()  # listens nowhere
        service.startService()
        machine = service.factory.makeMachine()
        self.assertIsInstance(machine, SMTPMachine)
        self.assertEqual(machine.mailbox.path, Path(maildir))
        with self.assertRaises(UsageError) as caught:
            parsed("serve", "smtp")
        self.assertIn("--maildir", str(caught.exception))

    def test_parsingOpensNothing(self) -> None:
        """Options are parsed and checked with nothing opened or created."""
        here = Path(self.mktemp())  # not there: nothing may create it
        key = str(here / "key.pem")  # nor the key: it is not read yet
        for workers in ("1", "2"):
            parsed(
                *("serve", "smtp", "--maildir", str(here / "mail")),
                *("--tls-key", key, "--tls-cert", key, "--workers", workers),
            )
        self.assertFalse(here.exists())


def fromJSON(record: str) -> Any:
    """One record of ``--log-format json``: a JSON text sequence (RFC 7464)."""
    assert record.startswith("\x1e"), record
    return json.loads(record[1:])


class TwistTests(SynchronousTestCase):
    """``twist`` itself, in subprocesses, as a user runs it."""

    def twist(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            TWIST + list(args),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            **kwargs,
        )

    def test_helpListsThePlugin(self) -> None:
        result = self.twist("--help", cwd=REPO)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout, r"txmachines\s+Serve echo, greeting, smtp")

    def test_cannotListen(self) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = self.twist(
                "txmachines",
                "serve",
                "echo",
                "--listen",
                f"tcp:{port}:interface=127.0.0.1",
                cwd=REPO,
            )
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"txmachines: could not listen on tcp:{port}", result.stderr)
        self.assertEqual(result.stderr.count("could not listen"), 1, result.stderr)

    def test_cannotListenOnAUNIXSocketNamesItsPath(self) -> None:
        result = self.twist(
            "txmachines",
            "serve",
            "echo",
            "--listen",
            "unix:/nonexistent/dir/sock",
            cwd=REPO,
        )
        self.assertEqual(result.returncode, 1)
        self.assertEqual(
            result.stderr,
            "txmachines: could not listen on unix:/nonexistent/dir/sock: "
            "No such file or directory: /nonexistent/dir/sock.lock\n",
        )

    def test_whatTheOptionsNameIsOpenedAtStart(self) -> None:
        """A Maildir that cannot be: one line, exit 1, alone or with workers."""
        here = Path(self.mktemp()).resolve()
        here.mkdir()
        (here / "file").write_bytes(b"")
        maildir = str(here / "file" / "mail")  # under a file: it cannot be
        for workers in ([], ["--workers", "2"]):
            result = self.twist(
                "txmachines",
                "serve",
                "smtp",
                "--maildir",
                maildir,
                "--listen",
                "tcp:0:interface=127.0.0.1",  # not 8025, which may be taken
                *workers,
                cwd=REPO,
            )
            lines = result.stderr.splitlines()
            self.assertEqual((result.returncode, len(lines)), (1, 1), lines)
            self.assertIn("txmachines: --maildir: Not a directory: ", lines[0])

    def test_servesWithJSONTrace(self) -> None:
        proc = subprocess.Popen(
            TWIST
            + ["--log-format", "json", "txmachines", "serve", "echo", "--trace"]
            + ["--listen", "tcp:0:interface=127.0.0.1"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.addCleanup(lambda: (proc.kill(), proc.wait(TIMEOUT)))
        assert proc.stdout is not None
        self.addCleanup(proc.stdout.close)
        events = []
        for line in proc.stdout:
            events.append(fromJSON(line))
            if events[-1].get("log_format", "").startswith("listening on"):
                address = events[-1]["log_flattened"]["address!s:"]
                port = int(re.search(r"port=(\d+)", address).group(1))  # type: ignore[union-attr]
                break
        with socket.create_connection(("127.0.0.1", port), TIMEOUT) as peer:
            peer.sendall(b"hello\r\n")
            self.assertEqual(peer.recv(100), b"hello\r\n")
            peer.shutdown(socket.SHUT_WR)  # we are done: the server finishes, closes
            self.assertEqual(peer.recv(100), b"")
        proc.send_signal(signal.SIGTERM)
        events += [fromJSON(line) for line in proc.stdout]
        # twist stops the service, then ends by the signal it was sent.
        self.assertEqual(proc.wait(TIMEOUT), -signal.SIGTERM)
        formats = [e.get("log_format") for e in events]
        self.assertIn("stopped; connections closed: {count}", formats)
        trace = [
            (e["oldState"], e["input"], e["newState"])
            for e in events
            if e.get("log_namespace") == "txmachines.trace"
        ]
        self.assertEqual(
            trace,
            [
                ("idle", "connectionMade", "connected"),
                ("connected", "dataArrived", "connected"),
                ("connected", "messageReceived", "receiving"),
                # The peer's close is first a half-close: we finish, then close.
                ("receiving", "peerFinished", "closing"),
                ("closing", "connectionLost", "closed"),
            ],
        )
        first = next(e for e in events if e.get("log_namespace") == "txmachines.trace")
        self.assertEqual(first["machineClass"], "EchoMachine")
        self.assertIsInstance(first["machineId"], int)
        self.assertEqual(first["outputs"], ["attach", "onConnected"])

    def test_installedWheelCarriesThePlugin(self) -> None:
        # Twisted finds plugins by scanning sys.path for twisted/plugins/, so
        # what counts is where an install puts the file: build the wheel,
        # install it into a directory, and ask twist from somewhere else.
        source = Path(self.mktemp()).resolve()
        for name in ("pyproject.toml", "README.md"):
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / name, source / name)
        for package in ("statemachines", "protocols", "twisted"):
            shutil.copytree(
                REPO / package,
                source / package,
                ignore=shutil.ignore_patterns("__pycache__", "dropin.cache"),
            )
        wheels, target = source / "dist", source / "installed"
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
        subprocess.run(
            pip + ["wheel", "--no-deps", "--no-build-isolation", "-w", wheels, source],
            check=True,
            timeout=120,
            capture_output=True,
        )
        [wheel] = wheels.glob("*.whl")
        subprocess.run(
            pip + ["install", "--no-deps", "--target", target, wheel],
            check=True,
            timeout=120,
            capture_output=True,
        )
        self.assertTrue(
            (target / "twisted" / "plugins" / "txmachines_plugin.py").exists()
        )
        self.assertFalse((target / "twisted" / "__init__.py").exists())
        elsewhere = Path(self.mktemp()).resolve()
        elsewhere.mkdir()
        env = dict(os.environ, PYTHONPATH=str(target))
        result = self.twist("--help", cwd=elsewhere, env=env)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout, r"txmachines\s+Serve echo, greeting, smtp")
        usage = self.twist("txmachines", "--help", cwd=elsewhere, env=env)
        self.assertIn("serve", usage.stdout)
        self.assertTrue(re.search(r"usage: twist txmachines", usage.stdout))


class UsageErrorTests(SynchronousTestCase):
    def test_twistReportsTheSameUsageErrors(self) -> None:
        with self.assertRaises(UsageError) as caught:
            Options().parseOptions(["serve", "echo", "--idle-timeout", "-1"])
        self.assertIn("--idle-timeout", str(caught.exception))
