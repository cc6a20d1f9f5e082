"""
End to end over real loopback TCP: our servers, our clients and raw peers, on
every framing.  Time is real here, but nothing sleeps: every wait is on an
event.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.logger import capturedLogs
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from protocols.client import echoClient, greetingClient
from protocols.server import MachineServerFactory, Server
from statemachines.echo import EchoMachine
from statemachines.greeting import GreetingMachine, GreetingRefused

from .helpers import COMMAND, TIMEOUT, frame

BINARY = [
    bytes(range(256)),
    b"\x00" * 100,
    b"\xff\xfe" * 50,
    b"",
    "\u00e9\u6771".encode(),
]


class Peer(Protocol):
    """A raw peer: collects everything, fires ``done`` with it when closed."""

    def __init__(self) -> None:
        self.data = b""
        self.done: Deferred[bytes] = Deferred()
        self.waiting: tuple[bytes, Deferred[None]] | None = None

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        if self.waiting and self.waiting[0] in self.data:
            d = self.waiting[1]
            self.waiting = None
            d.callback(None)

    def waitFor(self, marker: bytes) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        if marker in self.data:
            d.callback(None)
        else:
            self.waiting = (marker, d)
        return d

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.done.callback(self.data)


class ServerFixture:
    """Start a server on a free loopback port; stop it at cleanup."""

    @inlineCallbacks
    def startServer(
        self, machineClass: Any, framing: str = "line", port: int = 0, **options: Any
    ):  # type: ignore[no-untyped-def]
        factory = MachineServerFactory(
            lambda: machineClass(reactor, **options), framing
        )
        server = Server(reactor, f"tcp:{port}:interface=127.0.0.1", factory)
        listening = yield server.start()
        self.addCleanup(server.stop)  # type: ignore[attr-defined]
        return server, listening.getHost().port

    def endpoint(self, port: int) -> TCP4ClientEndpoint:
        return TCP4ClientEndpoint(reactor, "127.0.0.1", port)

    @inlineCallbacks
    def rawPeer(self, port: int):  # type: ignore[no-untyped-def]
        peer = Peer()
        yield connectProtocol(self.endpoint(port), peer)
        return peer


class EchoEndToEndTests(ServerFixture, TestCase):
    @inlineCallbacks
    def echoOver(self, framing: str):  # type: ignore[no-untyped-def]
        server, port = yield self.startServer(EchoMachine, framing)
        client = echoClient(reactor, self.endpoint(port), framing)
        self.addCleanup(client.stop)
        messages = [m for m in BINARY if m or framing != "raw"]
        if framing == "line":
            messages = [m.replace(b"\r\n", b"") for m in messages]
        replies = yield client.echo(messages)
        self.assertEqual(replies, messages)
        more = yield client.echo([b"second", b"batch"])
        self.assertEqual(more, [b"second", b"batch"])
        yield client.stop()
        self.assertEqual(client.machine.state, "stopped")

    def test_line(self):  # type: ignore[no-untyped-def]
        return self.echoOver("line")

    def test_netstring(self):  # type: ignore[no-untyped-def]
        return self.echoOver("netstring")

    def test_int32(self):  # type: ignore[no-untyped-def]
        return self.echoOver("int32")

    def test_raw(self):  # type: ignore[no-untyped-def]
        return self.echoOver("raw")

    @inlineCallbacks
    def test_largeRawPayload(self):  # type: ignore[no-untyped-def]
        server, port = yield self.startServer(EchoMachine, "raw")
        client = echoClient(reactor, self.endpoint(port), "raw")
        self.addCleanup(client.stop)
        payload = bytes(range(256)) * 4096  # 1 MiB, arrives in many chunks
        [reply] = yield client.echo([payload])
        self.assertEqual(reply, payload)

    @inlineCallbacks
    def test_overlongLineClosesOnlyThatConnection(self):  # type: ignore[no-untyped-def]
        server, port = yield self.startServer(EchoMachine, "line")
        good = echoClient(reactor, self.endpoint(port), "line")
        self.addCleanup(good.stop)
        self.assertEqual((yield good.echo([b"before"])), [b"before"])
        bad = yield self.rawPeer(port)
        with capturedLogs():
            bad.transport.write(b"ok\r\n" + b"x" * 20000 + b"\r\n")
            data = yield bad.done
        self.assertEqual(data, b"ok\r\nError: line longer than 16384 bytes\r\n")
        self.assertEqual((yield good.echo([b"after"])), [b"after"])

    @inlineCallbacks
    def test_abruptResetDoesNotHurtOthers(self):  # type: ignore[no-untyped-def]
        server, port = yield self.startServer(EchoMachine, "line")
        good = echoClient(reactor, self.endpoint(port), "line")
        self.addCleanup(good.stop)
        rude = yield self.rawPeer(port)
        rude.transport.write(b"half a line")
        rude.transport.abortConnection()
        yield rude.done
        self.assertEqual((yield good.echo([b"still here"])), [b"still here"])

    @inlineCallbacks
    def test_serverStopClosesConnections(self):  # type: ignore[no-untyped-def]
        server, port = yield self.startServer(EchoMachine, "line")
        peer = yield self.rawPeer(port)
        peer.transport.write(b"ping\r\n")
        yield peer.waitFor(b"ping\r\n")
        yield server.stop()
        self.assertEqual((yield peer.done), b"ping\r\n")
        self.assertEqual(server.factory.machines, {})

    @inlineCallbacks
    def test_clientReconnectsAfterServerRestart(self):  # type: ignore[no-untyped-def]
        server, port = yield self.startServer(EchoMachine, "line")
        client = echoClient(
            reactor, self.endpoint(port), "line", retryPolicy=lambda attempt: 0.05
        )
        self.addCleanup(client.stop)
        self.assertEqual((yield client.echo([b"one"])), [b"one"])
        with capturedLogs():
            yield server.stop()
            pending = client.echo([b"two", b"three"])  # while the server is down
            yield self.startServer(EchoMachine, "line", port=port)
            self.assertEqual((yield pending), [b"two", b"three"])
        self.assertEqual(client.machine.state, "receiving")


class GreetingEndToEndTests(ServerFixture, TestCase):
    @inlineCallbacks
    def greetOver(self, framing: str):  # type: ignore[no-untyped-def]
        server, port = yield self.startServer(GreetingMachine, framing)
        client = greetingClient(reactor, self.endpoint(port), "Alice", framing)
        self.addCleanup(client.stop)
        self.assertEqual((yield client.whenGreeted()), "Hello, Alice!")
        self.assertEqual((yield client.echo([b"\x00binary\xff"])), [b"\x00binary\xff"])

    def test_line(self):  # type: ignore[no-untyped-def]
        return self.greetOver("line")

    def test_netstring(self):  # type: ignore[no-untyped-def]
        return self.greetOver("netstring")

    def test_int32(self):  # type: ignore[no-untyped-def]
        return self.greetOver("int32")

    @inlineCallbacks
    def test_refused(self):  # type: ignore[no-untyped-def]
        server, port = yield self.startServer(GreetingMachine, "line")
        client = greetingClient(reactor, self.endpoint(port), "x" * 65)
        with capturedLogs():
            yield self.assertFailure(client.whenGreeted(), GreetingRefused)
            yield client.machine.whenStopped()

    @inlineCallbacks
    def test_rawPeerDialogue(self):  # type: ignore[no-untyped-def]
        """The exact bytes of a whole session, including three bad names."""
        server, port = yield self.startServer(GreetingMachine, "line")
        peer = yield self.rawPeer(port)
        yield peer.waitFor(b"?\r\n")
        peer.transport.write(
            frame("line", b"") + frame("line", b"\xff") + frame("line", b"\x01")
        )
        with capturedLogs():
            data = yield peer.done
        self.assertEqual(
            data,
            b"".join(
                frame("line", m)
                for m in [
                    b"Hello! What is your name?",
                    b"Error: name is empty",
                    b"What is your name?",
                    b"Error: name is not valid UTF-8",
                    b"What is your name?",
                    b"Error: name contains control characters",
                    b"Goodbye.",
                ]
            ),
        )


class ServerKilledTests(TestCase):
    """A greeting client across a server that is killed and restarted."""

    def startServer(self, port: int = 0) -> tuple[subprocess.Popen[bytes], int]:
        proc = subprocess.Popen(
            COMMAND
            + ["serve", "greeting", "--listen", f"tcp:{port}:interface=127.0.0.1"],
            stderr=subprocess.PIPE,
        )
        assert proc.stderr is not None
        for line in proc.stderr:  # blocks briefly, until the server listens
            found = re.search(rb"listening on .*port=(\d+)", line)
            if found:
                return proc, int(found.group(1))
        raise AssertionError("the server exited before listening")

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.kill()
        proc.wait(TIMEOUT)
        if proc.stderr:
            proc.stderr.close()

    @inlineCallbacks
    def test_reconnectsGreetsAgainLosesNothing(self):  # type: ignore[no-untyped-def]
        proc, port = self.startServer()
        self.addCleanup(lambda: self.kill(proc))
        client = greetingClient(
            reactor,
            TCP4ClientEndpoint(reactor, "127.0.0.1", port),
            "Alice",
            retryPolicy=lambda attempt: 0.05,
        )
        self.addCleanup(client.stop)
        self.assertEqual((yield client.whenGreeted()), "Hello, Alice!")
        first = yield client.echo([b"before the crash", b"\x00\xff binary"])
        self.assertEqual(first, [b"before the crash", b"\x00\xff binary"])

        self.kill(proc)  # abrupt: SIGKILL
        # Queued now, sent only once the client has been greeted again (it
        # sends nothing before the greeting), so these replies prove both the
        # reconnection and the new greeting.
        pending = client.echo([b"sent while down", b"and this"])
        with capturedLogs():
            proc, _ = self.startServer(port)
            self.addCleanup(lambda: self.kill(proc))
            replies = yield pending
        self.assertEqual(replies, [b"sent while down", b"and this"])
        self.assertEqual(client.machine.state, "receiving")
        self.assertIs((yield client.whenConnected()), client.machine.link)


class ServiceTests(TestCase):
    @inlineCallbacks
    def test_serverAndClientComposeAsServices(self):  # type: ignore[no-untyped-def]
        from twisted.application.service import MultiService

        factory = MachineServerFactory(lambda: EchoMachine(reactor), "line")
        server = Server(reactor, "tcp:0:interface=127.0.0.1", factory)
        application = MultiService()
        server.setServiceParent(application)
        application.startService()
        port = (yield server.listening).getHost().port
        peer = Peer()
        yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), peer)
        peer.transport.write(b"hi\r\n")
        yield peer.waitFor(b"hi\r\n")
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
        client = echoClient(reactor, endpoint, start=False)
        self.assertFalse(client.running)
        self.assertEqual(client.machine.state, "idle")
        client.setServiceParent(application)  # a running parent starts it
        self.assertEqual((yield client.echo([b"from a service"])), [b"from a service"])
        yield application.stopService()  # stops listening, closes connections
        self.assertEqual((yield peer.done), b"hi\r\n")
        self.assertFalse(server.running)
        self.assertFalse(client.running)
        self.assertEqual(client.machine.state, "stopped")
