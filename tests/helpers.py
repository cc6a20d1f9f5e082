"""Shared test fixtures: a recording Link, framing codecs, wired-up machines."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, TypeVar

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from protocols.framing import FRAMINGS, MachineAdapter
from statemachines.lifecycle import ConnectionMachine

M = TypeVar("M", bound=ConnectionMachine)


class FakeDialer:
    """A `Dialer` that counts what the client machine asked of it."""

    def __init__(self) -> None:
        self.dials = 0
        self.cancels = 0

    def dial(self) -> None:
        self.dials += 1

    def cancelDial(self) -> None:
        self.cancels += 1


class RecordingLink:
    """A `Link` that records what the machine asked of it."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.errors: list[str] = []
        self.closing = False
        self.aborted = False

    def sendMessage(self, message: bytes) -> None:
        self.sent.append(message)

    def reportError(self, reason: str) -> None:
        self.errors.append(reason)

    def loseConnection(self) -> None:
        self.closing = True

    def abortConnection(self) -> None:
        self.aborted = True

    def describePeer(self) -> str:
        return "test-peer"


def lost() -> Failure:
    from twisted.internet.error import ConnectionDone

    return Failure(ConnectionDone())


def connected(machineClass: type[M], **options: Any) -> tuple[M, RecordingLink, Clock]:
    """A machine of ``machineClass`` that has just seen connectionMade."""
    clock = Clock()
    machine = machineClass(clock, **options)
    link = RecordingLink()
    machine.connectionMade(link)
    return machine, link, clock


def frame(framing: str, message: bytes) -> bytes:
    """``message`` as a peer puts it on the wire."""
    if framing == "line":
        return message + b"\r\n"
    if framing == "netstring":
        return b"%d:%s," % (len(message), message)
    if framing == "int32":
        return struct.pack("!I", len(message)) + message
    assert framing == "raw"
    return message


def unframe(framing: str, data: bytes) -> list[bytes]:
    """Split what a server wrote into messages (``[data]`` for raw)."""
    messages = []
    while data:
        if framing == "line":
            message, _, data = data.partition(b"\r\n")
        elif framing == "netstring":
            length, _, rest = data.partition(b":")
            n = int(length)
            assert rest[n : n + 1] == b",", data
            message, data = rest[:n], rest[n + 1 :]
        elif framing == "int32":
            (n,) = struct.unpack("!I", data[:4])
            message, data = data[4 : 4 + n], data[4 + n :]
        else:
            message, data = data, b""
        messages.append(message)
    return messages


class Wire:
    """A machine behind a real adapter over a StringTransport."""

    def __init__(
        self,
        machineClass: type[ConnectionMachine],
        framing: str = "line",
        maxFrameLength: int = 16 * 1024,
        **options: Any,
    ) -> None:
        self.framing = framing
        self.clock = Clock()
        self.machine = machineClass(self.clock, **options)
        self.adapter: MachineAdapter = FRAMINGS[framing](self.machine, maxFrameLength)
        self.transport = StringTransport()
        self.adapter.makeConnection(self.transport)

    def send(self, *messages: bytes) -> None:
        for m in messages:
            self.adapter.dataReceived(frame(self.framing, m))

    def received(self) -> list[bytes]:
        """Messages the server wrote since the last call."""
        data = self.transport.value()
        self.transport.clear()
        return unframe(self.framing, data)

    def lose(self) -> None:
        self.adapter.connectionLost(lost())


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


def residentBytes(pid: int) -> int:
    """The resident set size of process ``pid``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")
