"""
``serve --workers N``: N processes share one listening socket; a worker
that dies is replaced; shutdown is bounded.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from protocols.workers import listeningSocket

from ..helpers import COMMAND, ROOT, TIMEOUT, serveInSubprocess, stuckConnection

# A worker's own log line: its name, then the logger's namespace and level.
LISTENING = rb"\[worker \d protocols\.server\.Server#info\] listening on"


def socketsOf(pid: int) -> int:
    fds = f"/proc/{pid}/fd"
    count = 0
    for fd in os.listdir(fds):
        try:
            count += os.readlink(f"{fds}/{fd}").startswith("socket:")
        except FileNotFoundError:  # closed meanwhile
            pass
    return count


class ListeningSocketTests(SynchronousTestCase):
    def test_plainTCPOnly(self) -> None:
        listener = listeningSocket("tcp:0:interface=127.0.0.1:backlog=10")
        self.addCleanup(listener.close)
        self.assertEqual(listener.getsockname()[0], "127.0.0.1")
        for bad in ("ssl:0:privateKey=k.pem", "unix:/tmp/x", "tcp:0:reuse=1"):
            self.assertRaises(ValueError, listeningSocket, bad)

    def test_numbersSaySo(self) -> None:
        for bad, what in [
            ("tcp:http", "the port must be a number, not 'http'"),
            ("tcp", "the port must be a number, not ''"),
            ("tcp:0:backlog=many", "the backlog must be a number, not 'many'"),
            ("tcp:\u00b2", "the port must be a number, not '\u00b2'"),
            ("tcp:65536", "the port must be from 0 to 65535, not 65536"),
            ("tcp:0:backlog=-1", "the backlog must be from 0 to 2147483647, not -1"),
            (
                "tcp:0:backlog=" + "9" * 20,
                "the backlog must be from 0 to 2147483647, not " + "9" * 20,
            ),
            # Not "listening on 0.0.0.0", as an interface given as "\" was:
            ("tcp:0:interface=\\", "the endpoint description ends in a backslash"),
            (
                "tcp:0:interface=127.0.0.1\\",
                "the endpoint description ends in a backslash",
            ),
            ("tcp:0:=1", "--workers: unsupported endpoint option ''"),
        ]:
            e = self.assertRaises(ValueError, listeningSocket, bad)
            self.assertEqual(str(e), what)

    def test_escapedColons(self) -> None:
        """
        An IPv6 interface is written with its colons escaped, as Twisted's
        endpoint descriptions have it.
        """
        try:
            with socket.socket(socket.AF_INET6) as probe:
                probe.bind(("::1", 0))
        except OSError:
            raise SkipTest("no IPv6 loopback here") from None
        listener = listeningSocket(r"tcp6:0:interface=\:\:1:backlog=5")
        self.addCleanup(listener.close)
        self.assertEqual(listener.getsockname()[0], "::1")
        second = listeningSocket(r"tcp6:0:interface=\:\:1", listener.getsockname()[1])
        self.addCleanup(second.close)
        self.assertEqual(second.getsockname()[:2], listener.getsockname()[:2])


class WorkersTests(SynchronousTestCase):
    def waitFor(self, proc: subprocess.Popen[bytes], pattern: bytes) -> re.Match[bytes]:
        """Read the server's log until a line matches ``pattern``."""
        assert proc.stderr is not None
        for line in proc.stderr:
            found = re.search(pattern, line)
            if found:
                return found
        self.fail(f"the server exited before logging {pattern!r}")

    def echo(self, port: int, data: bytes = b"x\r\n") -> socket.socket:
        peer = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        peer.sendall(data)
        self.assertEqual(peer.recv(100), data)
        return peer

    def test_spreadReplacedAndDrained(self) -> None:
        proc, port = serveInSubprocess(
            self,
            "echo",
            "--workers",
            "2",
            "--close-timeout",
            "2",
            listen="tcp:0:interface=127.0.0.1:backlog=512",
        )
        pids = {
            int(m.group(1)): int(m.group(2))
            for m in (
                self.waitFor(proc, rb"worker (\d) started \(pid (\d+)\)")
                for _ in range(2)
            )
        }
        self.assertEqual(sorted(pids), [1, 2])
        for _ in range(2):  # both have adopted their socket
            self.waitFor(proc, LISTENING)

        # Connections from several clients at once land on both workers.
        before = {pid: socketsOf(pid) for pid in pids.values()}
        held: list[socket.socket] = []
        lock = threading.Lock()

        def client() -> None:
            for _ in range(12):
                peer = self.echo(port)
                with lock:
                    held.append(peer)

        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
        self.assertEqual(len(held), 96)
        spread = {pid: socketsOf(pid) - before[pid] for pid in pids.values()}
        for served in spread.values():
            self.assertGreaterEqual(served, 10, spread)
        for peer in held:
            peer.close()

        # A killed worker is replaced, and the service answers meanwhile.
        os.kill(pids[1], signal.SIGKILL)
        for _ in range(20):
            self.echo(port).close()
        self.waitFor(proc, rb"worker 1 ended \(.*signal 9.*\).*restarting it in 1 s")
        self.waitFor(proc, rb"worker 1 started \(pid \d+\)")
        self.echo(port).close()

        # Another server cannot join this port (SO_REUSEPORT would let it).
        for listen in (f"tcp:{port}:interface=127.0.0.1", "tcp:99999"):
            second = subprocess.run(
                COMMAND + ["serve", "echo", "--workers", "2", "--listen", listen],
                capture_output=True,
                timeout=TIMEOUT,
            )
            lines = second.stderr.decode().splitlines()
            self.assertEqual((second.returncode, len(lines)), (1, 1), lines)
            self.assertIn("could not listen", lines[0])

        # SIGTERM drains every worker; an idle connection is closed, and the
        # whole service exits well within the close timeout.
        idle = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.echo(port).close()
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(TIMEOUT), 0)
        self.assertEqual(idle.recv(100), b"")
        idle.close()

    def test_secondCtrlCAborts(self) -> None:
        """
        Ctrl-C twice: the first drains, the second aborts what is left, as
        without workers (which ignore SIGINT themselves: the supervisor passes
        it on as SIGTERM).
        """
        proc, port = serveInSubprocess(
            self, "echo", "--workers", "2", "--close-timeout", "600"
        )
        for _ in range(2):
            self.waitFor(proc, LISTENING)
        stuckConnection(self, port)
        proc.send_signal(signal.SIGINT)
        self.waitFor(proc, rb"draining connections: 1")
        proc.send_signal(signal.SIGINT)
        self.waitFor(proc, rb"\[worker \d .*connections aborted: 1")
        self.assertEqual(proc.wait(TIMEOUT), 0)  # not after the close timeout


