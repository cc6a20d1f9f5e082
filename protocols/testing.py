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
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from statemachines.connection import ConnectionMachine
from statemachines.framing import (
    DEFAULT_MAX_FRAME_LENGTH,
    FramerFactory,
    framerFactory,
)

from .adapter import MachineAdapter

__all__ = ["Wire", "frame", "unframe"]

M = TypeVar("M", bound=ConnectionMachine)


def frame(framing: str | FramerFactory, message: bytes) -> bytes:
    """``message`` as a peer puts it on the wire in ``framing``."""
    return framerFactory(framing)(DEFAULT_MAX_FRAME_LENGTH).frame(message)


def unframe(framing: str | FramerFactory, data: bytes) -> list[bytes]:
    """
    Split what was written in ``framing`` into messages (``[data]`` for raw);
    ValueError if ``data`` does not end with a complete message.
    """
    framer = framerFactory(framing)(max(len(data), 1))
    messages = list(framer.messages(data))
    rest = framer.unconsumed()
    if rest:
        raise ValueError(f"incomplete message at the end: {rest[:60]!r}")
    return messages


class Wire(Generic[M]):
    """
    A fresh ``machineClass(clock, **options)`` behind an adapter framing
    with ``framing`` (a name or a framer factory), connected to a
    ``StringTransport``; ``clock`` is a ``Clock``.  `received` reads what the
    machine wrote in ``framing``; after the machine switches framing, read
    ``transport.value()`` instead.
    """

    def __init__(
        self,
        machineClass: type[M],
        framing: str | FramerFactory = "line",
        maxFrameLength: int = DEFAULT_MAX_FRAME_LENGTH,
        **options: Any,
    ) -> None:
        self.framing = framing
        self.clock = Clock()
        self.machine: M = machineClass(self.clock, **options)
        framer = framerFactory(framing)(maxFrameLength)
        self.adapter = MachineAdapter(self.machine, framer)
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
