"""
Property tests over the adapters: arbitrary splits of the byte stream, timer
advances, closes and disconnects at any point.  Invariants: the echo output
equals a model of the protocol, no exception escapes, and no delayed call
survives a closed connection.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from statemachines import (
    ClientMachine,
    EchoClientMachine,
    EchoMachine,
    GreetingClientMachine,
)
from statemachines.testing import inputSequences

from .helpers import RecordingDialer, RecordingLink, Wire, frame, unframe

IDLE = 5

EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("data"), st.integers(1, 40)),
        st.tuples(st.just("advance"), st.integers(0, 7)),
        st.tuples(st.sampled_from(["close", "lose", "finish"]), st.just(0)),
    ),
    max_size=30,
)


def messages(framing: str) -> st.SearchStrategy[list[bytes]]:
    message = st.binary(min_size=1 if framing == "raw" else 0, max_size=30)
    if framing == "line":
        message = message.map(lambda m: m.replace(b"\r", b"").replace(b"\n", b""))
    return st.lists(message, max_size=8)


class EchoModelTests(SynchronousTestCase):
    def check(
        self, framing: str, sent: list[bytes], events: list[tuple[str, int]]
    ) -> None:
        stream = b"".join(frame(framing, m) for m in sent)
        wire = Wire(EchoMachine, framing, idleTimeout=IDLE, closeTimeout=3)
        # The model: the bytes the server takes in while the connection is
        # open, and whether it was closed for being idle.
        delivered, isOpen, isLost, timedOut = b"", True, False, False
        isFinished = False  # the peer half-closed: it sends nothing more
        now = lastBytes = position = 0
        with capturedLogs():
            for kind, amount in events:
                if (
                    kind == "data"
                    and not (isLost or isFinished)
                    and position < len(stream)
                ):
                    chunk = stream[position : position + amount]
                    position += len(chunk)
                    if isOpen:
                        lastBytes = now
                        delivered += chunk
                    wire.adapter.dataReceived(chunk)  # nothing may escape
                elif kind == "advance":
                    now += amount
                    wire.clock.advance(amount)
                    if isOpen and now - lastBytes >= IDLE:
                        isOpen, timedOut = False, True
                elif kind == "close" and not isLost:
                    isOpen = False
                    wire.machine.close()
                elif kind == "lose" and not isLost:
                    isOpen, isLost = False, True
                    wire.lose()
                elif kind == "finish" and not (isLost or isFinished):
                    # Everything so far is answered, then the server closes.
                    isOpen, isFinished = False, True
                    wire.adapter.readConnectionLost()
        expected = _echo(framing, delivered)
        if timedOut and framing == "line":
            expected.append(b"Error: idle timeout")
        output = unframe(framing, wire.transport.value())
        if framing == "raw":
            self.assertEqual(b"".join(output), b"".join(expected))
        else:
            self.assertEqual(output, expected)
        if isLost:
            self.assertEqual(wire.machine.state, "closed")
            self.assertEqual(wire.clock.getDelayedCalls(), [])
        elif isFinished:
            self.assertEqual(wire.machine.state, "closing")
            self.assertTrue(wire.transport.disconnecting)

    @settings(max_examples=150, deadline=None)
    @given(st.data())
    def test_line(self, data: st.DataObject) -> None:
        self.check("line", data.draw(messages("line")), data.draw(EVENTS))

    @settings(max_examples=100, deadline=None)
    @given(st.data())
    def test_netstring(self, data: st.DataObject) -> None:
        self.check("netstring", data.draw(messages("netstring")), data.draw(EVENTS))

    @settings(max_examples=100, deadline=None)
    @given(st.data())
    def test_int32(self, data: st.DataObject) -> None:
        self.check("int32", data.draw(messages("int32")), data.draw(EVENTS))

    @settings(max_examples=100, deadline=None)
    @given(st.data())
    def test_raw(self, data: st.DataObject) -> None:
        self.check("raw", data.draw(messages("raw")), data.draw(EVENTS))


def _echo(framing: str, delivered: bytes) -> list[bytes]:
    """The complete messages in ``delivered``: what an echo server returns."""
    if framing == "raw":
        return [delivered] if delivered else []
    complete = []
    rest = delivered
    while rest:
        if framing == "line":
            line, sep, after = rest.partition(b"\r\n")
            if not sep:
                break
            complete.append(line)
            rest = after
        else:
            try:
                [message] = unframe(framing, _firstFrame(framing, rest))
            except (ValueError, IndexError, AssertionError):
                break
            complete.append(message)
            rest = rest[len(frame(framing, message)) :]
    return complete


def _firstFrame(framing: str, data: bytes) -> bytes:
    if framing == "netstring":
        length, colon, _ = data.partition(b":")
        if not colon:
            raise ValueError("incomplete")
        end = len(length) + 1 + int(length) + 1
    else:
        if len(data) < 4:
            raise ValueError("incomplete")
        end = 4 + int.from_bytes(data[:4], "big")
    if len(data) < end:
        raise ValueError("incomplete")
    return data[:end]


# -- client machines: any event, in any state -----------------------------------

ENVIRONMENT = [
    "start",
    "stop",
    "echo",
    "whenConnected",
    "advance",
    "answerDial",
    "failDial",
    "serverSays",
    "dropConnection",
    "finishClosing",
    "badFrame",
]


def clientEvents(cls: type[ClientMachine]) -> st.SearchStrategy[list[Any]]:
    """
    What can happen to a client: mostly what its environment would do at
    that moment (answer its dial, reply, drop the connection, let time pass),
    and now and then any input at all, in any state.
    """
    anyInput = inputSequences(
        cls,
        {
            "connectionMade": lambda: (RecordingLink(),),
            "connectionFailed": lambda: (Failure(ConnectionRefusedError()),),
            "messageReceived": lambda: (b"Hello! What is your name?",),
            "badFrame": lambda: ("too long",),
            "failed": lambda: ("oops",),
            "connectionLost": lambda: (Failure(ConnectionDone()),),
            "greeted": lambda: ("Hello, Ada!",),
            "refused": lambda: ("name is empty",),
        },
        maxSize=1,
    )
    environment = st.tuples(st.sampled_from(ENVIRONMENT), st.integers(0, 3)).map(
        lambda e: [e]
    )
    step = st.one_of(environment, environment, environment, anyInput)
    return st.lists(step, max_size=50).map(
        lambda chunks: [event for chunk in chunks for event in chunk]
    )


REPLIES = [b"Hello! What is your name?", b"Hello, Ada!", b"Error: no", b"hi"]


class ClientMachinesTakeAnythingTests(SynchronousTestCase):
    """
    Client machines in a simulated world, plus inputs in states where they
    make no sense: nothing escapes, the state is always a declared one, and a
    stopped client leaves no delayed call behind.
    """

    def drive(self, cls: type[ClientMachine], steps: list[Any]) -> None:
        clock = Clock()
        dialer = RecordingDialer()
        options = {"name": "Ada"} if cls is GreetingClientMachine else {}
        machine: Any = cls(dialer, clock, maxAttempts=3, **options)
        answered = 0
        links: list[RecordingLink] = []
        pending = []
        with capturedLogs():
            for name, arg in steps:
                dialing = dialer.dials - dialer.cancels - answered > 0
                link = links[-1] if links else None
                if name == "echo":
                    pending.append(machine.echo([b"hi"]))
                elif name == "whenConnected":
                    pending.append(machine.whenConnected(failAfterFailures=arg or None))
                elif name in ("start", "stop"):
                    getattr(machine, name)()
                elif name == "advance":
                    clock.advance([0.5, 2, 10, 60][arg])
                elif name in ("answerDial", "failDial") and dialing:
                    answered += 1
                    if name == "answerDial":
                        links.append(RecordingLink())
                        machine.connectionMade(links[-1])
                    else:
                        machine.connectionFailed(Failure(ConnectionRefusedError()))
                elif name == "serverSays" and link is not None:
                    machine.dataArrived()
                    machine.messageReceived(REPLIES[arg])
                elif name == "badFrame" and link is not None:
                    machine.badFrame("too long")
                elif name == "dropConnection" and link is not None:
                    links.pop()
                    machine.connectionLost(Failure(ConnectionDone()))
                elif (
                    name == "finishClosing" and link and (link.closing or link.aborted)
                ):
                    links.pop()
                    machine.connectionLost(Failure(ConnectionDone()))
                elif name not in ENVIRONMENT:
                    getattr(machine, name)(*arg)
                self.assertIn(machine.state, cls.blueprint.states)
                if machine.state == "stopped":
                    self.assertEqual(clock.getDelayedCalls(), [])
        for d in pending:
            d.addErrback(lambda f: None)  # failing is allowed; escaping is not
        # A reply the client cannot match is the server's protocol violation:
        # one log line and the connection dropped, never a logged failure.
        self.assertEqual(self.flushLoggedErrors(), [])

    @settings(max_examples=400, deadline=None)
    @given(steps=clientEvents(EchoClientMachine))
    def test_echoClient(self, steps: list[Any]) -> None:
        self.drive(EchoClientMachine, steps)

    @settings(max_examples=400, deadline=None)
    @given(steps=clientEvents(GreetingClientMachine))
    def test_greetingClient(self, steps: list[Any]) -> None:
        self.drive(GreetingClientMachine, steps)
