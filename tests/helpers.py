"""
Shared test fixtures.  The fakes and the wire are the public helpers
(`statemachines.testing`, `protocols.testing`), so the project's tests use
what users get; what is here is only for this project's own tests.
"""

from __future__ import annotations

import re
import subprocess
import sys

from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from protocols.testing import Wire, frame, residentBytes, unframe
from statemachines.testing import RecordingDialer, RecordingLink, connected

__all__ = [
    "COMMAND",
    "TIMEOUT",
    "RecordingDialer",
    "RecordingLink",
    "Wire",
    "connected",
    "frame",
    "lost",
    "residentBytes",
    "serveInSubprocess",
    "unframe",
]


def lost() -> Failure:
    return Failure(ConnectionDone())


COMMAND = [sys.executable, "-c", "from protocols.cli import main; main()"]
TIMEOUT = 30


def serveInSubprocess(
    case: SynchronousTestCase,
    *args: str,
    listen: str = "tcp:0:interface=127.0.0.1",
) -> tuple[subprocess.Popen[bytes], int]:
    """``txmachines serve ARGS`` on a free loopback port: the process, the port."""
    proc = subprocess.Popen(
        COMMAND + ["serve", *args, "--listen", listen],
        stderr=subprocess.PIPE,
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