class TwistWorkersTests(SynchronousTestCase):
    def test_twistRunsTheSupervisor(self) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", "twisted", "--log-format=text", "txmachines"]
            + [
                "serve",
                "echo",
                "--workers",
                "2",
                "--listen",
                "tcp:0:interface=127.0.0.1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=ROOT,  # where twisted/plugins/ is found, as when installed
        )
        self.addCleanup(proc.wait, TIMEOUT)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        assert proc.stdout is not None
        self.addCleanup(proc.stdout.close)
        port, pids, listening = 0, [], 0
        for line in proc.stdout:
            found = re.search(rb"listening on .* port=(\d+), 2 workers", line)
            port = int(found.group(1)) if found else port
            started = re.search(rb"worker \d started \(pid (\d+)\)", line)
            if started:
                pids.append(int(started.group(1)))
            if re.search(LISTENING, line):
                listening += 1
                if listening == 2:
                    break
        self.assertEqual(len(pids), 2)
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as peer:
            peer.sendall(b"twist\r\n")
            self.assertEqual(peer.recv(100), b"twist\r\n")
        proc.send_signal(signal.SIGTERM)
        rest = proc.stdout.read()  # until twist exits
        # twist ends by re-raising the signal it stopped on: -15 is a clean stop.
        self.assertEqual(proc.wait(TIMEOUT), -signal.SIGTERM)
        self.assertIn(b"stopped; connections closed", rest)  # the workers drained
        for pid in pids:  # gone (or a zombie nobody reaped yet)
            stat = Path(f"/proc/{pid}/stat")
            self.assertTrue(not stat.exists() or stat.read_text().split()[2] == "Z")
