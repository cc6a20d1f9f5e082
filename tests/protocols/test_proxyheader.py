"""
Behind a balancer: the PROXY header is read before the connection is
admitted, so limits, logs and ``link.peer`` see the client; and a real
HAProxy in front of two servers.
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import ConnectionAborted, ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, capturedLogs
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from protocols.adapter import MachineAdapter
from protocols.proxyheader import (
    V2_MAX_LENGTH,
    V2_SIGNATURE,
    BadProxyHeader,
    ProxiedAddresses,
    ProxyHeader,
    ProxyHeaderFactory,
)
from protocols.server import MachineServerFactory
from statemachines import EchoMachine
from statemachines.eventrate import DEFAULT_BURST, EventRate

from ..helpers import TIMEOUT, serveInSubprocess

BALANCER = IPv4Address("TCP", "127.0.0.1", 50000)


def v1(source: str, port: int = 40000) -> bytes:
    return f"PROXY TCP4 {source} 127.0.0.1 {port} 1234\r\n".encode()


def v2(source: str, port: int = 40000, command: int = 0x21) -> bytes:
    addresses = socket.inet_aton(source) + socket.inet_aton("127.0.0.1")
    body = addresses + struct.pack("!HH", port, 1234)
    return (
        b"\r\n\r\n\x00\r\nQUIT\n"
        + bytes([command, 0x11])
        + struct.pack("!H", len(body))
        + body
    )


class ParserTests(SynchronousTestCase):
    def feedBytewise(self, data: bytes) -> tuple[ProxiedAddresses, bytes]:
        header = ProxyHeader()
        for i in range(len(data)):
            found = header.feed(data[i : i + 1])
            if found is not None:
                addresses, rest = found
                return addresses, rest + data[i + 1 :]
        self.fail("no header found")

    def test_versionsOneAndTwoUnderAnySplit(self) -> None:
        client = IPv4Address("TCP", "10.1.2.3", 40000)
        for header in (v1("10.1.2.3"), v2("10.1.2.3")):
            addresses, rest = self.feedBytewise(header + b"hello")
            self.assertEqual(addresses.source, client)
            self.assertEqual(
                addresses.destination, IPv4Address("TCP", "127.0.0.1", 1234)
            )
            self.assertEqual(rest, b"hello")

    def test_ipv6AndLocalAndUnknown(self) -> None:
        found = ProxyHeader().feed(b"PROXY TCP6 ::1 ::2 1 2\r\n")
        assert found is not None
        self.assertEqual(found[0].source, IPv6Address("TCP", "::1", 1))
        for header in (b"PROXY UNKNOWN\r\n", v2("10.0.0.1", command=0x20)):
            found = ProxyHeader().feed(header)
            assert found is not None
            self.assertEqual(found[0], ProxiedAddresses(None, None))

    def test_notAHeader(self) -> None:
        for bad in (
            b"GET / HTTP/1.1\r\n",
            b"hello",
            b"PROXY TCP4 nonsense\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n",
            b"PROXY " + b"x" * 200,
            b"\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x00",
            b"PROXY TCP4 1.2.3.4 ::1 1 2\r\n",
            b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
            b"PROXY TCP4 " + b"1" * 100 + b"\r\n",
        ):
            with self.assertRaises(BadProxyHeader, msg=bad):
                header = ProxyHeader()
                for i in range(len(bad)):
                    header.feed(bad[i : i + 1])


class AdmissionTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.factory = MachineServerFactory(
            lambda: EchoMachine(self.clock),
            maxPerPeer=1,
            clock=self.clock,
        )
        self.wrapper = ProxyHeaderFactory(self.factory)

    def connect(self, *chunks: bytes) -> StringTransport:
        adapter = self.wrapper.buildProtocol(BALANCER)
        transport = StringTransport(peerAddress=BALANCER)
        adapter.makeConnection(transport)
        for chunk in chunks:
            adapter.dataReceived(chunk)
        return transport

    def test_limitsAndPeerSeeTheClient(self) -> None:
        first = self.connect(v2("10.0.0.2"), b"hi\r\n")
        self.assertEqual(first.value(), b"hi\r\n")
        [machine] = self.factory.machines
        self.assertEqual(machine.link.peer, IPv4Address("TCP", "10.0.0.2", 40000))
        self.assertEqual(machine.link.describePeer(), "10.0.0.2:40000")
        with capturedLogs() as events:
            second = self.connect(v1("10.0.0.2") + b"hi\r\n")
        self.assertEqual(
            second.value(), b"Error: too many connections from your address\r\n"
        )
        self.assertIn("10.0.0.2", [e.get("peer") for e in events])
        third = self.connect(v1("10.0.0.3"), b"ho\r\n")
        self.assertEqual(third.value(), b"ho\r\n")
        self.assertEqual(self.factory.perPeer, {"10.0.0.2": 1, "10.0.0.3": 1})

    def test_afterTheHeaderEventsGoStraightToTheAdapter(self) -> None:
        """No forwarding per read: the reader's events are the adapter's."""
        reader = self.wrapper.buildProtocol(BALANCER)
        assert reader is not None
        reader.makeConnection(StringTransport(peerAddress=BALANCER))
        reader.dataReceived(v1("10.0.0.9"))
        adapter = reader.adapter
        self.assertIsInstance(adapter, MachineAdapter)
        for event in ("dataReceived", "readConnectionLost", "connectionLost"):
            self.assertEqual(getattr(reader, event), getattr(adapter, event))
        reader.dataReceived(b"one\r\n")
        self.assertEqual(adapter.transport.value(), b"one\r\n")
        self.assertEqual(adapter.describePeer(), "10.0.0.9:40000")

    def test_closedBeforeTheHeaderIsOneLine(self) -> None:
        adapter = self.wrapper.buildProtocol(BALANCER)
        transport = StringTransport(peerAddress=BALANCER)
        adapter.makeConnection(transport)
        adapter.dataReceived(b"PROXY TCP4 1.2")
        with capturedLogs() as events:
            adapter.readConnectionLost()  # a port scan, a broken balancer
        self.assertEqual(len(events), 1)
        self.assertIn("no valid PROXY header", events[0]["log_format"])
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_aHealthCheckIsNoNews(self) -> None:
        """A connection closed before sending a byte: debug, and a clean close."""
        adapter = self.wrapper.buildProtocol(BALANCER)
        transport = StringTransport(peerAddress=BALANCER)
        adapter.makeConnection(transport)
        with capturedLogs() as events:
            adapter.readConnectionLost()
        self.assertEqual([e["log_level"] for e in events], [LogLevel.debug])
        self.assertTrue(transport.disconnecting)
        self.assertEqual(self.factory.pending, set())
        self.assertEqual(self.clock.getDelayedCalls(), [])  # no header deadline left

    def test_noHeaderIsAborted(self) -> None:
        with capturedLogs():
            garbage = self.connect(b"EHLO me\r\n")
            silent = self.connect()
            self.clock.advance(self.factory.closeTimeout)
        self.assertTrue(garbage.disconnected)
        self.assertTrue(silent.disconnected)
        self.assertEqual(self.factory.machines, {})

    def test_connectionsAwaitingTheirHeaderCountTowardMaxConnections(self) -> None:
        factory = MachineServerFactory(
            lambda: EchoMachine(self.clock),
            maxConnections=2,
            clock=self.clock,
        )
        wrapper = ProxyHeaderFactory(factory)

        def connect(*chunks: bytes) -> StringTransport | None:
            adapter = wrapper.buildProtocol(BALANCER)
            if adapter is None:
                return None  # Twisted closes the socket at once
            transport = StringTransport(peerAddress=BALANCER)
            adapter.makeConnection(transport)
            for chunk in chunks:
                adapter.dataReceived(chunk)
            return transport

        with capturedLogs() as events:
            waiting = connect(b"PROXY ")
            admitted = connect(v1("10.0.0.2"), b"hi\r\n")
            self.assertIsNone(connect())  # two open, one of them headless
        self.assertIn("too many connections", events[-1]["log_format"])
        assert admitted is not None and waiting is not None
        self.assertEqual(admitted.value(), b"hi\r\n")
        with capturedLogs():
            self.clock.advance(factory.closeTimeout)  # no header in time
        self.assertTrue(waiting.disconnected)
        third = connect(v1("10.0.0.3"), b"ho\r\n")
        assert third is not None
        self.assertEqual(third.value(), b"ho\r\n")
        self.assertEqual(factory.pending, set())

    def test_stoppingAbortsConnectionsAwaitingTheirHeader(self) -> None:
        adapter = self.wrapper.buildProtocol(BALANCER)
        transport = StringTransport(peerAddress=BALANCER)
        adapter.makeConnection(transport)
        adapter.dataReceived(b"PROXY TCP4 3.3.3.3 ")
        client = self.connect(v1("10.0.0.2"), b"hi\r\n")
        closing = self.factory.closeAll()
        self.assertTrue(transport.disconnected)  # aborted: nobody to tell yet
        self.assertTrue(client.disconnecting)  # closed, as any connection
        self.assertEqual(self.factory.pending, set())
        adapter.connectionLost(Failure(ConnectionAborted()))
        [machine] = self.factory.connections()  # the other was never admitted
        self.assertEqual(self.factory.machines[machine], "10.0.0.2")
        machine.connectionLost(Failure(ConnectionDone()))
        self.successResultOf(closing)

    def test_aShortVersion2HeaderSaysSo(self) -> None:
        """Not an unsupported family: one it supports, with too few bytes."""
        for family, length, message in (
            (0x11, 8, "8 bytes, TCP over IPv4 needs 12"),
            (0x21, 12, "12 bytes, TCP over IPv6 needs 36"),
        ):
            header = V2_SIGNATURE + struct.pack("!BBH", 0x21, family, length)
            with self.assertRaises(BadProxyHeader) as caught:
                ProxyHeader().feed(header + b"\0" * length)
            self.assertEqual(
                str(caught.exception),
                f"PROXY v2 header too short for its address family: {message}",
            )
        with self.assertRaises(BadProxyHeader) as caught:
            ProxyHeader().feed(
                V2_SIGNATURE + struct.pack("!BBH", 0x21, 0x12, 12) + b"\0" * 12
            )
        self.assertIn("unsupported PROXY v2 address family 0x12", str(caught.exception))

    def test_version2TLVsMustEndWithinTheHeader(self) -> None:
        def withTLVs(tlvs: bytes) -> bytes:
            header = v2("10.1.2.3")
            length = struct.unpack("!H", header[14:16])[0] + len(tlvs)
            return header[:14] + struct.pack("!H", length) + header[16:] + tlvs

        alpn = b"\x01" + struct.pack("!H", 2) + b"h2"
        noop = b"\x04" + struct.pack("!H", 0)
        found = ProxyHeader().feed(withTLVs(alpn + noop) + b"hello")
        assert found is not None
        self.assertEqual(found[1], b"hello")
        self.assertEqual(found[0].source, IPv4Address("TCP", "10.1.2.3", 40000))
        for bad, message in (
            (b"\x01" + struct.pack("!H", 5) + b"h2", "TLV of 5 bytes runs past"),
            (alpn + b"\x04\x00", "TLV cut short"),
            (b"\x04", "TLV cut short"),
        ):
            with self.assertRaises(BadProxyHeader, msg=bad) as caught:
                ProxyHeader().feed(withTLVs(bad) + b"hello")
            self.assertIn(message, str(caught.exception))

    def test_aLongVersion2HeaderIsRefused(self) -> None:
        header = V2_SIGNATURE + struct.pack("!BBH", 0x21, 0x11, V2_MAX_LENGTH + 1)
        with self.assertRaises(BadProxyHeader) as caught:
            ProxyHeader().feed(header)
        self.assertIn("at most 4096 taken", str(caught.exception))

    def test_aFloodOfBadHeadersIsLoggedAtABoundedRate(self) -> None:
        with capturedLogs() as events:
            for _ in range(DEFAULT_BURST + 30):
                self.assertTrue(self.connect(b"GET / HTTP/1.0\r\n").disconnected)
            EventRate.of(self.clock).flush()
        levels = [e["log_level"] for e in events if "PROXY" in e["log_format"]]
        self.assertEqual(levels.count(LogLevel.info), DEFAULT_BURST)
        self.assertEqual(levels.count(LogLevel.debug), 30)
        [summary] = [e for e in events if e.get("count") == 30]
        self.assertIn("no valid PROXY header", summary["like"])


HAPROXY_CONFIG = """
global
    maxconn 1000
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend front
    bind 127.0.0.1:{port}
    default_backend txmachines
