"""
Shared test fixtures.  The fakes and the wire are the public helpers
(`statemachines.testing`, `protocols.testing`), so the project's tests use
what users get; what is here is only for this project's own tests.
"""

from __future__ import annotations

import re
import select
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from benchmarks.procfs import residentBytes
from protocols.testing import Wire, frame, unframe
from statemachines import (
    ClientMachine,
    ConnectionMachine,
    EchoClientMachine,
    EchoMachine,
    GreetingClientMachine,
    GreetingMachine,
    SMTPMachine,
)
from statemachines.testing import RecordingDialer, RecordingLink, connected

__all__ = [
    "COMMAND",
    "HAVE_DOT",
    "ROOT",
    "SHIPPED_MACHINES",
    "TIMEOUT",
    "RecordingDialer",
    "RecordingLink",
    "Wire",
    "connected",
    "frame",
    "lost",
    "makeClient",
    "refused",
    "residentBytes",
    "serveInSubprocess",
    "snapshot",
    "unframe",
]


def lost() -> Failure:
    return Failure(ConnectionDone())


def refused() -> Failure:
    return Failure(ConnectionRefusedError())


def makeClient(
    cls: type[ClientMachine] = ClientMachine, **kw: Any
) -> tuple[Any, RecordingDialer, Clock]:
    """A ``cls`` client machine with a `RecordingDialer`, a Clock, 2n s retries."""
    dialer, clock = RecordingDialer(), Clock()
    machine = cls(dialer, clock, retryPolicy=lambda n: 2.0 * n, **kw)
    return machine, dialer, clock


COMMAND = [sys.executable, "-c", "from protocols.cli import main; main()"]
TIMEOUT = 30
ROOT = Path(__file__).resolve().parent.parent  # the repository
HAVE_DOT = shutil.which("dot") is not None
SHIPPED_MACHINES = [
    ConnectionMachine,
    EchoMachine,
    GreetingMachine,
    SMTPMachine,
    ClientMachine,
    EchoClientMachine,
    GreetingClientMachine,
]


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file in ``directory``, by name."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def serveInSubprocess(
    case: SynchronousTestCase,
    *args: str,
    listen: str = "tcp:0:interface=127.0.0.1",
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    """``txmachines serve ARGS`` on a free loopback port: the process, the port."""
    proc = subprocess.Popen(
        COMMAND + ["serve", *args, "--listen", listen],
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=env,
    )

    def reap() -> None:
        if proc.poll() is None:
            proc.kill()
        proc.wait(TIMEOUT)
        if proc.stderr:
            proc.stderr.close()

    case.addCleanup(reap)
    assert proc.stderr is not None
    for line in proc.stderr:
        found = re.search(rb"listening on .*port=(\d+)", line)
        if found:
            return proc, int(found.group(1))
    case.fail("the server exited before listening")


def untilDraining(case: SynchronousTestCase, proc: subprocess.Popen[bytes]) -> bytes:
    """
    Read ``proc``'s log until it says it drains (after its first SIGTERM):
    what it read.
    """
    assert proc.stderr is not None
    seen = b""
    while b"a second SIGINT or SIGTERM aborts" not in seen:
        line = proc.stderr.readline()
        case.assertTrue(line, "the server exited before draining")
        seen += line
    return seen


def stuckConnection(case: SynchronousTestCase, port: int) -> socket.socket:
    """
    A loopback connection to ``port`` that sent lines until the server
    stopped reading them, and never reads: it cannot close cleanly while its
    replies wait, so only an abort ends a drain that waits for it.
    """
    stuck = socket.socket()
    case.addCleanup(stuck.close)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(("127.0.0.1", port))
    stuck.setblocking(False)
    lines = (b"x" * 1022 + b"\r\n") * 64
    while select.select([], [stuck], [], 2)[1]:  # until the server stops reading
        try:
            stuck.send(lines)
        except BlockingIOError:
            pass
    return stuck
