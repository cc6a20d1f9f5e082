"""
End to end over real loopback TCP: our servers, our clients and raw peers, on
every framing, and over TLS with a CA and certificates made at test time
(in process and through the command line).  Time is real here, but
nothing sleeps: every wait is on an event.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from OpenSSL.SSL import Error as TLSError
from service_identity import VerificationError
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredList, inlineCallbacks
from twisted.internet.endpoints import (
    TCP4ClientEndpoint,
    clientFromString,
    connectProtocol,
)
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.protocol import Protocol
from twisted.logger import capturedLogs
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from protocols.client import echoClient, greetingClient
from protocols.server import MachineServerFactory, Server
from statemachines.echo import EchoMachine
from statemachines.greeting import GreetingMachine, GreetingRefused

from .certificates import Authority, endpointQuote
from .helpers import COMMAND, TIMEOUT, frame, serveInSubprocess

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


class Certificates:
    """A fresh CA, and a certificate for localhost, per test."""

    def makeCertificates(self, case: SynchronousTestCase) -> None:
        here = Path(case.mktemp())
        self.authority = Authority.create(here / "ca")
        self.serverPEM = self.authority.issue(here / "server.pem", "localhost")
        self.strangers = Authority.create(here / "other-ca", "someone else's CA")

    def listen(self) -> str:
        return f"ssl:0:privateKey={endpointQuote(self.serverPEM)}:interface=127.0.0.1"

    def connect(
        self, port: int, hostname: str = "localhost", trust: Authority | None = None
    ) -> str:
        trustRoots = endpointQuote((trust or self.authority).trustRoots)
        return (
            f"tls:{hostname}:{port}:trustRoots={trustRoots}"
            f":endpoint=tcp\\:127.0.0.1\\:{port}"
        )


class TLSEndToEndTests(Certificates, TestCase):
    def setUp(self) -> None:
        self.makeCertificates(self)

    @inlineCallbacks
    def serve(self, machineClass: Any, framing: str = "line"):  # type: ignore[no-untyped-def]
        factory = MachineServerFactory(lambda: machineClass(reactor), framing)
        server = Server(reactor, self.listen(), factory)
        listening = yield server.start()
        self.addCleanup(server.stop)
        self.factory = factory
        return listening.getHost().port

    def client(self, port: int, framing: str = "line", **connect: Any) -> Any:
        endpoint = clientFromString(reactor, self.connect(port, **connect))
        client = echoClient(reactor, endpoint, framing, maxAttempts=1)
        self.addCleanup(client.stop)
        return client

    @inlineCallbacks
    def test_echo(self):  # type: ignore[no-untyped-def]
        for framing in ("line", "int32"):
            port = yield self.serve(EchoMachine, framing)
            client = self.client(port, framing)
            replies = yield client.echo([b"over", b"TLS", b""])
            self.assertEqual(replies, [b"over", b"TLS", b""])
            transport = client.machine.link.transport
            self.assertTrue(ISSLTransport.providedBy(transport))
            subject = transport.getPeerCertificate().get_subject()
            self.assertEqual(subject.commonName, "localhost")
            yield client.stop()

    @inlineCallbacks
    def test_greeting(self):  # type: ignore[no-untyped-def]
        port = yield self.serve(GreetingMachine)
        endpoint = clientFromString(reactor, self.connect(port))
        greeter = greetingClient(reactor, endpoint, "Ada", maxAttempts=1)
        self.addCleanup(greeter.stop)
        greeting = yield greeter.whenGreeted()
        self.assertIn("Ada", greeting)
        self.assertEqual((yield greeter.echo([b"after"])), [b"after"])

    @inlineCallbacks
    def test_wrongHostnameIsRejected(self):  # type: ignore[no-untyped-def]
        port = yield self.serve(EchoMachine)
        with capturedLogs() as events:
            impostor = self.client(port, hostname="wrong.example")
            yield self.assertFailure(
                impostor.whenConnected(failAfterFailures=1), VerificationError
            )
            yield impostor.machine.whenStopped()  # gave up: one attempt allowed
            yield DeferredList([m.whenClosed() for m in self.factory.machines])
        self.assertIn("wrong.example", str(impostor.machine.lastFailure.value))
        # The server, still serving, hears of the failed handshake as a loss.
        self.assertEqual((yield self.client(port).echo([b"still"])), [b"still"])
        losses = [e for e in events if "lost the connection" in e["log_format"]]
        self.assertEqual(len(losses), 1, events)

    @inlineCallbacks
    def test_untrustedCertificateIsRejected(self):  # type: ignore[no-untyped-def]
        port = yield self.serve(EchoMachine)
        with capturedLogs():
            doubter = self.client(port, trust=self.strangers)
            failure = yield self.assertFailure(
                doubter.whenConnected(failAfterFailures=1), TLSError
            )
        self.assertIn("certificate verify failed", str(failure))
        self.assertEqual((yield self.client(port).echo([b"still"])), [b"still"])


class TLSCommandLineTests(Certificates, SynchronousTestCase):
    """``txmachines serve --listen ssl:`` and ``connect --connect tls:``."""

    def setUp(self) -> None:
        self.makeCertificates(self)

    def connectWith(
        self, *args: str, stdin: bytes
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            COMMAND + ["connect", *args, "--max-attempts", "1"],
            input=stdin,
            capture_output=True,
            timeout=TIMEOUT,
        )

    def test_echoAndGreeting(self) -> None:
        for protocol in ("echo", "greeting"):
            proc, port = serveInSubprocess(self, protocol, listen=self.listen())
            trust = endpointQuote(self.authority.trustRoots)
            result = self.connectWith(
                protocol,
                "--connect",
                f"tls:localhost:{port}:trustRoots={trust}",
                stdin=b"Ada\nhello\nworld\n",
            )
            self.assertEqual(result.returncode, 0, result.stderr)
            lines = result.stdout.splitlines()
            if protocol == "greeting":
                self.assertIn(b"Ada", lines.pop(0))
            self.assertEqual(lines, [b"Ada", b"hello", b"world"][-len(lines) :])
            self.assertEqual(len(lines), 3 if protocol == "echo" else 2)

    def test_wrongHostname(self) -> None:
        proc, port = serveInSubprocess(self, "echo", listen=self.listen())
        result = self.connectWith(
            "echo", "--connect", self.connect(port, "wrong.example"), stdin=b"hi\n"
        )
        self.assertEqual(result.returncode, 1)
        self.assertIn(b"could not connect after 1 attempt:", result.stderr)
        self.assertIn(b"TLS certificate is not valid for wrong.example", result.stderr)

    def test_plainTCPToATLSPortTimesOut(self) -> None:
        for protocol, waitedFor in (
            ("echo", b"a reply to b'hi'"),
            ("greeting", b"the banner"),
        ):
            proc, port = serveInSubprocess(self, protocol, listen=self.listen())
            result = self.connectWith(
                protocol,
                "--connect",
                f"tcp:127.0.0.1:{port}",
                "--timeout",
                "1",
                stdin=b"Ada\nhi\n" if protocol == "greeting" else b"hi\n",
            )
            self.assertEqual(result.returncode, 1, result.stderr)
            last = result.stderr.splitlines()[-1]
            self.assertIn(b"the server sent nothing for 1 s", last)
            self.assertIn(b"waited for " + waitedFor, last)

    def test_tlsToAPlainPortTimesOut(self) -> None:
        proc, port = serveInSubprocess(self, "echo")  # plain TCP, silent to TLS
        result = self.connectWith(
            "echo",
            "--connect",
            self.connect(port),
            "--timeout",
            "1",
            stdin=b"hi\n",
        )
        self.assertEqual(result.returncode, 1, result.stderr)
        last = result.stderr.splitlines()[-1]
        self.assertIn(b"could not connect after 1 attempt:", last)
        self.assertEqual(result.stdout, b"")
