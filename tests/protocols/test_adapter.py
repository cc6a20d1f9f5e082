"""
The adapter: framing switches from a machine's output (no byte lost,
duplicated or reordered, however the bytes arrive), STARTTLS on both sides,
the peer's and host's addresses, user framings, replies written once per
read, and a server's connection made before its TLS handshake.

This module defines its machines without ``from __future__ import
annotations``, as a user's module would.
"""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import clientFromString
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import ISSLTransport, ITLSTransport
from twisted.internet.ssl import Certificate, PrivateCertificate, optionsForClientTLS
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, capturedLogs
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import directlyProvides, implementer

from protocols.adapter import MachineAdapter
from protocols.client import EndpointDialer
from protocols.server import MachineServerFactory, Server
from protocols.testing import Wire
from statemachines import ClientMachine, ConnectionMachine, EchoMachine
from statemachines.eventrate import DEFAULT_BURST
from statemachines.framing import (
    FixedLengthFramer,
    LineFramer,
    NetstringFramer,
    RawFramer,
)

from ..certificates import Authority
from .test_sendnow import Pair


class Blocks(ConnectionMachine):
    """
    A line protocol with binary blocks: ``BLOCK <n>`` is followed by n raw
    bytes (any bytes, CRLF included), then lines again.  ``TLS`` starts TLS.
    """

    tlsOptions = None

    def __init__(self, clock, **options):
        super().__init__(clock, **options)
        self.received = []
        self.securedCount = 0
        self.inBlock = False

    def onMessage(self, message):
        self.received.append(message)
        if self.inBlock:
            self.inBlock = False
            self.link.switchFraming(LineFramer(100))
            self.link.sendMessage(b"got %d bytes" % len(message))
        elif message.startswith(b"BLOCK "):
            self.inBlock = True
            self.link.switchFraming(FixedLengthFramer(int(message[6:])))
        elif message == b"TLS":
            self.link.sendMessage(b"GO")
            self.link.startTLS(self.tlsOptions)
        else:
            state = b"secure" if self.link.secure else b"plain"
            self.link.sendMessage(state + b": " + message)

    def onSecured(self):
        self.securedCount += 1


ITEMS = st.lists(
    st.one_of(
        st.binary(max_size=8).map(lambda b: ("line", b.replace(b"\n", b""))),
        st.binary(min_size=1, max_size=12).map(lambda b: ("block", b)),
    ),
    max_size=10,
)


class SwitchTests(SynchronousTestCase):
    @settings(max_examples=300, deadline=None)
    @given(items=ITEMS, cuts=st.lists(st.integers(min_value=0), max_size=12))
    def test_everyByteOnceInOrderUnderAnySplit(self, items, cuts):
        stream, expected = b"", []
        for kind, data in items:
            if kind == "line":
                stream += data + b"\r\n"
                expected.append(data)
            else:
                header = b"BLOCK %d" % len(data)
                stream += header + b"\r\n" + data
                expected += [header, data]
        points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
        wire = Wire(Blocks, idleTimeout=None)
        for a, b in zip(points, points[1:], strict=False):
            wire.sendBytes(stream[a:b])
        self.assertEqual(wire.machine.received, expected)
        self.assertFalse(wire.transport.disconnecting)

    def test_switchInTheMiddleOfOneChunk(self):
        wire = Wire(Blocks)
        wire.sendBytes(b"BLOCK 4\r\n\r\n\r\nafter\r\nBLOCK 1\r\nxy\r\n")
        self.assertEqual(
            wire.machine.received,
            [b"BLOCK 4", b"\r\n\r\n", b"after", b"BLOCK 1", b"x", b"y"],
        )
        self.assertEqual(
            wire.received(),
            [b"got 4 bytes", b"plain: after", b"got 1 bytes", b"plain: y"],
        )

    def test_thousandsOfSwitchesInOneReadCostNoStack(self):
        wire = Wire(Blocks, idleTimeout=None)
        wire.sendBytes(b"BLOCK 1\r\nx" * 5000 + b"end\r\n")
        self.assertEqual(len(wire.machine.received), 10001)
        self.assertEqual(wire.received()[-1], b"plain: end")

    def test_switchOutsideAMessageWaitsForTheNextTurn(self):
        """
        A switch from outside the adapter's delivery (a timer, say) moves
        what waits in the old framer to the new one, and delivers it on the
        next turn of the reactor, not inside the machine's output.
        """
        wire = Wire(Blocks)
        wire.sendBytes(b"partial")
        wire.machine.link.switchFraming(RawFramer())
        self.assertEqual(wire.machine.received, [])
        wire.sendBytes(b" line")  # before that turn: still in order
        wire.advance(0)
        self.assertEqual(wire.machine.received, [b"partial line"])

    def test_badFrameAfterASwitch(self):
        wire = Wire(Blocks)
        wire.sendBytes(b"BLOCK 2\r\nab" + b"x" * 200 + b"\r\n")
        self.assertEqual(wire.machine.received, [b"BLOCK 2", b"ab"])
        self.assertEqual(
            wire.received(), [b"got 2 bytes", b"Error: line longer than 100 bytes"]
        )
        self.assertTrue(wire.transport.disconnecting)


