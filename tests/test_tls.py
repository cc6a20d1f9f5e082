"""
TLS: the adapter's handshake rule with fakes, then echo and greeting over
real TLS on loopback (in process and through the command line), with a CA
and certificates made at test time.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from OpenSSL.SSL import Error as TLSError
from service_identity import VerificationError
from twisted.internet import reactor
from twisted.internet.defer import DeferredList, inlineCallbacks, succeed
from twisted.internet.endpoints import clientFromString
from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.protocol import Factory
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import directlyProvides

from protocols.adapter import MachineAdapter
from protocols.client import EndpointDialer, echoClient, greetingClient
from protocols.server import MachineServerFactory, Server
from statemachines.echo import EchoClientMachine, EchoMachine
from statemachines.framing import LineFramer
from statemachines.greeting import GreetingMachine

from .certificates import Authority, endpointQuote
from .helpers import COMMAND, TIMEOUT, serveInSubprocess


def tlsTransport() -> StringTransport:
    transport = StringTransport()
    directlyProvides(transport, ISSLTransport)
    return transport


class HandshakeRuleTests(SynchronousTestCase):
    """A client's connection counts as made once its TLS handshake is done."""

    def client(self, tls: bool = True) -> tuple[EchoClientMachine, Any, Any]:
        """A started client whose dial connected: machine, adapter, transport."""
        endpoint = FakeEndpoint(tls)
        machine = EchoClientMachine(EndpointDialer(endpoint), Clock())
        machine.start()
        return machine, endpoint.adapters[0], endpoint.transports[0]

    def test_connectedOnlyAfterTheHandshake(self) -> None:
        machine, adapter, _ = self.client()
        self.assertEqual(machine.state, "connecting")
        adapter.handshakeCompleted()
        self.assertEqual(machine.state, "connected")
        self.assertIs(machine.link, adapter)

    def test_lossDuringTheHandshakeIsAFailedAttempt(self) -> None:
        machine, adapter, _ = self.client()
        reason = Failure(VerificationError(errors=["hostname mismatch"]))
        with capturedLogs():
            adapter.connectionLost(reason)
        self.assertEqual(machine.state, "reconnecting")
        self.assertEqual(machine.failedAttempts, 1)
        self.assertIs(machine.lastFailure, reason)

    def test_handshakeThatFailedVerificationIsNotAConnection(self) -> None:
        # Twisted reports the handshake complete even when verification
        # failed inside it; the transport is aborting by then.
        machine, adapter, transport = self.client()
        transport.abortConnection()
        adapter.handshakeCompleted()
        self.assertEqual(machine.state, "connecting")
        with capturedLogs():
            adapter.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(machine.state, "reconnecting")

    def test_plainTransportConnectsAtOnce(self) -> None:
        machine, adapter, _ = self.client(tls=False)
        self.assertEqual(machine.state, "connected")
        self.assertIs(machine.link, adapter)

    def test_serverConnectsAtOnceSoTheIdleTimeoutCoversTheHandshake(self) -> None:
        clock = Clock()
        machine = EchoMachine(clock, idleTimeout=5)
        transport = tlsTransport()
        MachineAdapter(machine, LineFramer()).makeConnection(transport)
        self.assertEqual(machine.state, "connected")
        with capturedLogs():
            clock.advance(5)
        self.assertEqual(machine.state, "closing")

    def test_writesBeforeTheHandshakeDoNotStopReading(self) -> None:
        # TLS pauses its producer while it holds writes made before the
        # handshake is done (a greeting's banner); if that stopped reading,
        # the handshake would never complete.
        transport = tlsTransport()
        adapter = MachineAdapter(EchoMachine(Clock()), LineFramer())
        adapter.makeConnection(transport)
        adapter.pauseProducing()
        self.assertEqual(transport.producerState, "producing")
        adapter.handshakeCompleted()
        adapter.pauseProducing()
        self.assertEqual(transport.producerState, "paused")

    def test_stopDuringTheHandshakeAbortsIt(self) -> None:
        endpoint = FakeEndpoint()
        machine = EchoClientMachine(EndpointDialer(endpoint), Clock())
        machine.start()
        [transport] = endpoint.transports
        stopped = machine.whenStopped()
        machine.stop()
        self.assertTrue(transport.disconnected)  # aborted
        self.successResultOf(stopped)
        endpoint.adapters[0].connectionLost(Failure(ConnectionLost()))
        self.assertEqual(machine.state, "stopped")


class FakeEndpoint:
    """Connects at once, over a fake (TLS) transport, and keeps what it built."""

    def __init__(self, tls: bool = True) -> None:
        self.tls = tls
        self.transports: list[StringTransport] = []
        self.adapters: list[Any] = []

    def connect(self, factory: Factory) -> Any:
        adapter = factory.buildProtocol(None)
        transport = tlsTransport() if self.tls else StringTransport()
        assert adapter is not None
        adapter.makeConnection(transport)
        self.transports.append(transport)
        self.adapters.append(adapter)
        return succeed(adapter)


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
