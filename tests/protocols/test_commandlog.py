"""
The commands' standard error: a failure's reason, in one line; Twisted's
per-connection events at the project's rate.
"""

from __future__ import annotations

import re
import resource
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from twisted.internet import tcp
from twisted.internet.task import Clock
from twisted.logger import (
    FilteringLogObserver,
    Logger,
    LogLevel,
    LogLevelFilterPredicate,
    capturedLogs,
    formatEvent,
)
from twisted.trial.unittest import SynchronousTestCase

from protocols.commandlog import (
    TWISTED_CONNECTION_EVENTS,
    RateLimitedTwistedEvents,
    reason,
)
from statemachines.eventrate import DEFAULT_BURST, DEFAULT_WINDOW, EventRate

from ..helpers import COMMAND, ROOT, TIMEOUT


class ReasonTests(SynchronousTestCase):
    def test_oneLineWithoutTheClassPath(self) -> None:
        self.assertEqual(
            reason(FileNotFoundError(2, "No such file or directory", "/k.pem")),
            "No such file or directory: /k.pem",
        )
        self.assertEqual(reason(ValueError("bad port")), "bad port")
        self.assertEqual(reason(KeyError()), "KeyError")  # no message: its kind

    def test_theSecondPathIsTheOneThatCouldNotBeMade(self) -> None:
        """``symlink(target, path)``: Twisted's UNIX socket lock links to a pid."""
        error = FileNotFoundError(
            2, "No such file or directory", "24674", None, b"/nonexistent/sock.lock"
        )
        self.assertEqual(
            reason(error), "No such file or directory: /nonexistent/sock.lock"
        )


EMFILE_CLOSED = "EMFILE recovery: Closed socket from {address}"


class RateLimitedTwistedEventsTests(SynchronousTestCase):
    """Twisted's per-connection events, at the rate the project's own keep."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.seen: list[dict[str, Any]] = []
        self.observer = RateLimitedTwistedEvents(self.seen.append, self.clock)
        # As twisted.internet.tcp.Port's logger names itself.
        self.port = Logger(
            namespace="twisted.internet.tcp.Port", observer=self.observer
        )

    def levels(self) -> list[LogLevel]:
        return [e["log_level"] for e in self.seen]

    def test_twistedsFormatsAreKnown(self) -> None:
        """The formats are Twisted's own: a Twisted that rewords them fails here."""
        source = Path(tcp.__file__).read_text()
        for format in TWISTED_CONNECTION_EVENTS:
            self.assertIn(format, source.replace('" "', ""), format)

    def test_pastTheBurstTheyGoOnAtDebugAndAreCounted(self) -> None:
        for port in range(DEFAULT_BURST + 30):
            self.port.info(EMFILE_CLOSED, address=("127.0.0.1", port))
        self.assertEqual(
            self.levels(), [LogLevel.info] * DEFAULT_BURST + [LogLevel.debug] * 30
        )
        last = self.seen[-1]
        self.assertEqual(last["address"], ("127.0.0.1", DEFAULT_BURST + 29))
        self.assertEqual(last["log_namespace"], "twisted.internet.tcp.Port")
        self.assertEqual(
            formatEvent(last),
            f"EMFILE recovery: Closed socket from ('127.0.0.1', {DEFAULT_BURST + 29})",
        )
        with capturedLogs() as summaries:  # the summary goes to the global log
            self.clock.advance(DEFAULT_WINDOW)
            self.port.info(EMFILE_CLOSED, address=("127.0.0.1", 1))
        self.assertEqual(len(summaries), 1, summaries)
        self.assertEqual(summaries[0]["log_level"], LogLevel.info)
        self.assertEqual(summaries[0]["count"], 30)
        self.assertEqual(summaries[0]["like"], EMFILE_CLOSED)
        self.assertEqual(self.levels()[-1], LogLevel.info)  # a new window

    def test_theRateIsTheOneTheProjectsEventsShare(self) -> None:
        """The server's stop flushes `EventRate.of` its clock: this one's too."""
        for port in range(DEFAULT_BURST + 1):
            self.port.info(EMFILE_CLOSED, address=("127.0.0.1", port))
        with capturedLogs() as summaries:
            EventRate.of(self.clock).flush()
        self.assertEqual([e["count"] for e in summaries], [1])

    def test_everyOtherEventGoesStraightOn(self) -> None:
        other = Logger(namespace="myapp", observer=self.observer)
        for _ in range(DEFAULT_BURST + 5):
            self.port.info("Could not reserve EMFILE recovery file descriptor.")
            other.info(EMFILE_CLOSED, address="no Twisted's")  # not Twisted's
        self.assertEqual(self.levels(), [LogLevel.info] * 2 * (DEFAULT_BURST + 5))

    def test_belowInfoTheyAreDropped(self) -> None:
        """With a level filter below it (``serve`` without ``-v``): 20 lines."""
        shown: list[dict[str, Any]] = []
        observer = RateLimitedTwistedEvents(
            FilteringLogObserver(
                shown.append, [LogLevelFilterPredicate(LogLevel.info)]
            ),
            self.clock,
        )
        port = Logger(namespace="twisted.internet.tcp.Port", observer=observer)
        for acceptError in ["EMFILE", "ENOBUFS"] * 50:
            port.info(
                "Could not accept new connection ({acceptError})",
                acceptError=acceptError,
            )
        self.assertEqual(len(shown), DEFAULT_BURST)


