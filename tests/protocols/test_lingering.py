"""
`protocols.lingering`: a server that closes on a peer still sending keeps
reading (and discarding) for a bounded time, so the replies it wrote reach
the peer instead of being destroyed by the RST a close with unread data
makes.
"""

from __future__ import annotations

import select
import socket

from twisted.trial.unittest import SynchronousTestCase

from ..helpers import TIMEOUT, serveInSubprocess

MiB = 1 << 20


def floodThenRead(case: SynchronousTestCase, port: int, flood: bytes) -> bytes:
    """
    Connect to ``port`` with a small receive buffer, send all of ``flood``
    without reading (as far as the server lets it), then read until the
    server's EOF; what was read.  A reset raises `ConnectionResetError`.

    The replies to what ``flood`` asks for are more than that buffer holds:
    the rest waits in the server's kernel, which discards it when it closes
    with unread data (and sends RST), unless it lingers.
    """
    with socket.socket() as peer:
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        peer.settimeout(TIMEOUT)
        peer.connect(("127.0.0.1", port))
        peer.setblocking(False)
        data = memoryview(flood)
        sent = 0
        while sent < len(data):
            try:
                sent += peer.send(data[sent:])
            except BlockingIOError:
                # Room comes when the server reads; none in TIMEOUT: it stopped.
                if not select.select([], [peer], [], TIMEOUT)[1]:
                    case.fail(f"the server stopped reading after {sent} bytes")
            except (BrokenPipeError, ConnectionResetError):
                break  # it closed on us; what it wrote may still be readable
        peer.settimeout(TIMEOUT)
        received = b""
        while chunk := peer.recv(65536):
            received += chunk
        return received


class FloodingPeerTests(SynchronousTestCase):
    """On real loopback TCP, against ``txmachines serve``."""

    def test_overLongLineThenFlood(self) -> None:
        """
        Echo with a small ``--max-frame``: 32 KiB of lines echoed, then one
        too long; the server answers with an error line and closes while the
        peer is still sending a MiB; the peer, reading late, reads every
        echo and the error line, then EOF.
        """
        proc, port = serveInSubprocess(self, "echo", "--max-frame", "512")
        lines = b"".join(b"%07d\r\n" % i for i in range(4096))  # 36 KiB
        flood = lines + b"x" * 1024 + (b"y" * 1022 + b"\r\n") * 1024
        received = floodThenRead(self, port, flood)
        self.assertEqual(received, lines + b"Error: line longer than 512 bytes\r\n")

    def test_quitThenMoreCommands(self) -> None:
        """
        SMTP: 3,000 pipelined NOOPs, QUIT, and a MiB more; the peer reads
        the banner, every 250, the 221, then EOF.
        """
        maildir = self.mktemp()
        proc, port = serveInSubprocess(self, "smtp", "--maildir", maildir)
        count = 3000
        flood = b"NOOP\r\n" * count + b"QUIT\r\n" + b"NOOP\r\n" * (MiB // 6)
        received = floodThenRead(self, port, flood)
        lines = received.split(b"\r\n")
        self.assertEqual(len(lines), count + 3, received[-200:])
        self.assertTrue(lines[0].startswith(b"220 "), lines[0])
        self.assertEqual({line[:4] for line in lines[1:-2]}, {b"250 "})
        self.assertTrue(lines[-2].startswith(b"221 "), lines[-2])
        self.assertEqual(lines[-1], b"")