class CountingTransport(StringTransport):
    """A StringTransport that records each write."""

    def __init__(self):
        super().__init__()
        self.writes = []

    def write(self, data):
        self.writes.append(data)
        super().write(data)


class Commands(ConnectionMachine):
    """
    Echo, except: ``quit`` closes, ``bad`` sends a line with a CRLF in it
    (which no line framing can carry), ``net`` switches both ways to
    netstrings.
    """

    def __init__(self, clock, **options):
        super().__init__(clock, **options)
        self.received = []

    def onMessage(self, message):
        self.received.append(message)
        if message == b"quit":
            self.close()
        elif message == b"abort":
            self.link.abortConnection()
        elif message == b"bad":
            self.send(b"two\r\nlines")
        elif message == b"str":
            self.send("not bytes")
        elif message == b"net":
            self.send(b"switching")
            self.link.switchFraming(NetstringFramer(100), sending=True)
        else:
            self.send(message)


class ReplyBatchingTests(SynchronousTestCase):
    """
    What a machine sends while the adapter delivers one read goes to the
    transport in one write at its end, or earlier when something else must
    reach the transport after it (a close, STARTTLS).
    """

    def connect(self, machine=Commands):
        machine = machine(Clock())
        adapter = MachineAdapter(machine, LineFramer(100))
        transport = CountingTransport()
        adapter.makeConnection(transport)
        return machine, adapter, transport

    def test_repliesToOneReadAreOneWrite(self):
        machine, adapter, transport = self.connect()
        adapter.dataReceived(b"".join(b"line %d\r\n" % i for i in range(100)))
        self.assertEqual(
            transport.writes, [b"".join(b"line %d\r\n" % i for i in range(100))]
        )

    def test_sendingOutsideAReadIsWrittenAtOnce(self):
        machine, adapter, transport = self.connect()
        machine.send(b"unprompted")
        self.assertEqual(transport.writes, [b"unprompted\r\n"])
        with self.assertRaises(ValueError):  # to the caller, as before
            machine.send(b"two\r\nlines")

    def test_aCloseMidReadWritesWhatCameBeforeIt(self):
        machine, adapter, transport = self.connect()
        adapter.dataReceived(b"a\r\nb\r\nquit\r\nc\r\n")
        self.assertEqual(machine.received, [b"a", b"b", b"quit"])
        self.assertEqual(transport.value(), b"a\r\nb\r\n")
        self.assertTrue(transport.disconnecting)

    def test_nothingIsDeliveredAfterAnAbort(self):
        machine, adapter, transport = self.connect()
        transport.abortConnection = lambda: None  # a StringTransport cannot
        adapter.dataReceived(b"a\r\nabort\r\nafter\r\n")
        self.assertEqual(machine.received, [b"a", b"abort"])
        self.assertEqual(transport.value(), b"")  # what it aborted is not sent

    def test_errorsFollowTheRepliesBeforeThem(self):
        machine, adapter, transport = self.connect()
        adapter.dataReceived(b"a\r\n" + b"x" * 101 + b"\r\n")
        self.assertEqual(
            transport.value(), b"a\r\nError: line longer than 100 bytes\r\n"
        )
        self.assertTrue(transport.disconnecting)

    def test_aSwitchOfSendingFramesEachReplyAsItWasSent(self):
        machine, adapter, transport = self.connect()
        adapter.dataReceived(b"a\r\nnet\r\n3:abc,1:d,")
        self.assertEqual(transport.value(), b"a\r\nswitching\r\n3:abc,1:d,")

    def test_anUnframeableReplyFailsInTheOutputThatSentIt(self):
        """
        The machine's error policy answers where the reply was sent: the
        replies before it go out, nothing after it is handled, the
        connection closes cleanly.
        """
        machine, adapter, transport = self.connect()
        with capturedLogs():
            adapter.dataReceived(b"a\r\nbad\r\nb\r\nquit\r\n")
        self.assertEqual(machine.received, [b"a", b"bad"])
        self.assertEqual(transport.value(), b"a\r\nError: internal error\r\n")
        self.assertTrue(transport.disconnecting)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertEqual(machine.state, "closing")

    def test_aReplyThatIsNotBytesFailsInTheOutputThatSentIt(self):
        machine, adapter, transport = self.connect()
        with capturedLogs():
            adapter.dataReceived(b"a\r\nstr\r\nb\r\n")
        self.assertEqual(transport.value(), b"a\r\nError: internal error\r\n")
        self.assertEqual(machine.received, [b"a", b"str"])
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)

    def test_aFramersOwnFrameFramesEveryReply(self):
        class Quoted(LineFramer):
            def frame(self, message):
                return super().frame(b"> " + message)

        machine = Commands(Clock())
        adapter = MachineAdapter(machine, Quoted(100))
        transport = CountingTransport()
        adapter.makeConnection(transport)
        adapter.dataReceived(b"one\r\ntwo\r\n")
        self.assertEqual(transport.writes, [b"> one\r\n> two\r\n"])

    def test_startTLSWritesTheRepliesBeforeItInPlainText(self):
        machine = Blocks(Clock(), idleTimeout=None)
        machine.tlsOptions = "the options"
        adapter = MachineAdapter(machine, LineFramer())
        transport = FakeTLSTransport()
        transport.startTLS = lambda options: transport.started.append(transport.value())
        adapter.makeConnection(transport)
        adapter.dataReceived(b"hi\r\nTLS\r\n")
        self.assertEqual(transport.started, [b"plain: hi\r\nGO\r\n"])