def _fewDescriptors() -> None:
    """In the child, before it runs: ``ulimit -n 64``."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


class DescriptorExhaustionTests(SynchronousTestCase):
    """
    150 connections to a server that may open 64 descriptors: Twisted closes
    those it cannot keep, a line each, past the rate at debug level.
    """

    def flood(self, command: list[str]) -> list[str]:
        """Serve under ``ulimit -n 64``, 150 connections; what it logged."""
        proc = subprocess.Popen(
            command + ["--listen", "tcp:0:interface=127.0.0.1"],
            stderr=subprocess.PIPE,
            preexec_fn=_fewDescriptors,
            cwd=ROOT,  # where twist finds the plugin
        )
        self.addCleanup(proc.wait, TIMEOUT)
        self.addCleanup(proc.kill)
        assert proc.stderr is not None
        said = []
        for raw in proc.stderr:
            said.append(raw.decode())
            found = re.search(r"listening on .*port=(\d+)", said[-1])
            if found:
                break
        else:
            self.fail(f"it did not listen: {said}")
        port = int(found.group(1))
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(150)]
        for client in clients:
            self.addCleanup(client.close)
        # At most 64 stay open: wait until the rest are closed.
        closed: set[socket.socket] = set()
        deadline = time.monotonic() + TIMEOUT
        while len(closed) < 150 - 64 and time.monotonic() < deadline:
            readable, _, _ = select.select(
                [c for c in clients if c not in closed], [], [], 1
            )
            closed.update(readable)
        self.assertGreaterEqual(len(closed), 150 - 64)
        proc.terminate()
        _, rest = proc.communicate(timeout=TIMEOUT)
        return said + rest.decode().splitlines()

    def assertBounded(self, lines: list[str]) -> None:
        closedLines = [line for line in lines if "Closed socket from (" in line]
        self.assertLessEqual(len(closedLines), DEFAULT_BURST, lines)
        summaries = [line for line in lines if f'more like "{EMFILE_CLOSED}"' in line]
        self.assertEqual(len(summaries), 1, lines)
        held = int(re.search(r"\.\.\. and (\d+) more", summaries[0]).group(1))
        self.assertGreaterEqual(len(closedLines) + held, 150 - 64)

    def test_serve(self) -> None:
        self.assertBounded(self.flood([*COMMAND, "serve", "echo"]))

    def test_twist(self) -> None:
        twist = [sys.executable, "-m", "twisted", "--log-file=+", "--log-format=text"]
        self.assertBounded(self.flood([*twist, "txmachines", "serve", "echo"]))
