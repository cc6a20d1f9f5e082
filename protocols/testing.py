"""
Helpers for testing protocols without a network, for users and for this
project's own tests: a machine behind its real adapter over Twisted's
``StringTransport``, time from a ``Clock``, and the framings' codecs.

    wire = Wire(MyMachine, framing="line", idleTimeout=10)
    wire.send(b"hello")                  # framed, as a peer would send it
    assert wire.received() == [b"HELLO"]  # unframed, what the machine sent
    wire.advance(10)                      # the idle timeout fires
    assert wire.transport.disconnecting

Pair it with `statemachines.testing.TransitionRecorder` to assert the
transitions a test drives.

`residentBytes` and `cpuSeconds` read a server process's memory and CPU time
(Linux ``/proc``), for tests and benchmarks that run servers as processes.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any, Generic, TypeVar

from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from statemachines.connection import ConnectionMachine

from .framing import DEFAULT_MAX_FRAME_LENGTH, MachineAdapter, adapterFor

__all__ = ["Wire", "cpuSeconds", "frame", "residentBytes", "unframe"]

M = TypeVar("M", bound=ConnectionMachine)


def frame(framing: str, message: bytes) -> bytes:
    """``message`` as a peer puts it on the wire in ``framing``."""
    if framing == "line":
        return message + b"\r\n"
    if framing == "netstring":
        return b"%d:%s," % (len(message), message)
    if framing == "int32":
        return struct.pack("!I", len(message)) + message
    if framing == "raw":
        return message
    raise ValueError(f"unknown framing {framing!r}")


def unframe(framing: str, data: bytes) -> list[bytes]:
    """Split what was written in ``framing`` into messages (``[data]`` for raw)."""
    messages = []
    while data:
        if framing == "line":
            message, _, data = data.partition(b"\r\n")
        elif framing == "netstring":
            length, _, rest = data.partition(b":")
            n = int(length)
            if rest[n : n + 1] != b",":
                raise ValueError(f"not a netstring: {data!r}")
            message, data = rest[:n], rest[n + 1 :]
        elif framing == "int32":
            (n,) = struct.unpack("!I", data[:4])
            message, data = data[4 : 4 + n], data[4 + n :]
        elif framing == "raw":
            message, data = data, b""
        else:
            raise ValueError(f"unknown framing {framing!r}")
        messages.append(message)
    return messages


class Wire(Generic[M]):
    """
    A fresh ``machineClass(clock, **options)`` behind the adapter of
    ``framing``, connected to a ``StringTransport``; ``clock`` is a ``Clock``.
    """

    def __init__(
        self,
        machineClass: type[M],
        framing: str = "line",
        maxFrameLength: int = DEFAULT_MAX_FRAME_LENGTH,
        **options: Any,
    ) -> None:
        self.framing = framing
        self.clock = Clock()
        self.machine: M = machineClass(self.clock, **options)
        self.adapter: MachineAdapter = adapterFor(framing)(self.machine, maxFrameLength)
        self.transport = StringTransport()
        self.adapter.makeConnection(self.transport)

    def send(self, *messages: bytes) -> None:
        """The peer sends ``messages``, each framed, each in its own chunk."""
        for message in messages:
            self.adapter.dataReceived(frame(self.framing, message))

    def sendBytes(self, data: bytes) -> None:
        """The peer sends raw bytes (partial frames, garbage, ...)."""
        self.adapter.dataReceived(data)

    def received(self) -> list[bytes]:
        """The messages written to the peer since the last call."""
        data = self.transport.value()
        self.transport.clear()
        return unframe(self.framing, data)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass on the clock."""
        self.clock.advance(seconds)

    def lose(self, reason: Failure | None = None) -> None:
        """The connection is lost (cleanly, unless ``reason`` says otherwise)."""
        self.adapter.connectionLost(reason or Failure(ConnectionDone()))


def residentBytes(pid: int) -> int:
    """The resident set size of process ``pid``, in bytes (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpuSeconds(pid: int) -> float:
    """User plus system CPU time process ``pid`` has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")