@implementer(ITLSTransport)
class FakeTLSTransport(StringTransport):
    def __init__(self):
        super().__init__(
            peerAddress=IPv4Address("TCP", "10.0.0.7", 5555),
            hostAddress=IPv4Address("TCP", "10.0.0.1", 25),
        )
        self.started = []

    def startTLS(self, contextFactory, normal=True):
        self.started.append(contextFactory)


class StartTLSUnitTests(SynchronousTestCase):
    def connect(self):
        machine = Blocks(Clock(), idleTimeout=None)
        machine.tlsOptions = "the options"

        adapter = MachineAdapter(machine, LineFramer())
        transport = FakeTLSTransport()
        adapter.makeConnection(transport)
        return machine, adapter, transport

    def test_plaintextAfterTheCommandIsDroppedNotReadAsTLS(self):
        machine, adapter, transport = self.connect()
        with capturedLogs() as events:
            adapter.dataReceived(b"TLS\r\nMAIL FROM:<injected>\r\npart")
        self.assertEqual(transport.started, ["the options"])
        self.assertEqual(machine.received, [b"TLS"])
        self.assertEqual(transport.value(), b"GO\r\n")
        [dropped] = [e for e in events if "plain text" in e["log_format"]]
        self.assertEqual(dropped["length"], len(b"MAIL FROM:<injected>\r\npart"))
        self.assertEqual(machine.securedCount, 0)
        adapter.handshakeCompleted()
        self.assertEqual(machine.securedCount, 1)

    def test_manyInjectionsAreLoggedAtABoundedRate(self):
        clock = Clock()
        with capturedLogs() as events:
            for _ in range(DEFAULT_BURST + 5):
                machine = Blocks(clock, idleTimeout=None)
                machine.tlsOptions = "the options"
                adapter = MachineAdapter(machine, LineFramer())
                adapter.makeConnection(FakeTLSTransport())
                adapter.dataReceived(b"TLS\r\nQUIT\r\n")
        levels = [e["log_level"] for e in events if "plain text" in e["log_format"]]
        self.assertEqual(levels.count(LogLevel.warn), DEFAULT_BURST)
        self.assertEqual(levels.count(LogLevel.debug), 5)

    def test_readingGoesOnThroughTheHandshakeEvenIfRepliesPausedIt(self):
        """
        A peer that pipelined enough before STARTTLS to fill the write
        buffer paused reading; the handshake needs it back (and Twisted's
        startTLS hands the producer to a TLS layer that never saw the pause).
        """
        machine, adapter, transport = self.connect()
        transport.pauseProducing()  # what a full write buffer did
        adapter.dataReceived(b"TLS\r\n")
        self.assertEqual(transport.started, ["the options"])
        self.assertEqual(transport.producerState, "producing")

    def test_addresses(self):
        machine, adapter, transport = self.connect()
        self.assertEqual(machine.link.peer, IPv4Address("TCP", "10.0.0.7", 5555))
        self.assertEqual(machine.link.host, IPv4Address("TCP", "10.0.0.1", 25))
        self.assertFalse(machine.link.secure)
        self.assertIsNone(machine.link.peerCertificate)
        self.assertEqual(machine.link.describePeer(), "10.0.0.7:5555")

    def test_cannotStartTLSOnAStringTransport(self):
        wire = Wire(Blocks)
        with capturedLogs():
            wire.send(b"TLS")
        # The machine's error policy: an internal error closes the connection.
        self.assertTrue(wire.transport.disconnecting)
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)