backend txmachines
    balance source
    server one 127.0.0.1:{one} send-proxy-v2
    server two 127.0.0.1:{two} send-proxy-v2
"""


class HAProxyTests(SynchronousTestCase):
    """A real HAProxy, ``send-proxy-v2``, in front of two txmachines servers."""

    def freePort(self) -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    def startHAProxy(self, one: int, two: int) -> int:
        haproxy = shutil.which("haproxy") or shutil.which("/usr/sbin/haproxy")
        if haproxy is None:
            raise SkipTest("haproxy is not installed (apt-get install haproxy)")
        port = self.freePort()
        config = Path(self.mktemp())
        config.write_text(HAPROXY_CONFIG.format(port=port, one=one, two=two))
        proc = subprocess.Popen(
            [haproxy, "-f", str(config), "-db"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.addCleanup(proc.wait, TIMEOUT)
        self.addCleanup(proc.kill)
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return port
            except OSError:
                time.sleep(0.05)
        self.fail("haproxy did not start listening")

    def client(self, port: int, source: str) -> socket.socket:
        peer = socket.socket()
        self.addCleanup(peer.close)
        peer.settimeout(TIMEOUT)
        peer.bind((source, 0))
        peer.connect(("127.0.0.1", port))
        return peer

    def echo(self, peer: socket.socket, data: bytes) -> bytes:
        peer.sendall(data)
        got = b""
        while len(got) < len(data):
            chunk = peer.recv(65536)
            if not chunk:
                break
            got += chunk
        return got

    def test_perPeerLimitSeesEachClientThroughTheBalancer(self) -> None:
        listen = "haproxy:tcp:0:interface=127.0.0.1"
        servers = [
            serveInSubprocess(self, "echo", "--max-per-peer", "2", listen=listen)
            for _ in range(2)
        ]
        port = self.startHAProxy(servers[0][1], servers[1][1])
        payload = b"".join(
            b"line %d \xff\x00 through haproxy\r\n" % i for i in range(500)
        )
        # Two clients, each from its own address, two connections each: all
        # admitted although every connection reaches the servers from
        # HAProxy's one address, and the echo is byte-exact.
        peers = {
            source: [self.client(port, source) for _ in range(2)]
            for source in ("127.0.0.2", "127.0.0.3")
        }
        for connections in peers.values():
            for peer in connections:
                self.assertEqual(self.echo(peer, payload), payload)
        # A third connection from 127.0.0.2 is over its limit; 127.0.0.3's
        # connections go on.
        third = self.client(port, "127.0.0.2")
        third.sendall(b"one too many\r\n")
        self.assertEqual(
            third.makefile("rb").readline(),
            b"Error: too many connections from your address\r\n",
        )
        self.assertEqual(
            self.echo(peers["127.0.0.3"][0], b"still here\r\n"), b"still here\r\n"
        )
        # And the servers' logs name the client, not the balancer:
        logs = b""
        for proc, _ in servers:
            proc.terminate()
            assert proc.stderr is not None
            logs += proc.stderr.read()
            proc.wait(TIMEOUT)
        self.assertIn(b"refused a connection from 127.0.0.2", logs)
