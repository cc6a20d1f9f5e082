"""
The total budget for unsent replies: each connection's share of it is the
size of its reads and the unsent data past which it is not read.
"""

from __future__ import annotations

import socket

from twisted.internet import reactor
from twisted.internet.abstract import FileDescriptor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.trial.unittest import SynchronousTestCase, TestCase

from protocols.budget import MAX_SHARE, MIN_SHARE, BufferBudget, socketOf
from protocols.server import MachineServerFactory, Server
from statemachines import EchoMachine

from ..helpers import TIMEOUT


class ShareTests(SynchronousTestCase):
    def test_sharesShrinkWithConnectionsWithinBounds(self) -> None:
        budget = BufferBudget(64 * 1024 * 1024)
        self.assertEqual(budget.share, MAX_SHARE)
        for _ in range(5000):
            budget.opened()
        self.assertEqual(budget.share, 64 * 1024 * 1024 // 10000)
        for _ in range(4999):
            budget.closed()
        self.assertEqual(budget.share, MAX_SHARE)
        tiny = BufferBudget(1000)
        tiny.opened()
        self.assertEqual(tiny.share, MIN_SHARE)

    def test_socketUnderWrappers(self) -> None:
        fd = FileDescriptor()

        class Wrapper:
            transport = fd

        class Outer:
            transport = Wrapper()

        self.assertIs(socketOf(Outer()), fd)
        self.assertIs(socketOf(fd), fd)
        self.assertIsNone(socketOf(object()))

    def test_offMeansTwistedsOwnLimit(self) -> None:
        factory = MachineServerFactory(lambda: EchoMachine(reactor), maxBuffered=0)
        self.assertIsNone(factory.budget)
        self.assertRaises(
            ValueError,
            MachineServerFactory,
            lambda: EchoMachine(reactor),
            maxBuffered=-1,
        )


class LoopbackTests(TestCase):
    @inlineCallbacks
    def test_eachConnectionReadsItsShare(self):  # type: ignore[no-untyped-def]
        adapters = []
        factory = MachineServerFactory(
            lambda: EchoMachine(reactor), maxBuffered=64 * 1024
        )
        build = factory.buildProtocol

        def recording(addr):  # type: ignore[no-untyped-def]
            adapter = build(addr)
            adapters.append(adapter)
            return adapter

        factory.buildProtocol = recording  # type: ignore[method-assign]
        server = Server(reactor, "tcp:0:interface=127.0.0.1", factory)
        port = (yield server.start()).getHost().port
        self.addCleanup(server.stop)
        peers = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
        for peer in peers:
            self.addCleanup(peer.close)
            peer.setblocking(False)

        def echoed(peer: socket.socket) -> bool:
            try:
                return peer.recv(100) == b"hi\r\n"
            except BlockingIOError:
                return False

        for peer in peers:
            peer.sendall(b"hi\r\n")
        pending = list(peers)
        for _ in range(int(TIMEOUT / 0.01)):
            pending = [p for p in pending if not echoed(p)]
            if not pending:
                break
            yield deferLater(reactor, 0.01, lambda: None)
        self.assertEqual(pending, [])
        self.assertEqual(
            [a.transport.bufferSize for a in adapters], [64 * 1024 // 8] * 4
        )
        # Fewer connections, bigger shares, from the next read on:
        for peer in peers[1:]:
            peer.close()
        for _ in range(int(TIMEOUT / 0.01)):
            if factory.budget.connections == 1:
                break
            yield deferLater(reactor, 0.01, lambda: None)
        peers[0].sendall(b"hi\r\n")
        for _ in range(int(TIMEOUT / 0.01)):
            if echoed(peers[0]):
                break
            yield deferLater(reactor, 0.01, lambda: None)
        self.assertEqual(adapters[0].transport.bufferSize, 32 * 1024)