class StartTLSClient(ClientMachine):
    """Asks for TLS, then sends one line; ``result`` fires with the reply."""

    def __init__(self, dialer, clock, tlsOptions, **options):
        super().__init__(dialer, clock, **options)
        self.tlsOptions = tlsOptions
        self.result = Deferred()

    header = b""  # a PROXY v1 header line to start with, if any

    def onConnected(self):
        if self.header:
            self.link.sendMessage(self.header)
        self.link.sendMessage(b"before")
        self.link.sendMessage(b"TLS")

    def onMessage(self, message):
        if message == b"GO":
            self.link.startTLS(self.tlsOptions)
        elif message.startswith(b"secure: "):
            certificate = self.link.peerCertificate
            self.result.callback((message, certificate.get_subject().commonName))
        elif not message.startswith(b"plain: "):
            self.result.errback(ValueError(message))

    def onSecured(self):
        self.link.sendMessage(b"after")


class StartTLSEndToEndTests(TestCase):
    def test_bothSidesSwitchToTLS(self):
        return self.switchToTLS(proxyHeader=False)

    @inlineCallbacks
    def test_bothSidesSwitchToTLSBehindAProxyHeader(self):
        """The PROXY reader hands the handshake to the adapter, too."""
        machine = yield self.switchToTLS(proxyHeader=True)
        self.assertEqual(machine.link.peer, IPv4Address("TCP", "10.1.2.3", 4444))

    @inlineCallbacks
    def switchToTLS(self, proxyHeader):
        here = self.mktemp()
        from pathlib import Path

        authority = Authority.create(Path(here) / "ca")
        pem = authority.issue(Path(here) / "server.pem", "localhost").read_bytes()
        serverOptions = PrivateCertificate.loadPEM(pem).options()
        machines = []

        def makeMachine():
            machine = Blocks(reactor)
            machine.tlsOptions = serverOptions
            machines.append(machine)
            return machine

        server = Server(
            reactor,
            "tcp:0:interface=127.0.0.1",
            MachineServerFactory(makeMachine),
            proxyHeader=proxyHeader,
        )
        port = (yield server.start()).getHost().port
        self.addCleanup(server.stop)
        trust = Certificate.loadPEM((authority.trustRoots / "ca.pem").read_bytes())
        client = StartTLSClient(
            EndpointDialer(clientFromString(reactor, f"tcp:127.0.0.1:{port}")),
            reactor,
            optionsForClientTLS("localhost", trustRoot=trust),
            maxAttempts=1,
        )
        if proxyHeader:
            client.header = f"PROXY TCP4 10.1.2.3 127.0.0.1 4444 {port}".encode()
        client.start()
        self.addCleanup(client.stop)
        reply, commonName = yield client.result
        self.assertEqual((reply, commonName), (b"secure: after", "localhost"))
        [machine] = machines
        self.assertEqual(machine.received, [b"before", b"TLS", b"after"])
        self.assertEqual(machine.securedCount, 1)
        self.assertTrue(machine.link.secure)
        if not proxyHeader:
            self.assertEqual(machine.link.peer.host, "127.0.0.1")
        self.assertEqual(machine.link.host.port, port)
        return machine


class Pipes:
    """A user's framer: messages end in ``|``."""

    def __init__(self, maxLength):
        self.lines = LineFramer(maxLength, delimiter=b"|")
        self.messages = self.lines.messages
        self.unconsumed = self.lines.unconsumed
        self.frame = self.lines.frame

    def errorMessage(self, reason):
        return None


class Explodes(Pipes):
    """A user's framer with a bug: it raises at the message ``boom``."""

    def __init__(self, maxLength):
        super().__init__(maxLength)
        self.messages = self.exploding

    def exploding(self, data):
        for message in self.lines.messages(data):
            if message == b"boom":
                raise KeyError("a bug")
            yield message


class UserFramingTests(SynchronousTestCase):
    def test_aFramerThatRaisesClosesThatConnectionOnly(self):
        wire = Wire(EchoMachine, framing=Explodes)
        with capturedLogs() as events:
            wire.sendBytes(b"a|boom|b|")
        self.assertEqual(wire.transport.value(), b"a|")  # what came before: kept
        self.assertTrue(wire.transport.disconnecting)
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)
        self.assertTrue(any("failed on bytes" in e["log_format"] for e in events))

    def test_wireTakesAFramerFactory(self):
        wire = Wire(EchoMachine, framing=Pipes)
        wire.sendBytes(b"a|b|c")
        self.assertEqual(wire.received(), [b"a", b"b"])
        self.assertEqual(wire.transport.value(), b"")

    def test_serverTakesAFramerFactory(self):
        factory = MachineServerFactory(lambda: EchoMachine(Clock()), framing=Pipes)
        adapter = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        transport = StringTransport()
        adapter.makeConnection(transport)
        adapter.dataReceived(b"x|y")
        self.assertEqual(transport.value(), b"x|")
        self.assertIsInstance(adapter.framer, Pipes)


class NoAttributesLateTests(SynchronousTestCase):
    """
    A connection's end sets no attribute its adapter or machine did not have
    once it was made (see "Attribute layout" in statemachines.engine.machine).
    """

    def assertNoLateAttributes(self, end):
        pair = Pair(self)  # a real TCP transport: replies go at once
        clock = pair.reactor
        factory = MachineServerFactory(lambda: EchoMachine(clock), clock=clock)
        adapter = factory.buildProtocol(IPv4Address("TCP", "10.0.0.1", 1234))
        pair.connection.protocol = adapter
        adapter.makeConnection(pair.connection)
        machine = adapter.machine
        before = set(vars(adapter)), set(getattr(machine, "__dict__", ()))
        adapter.dataReceived(b"hi\r\n")
        self.assertEqual(pair.received(), b"hi\r\n")
        with capturedLogs():
            end(adapter, clock)
            adapter.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(machine.state, "closed")
        after = set(vars(adapter)), set(getattr(machine, "__dict__", ()))
        self.assertEqual((after[0] - before[0], after[1] - before[1]), (set(), set()))

    def test_peerCloses(self):
        self.assertNoLateAttributes(lambda adapter, clock: None)

    def test_idleTimeout(self):
        self.assertNoLateAttributes(lambda adapter, clock: clock.advance(300))

    def test_peerFinishesSending(self):
        self.assertNoLateAttributes(lambda adapter, clock: adapter.readConnectionLost())

    def test_badFrame(self):
        self.assertNoLateAttributes(
            lambda adapter, clock: adapter.dataReceived(b"x" * 20000)
        )

    def test_serverStops(self):
        self.assertNoLateAttributes(lambda adapter, clock: adapter.machine.close())


def tlsTransport() -> StringTransport:
    transport = StringTransport()
    directlyProvides(transport, ISSLTransport)
    return transport


class TLSHandshakeTests(SynchronousTestCase):
    """A server's connection is made at once, handshake or not."""

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
