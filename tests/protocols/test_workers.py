"""
``serve --workers N``: N processes share one listening socket; a worker
that dies is replaced, and so is one that freezes (the heartbeat's timing
with a `Clock`, then with real processes); shutdown is bounded.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from twisted.internet.error import ProcessExitedAlready, ProcessTerminated
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import LogLevel, capturedLogs
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from protocols.workers import (
    ABORT_GRACE,
    HEARTBEAT_FD,
    WORKER_FD,
    Heartbeat,
    Supervisor,
    listeningSocket,
)

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


class FakeProcess:
    """A spawned worker, as `ProcessReactor` makes it: signals recorded."""

    def __init__(self, protocol: ProcessProtocol, pid: int, argv: list[str], fds: Any):
        self.protocol, self.pid, self.argv, self.childFDs = protocol, pid, argv, fds
        self.signals: list[str | int] = []
        self.over = False

    def signalProcess(self, signalID: str | int) -> None:
        if self.over:
            raise ProcessExitedAlready()
        self.signals.append(signalID)

    def beat(self) -> None:
        """A heartbeat arrives from it."""
        self.protocol.childDataReceived(HEARTBEAT_FD, b".")

    def end(self, signal: int = 9) -> None:
        self.over = True
        self.protocol.processEnded(Failure(ProcessTerminated(signal=signal)))


class ProcessReactor(MemoryReactorClock):
    """A `MemoryReactorClock` that spawns `FakeProcess` workers."""

    def __init__(self) -> None:
        super().__init__()
        self.spawned: list[FakeProcess] = []

    def spawnProcess(
        self,
        processProtocol: ProcessProtocol,
        executable: str,
        args: list[str],
        env: Any = None,
        path: Any = None,
        uid: Any = None,
        gid: Any = None,
        usePTY: bool = False,
        childFDs: Any = None,
    ) -> FakeProcess:
        process = FakeProcess(processProtocol, 1000 + len(self.spawned), args, childFDs)
        processProtocol.makeConnection(process)  # type: ignore[arg-type]
        self.spawned.append(process)
        return process


STEP = 1 / 32  # seconds: exact in binary, so no drift across many steps


class WatchdogTests(SynchronousTestCase):
    """
    The supervisor's side of the heartbeat, timed with a `Clock`: a worker
    silent for ``--worker-timeout`` (3 s here) is killed (SIGKILL) at most a
    third later, with a warning, and replaced; one that beats never is.
    """

    def supervisor(
        self, timeout: float | None = 3.0, count: int = 2
    ) -> tuple[Supervisor, ProcessReactor]:
        reactor = ProcessReactor()
        supervisor = Supervisor(
            reactor, "tcp:0:interface=127.0.0.1", count, ["-c", "worker"], timeout
        )
        for listener in supervisor.listeners:
            self.addCleanup(listener.close)
        supervisor.start()
        return supervisor, reactor

    def beatFor(
        self, reactor: ProcessReactor, seconds: float, *workers: FakeProcess
    ) -> None:
        """``workers`` beat every 0.75 s (as theirs do, at 3 s) for ``seconds``."""
        for _ in range(round(seconds / 0.75)):
            reactor.advance(0.75)
            for worker in workers:
                worker.beat()

    def untilKilled(
        self, reactor: ProcessReactor, worker: FakeProcess, most: float
    ) -> float:
        """Advance in small steps until ``worker`` is SIGKILLed: how long it took."""
        began = reactor.seconds()
        while "KILL" not in worker.signals:
            reactor.advance(STEP)
            if reactor.seconds() - began > most:
                self.fail(f"not killed within {most} s")
        return reactor.seconds() - began

    def passes(self, reactor: ProcessReactor, seconds: float) -> None:
        """
        ``seconds`` go by, in small steps (`Clock.advance` at once would be
        a paused supervisor, which looks only once).
        """
        for _ in range(round(seconds / STEP)):
            reactor.advance(STEP)

    def test_aSecondSignalEndsEvenAWorkerThatCannotActOnIt(self) -> None:
        """
        With no heartbeat (``--worker-timeout 0``) a stopped worker goes
        unnoticed; still, the second signal ends it, ``ABORT_GRACE`` later.
        """
        supervisor, reactor = self.supervisor(timeout=None)
        frozen, healthy = reactor.spawned
        with capturedLogs():
            supervisor.drain()
            supervisor.abort()
            healthy.end(signal=15)  # it aborted and exited; the other cannot
        self.assertEqual(frozen.signals, [signal.SIGTERM, signal.SIGTERM])
        reactor.advance(ABORT_GRACE - STEP)
        self.assertNotIn("KILL", frozen.signals)
        with capturedLogs() as events:
            reactor.advance(STEP)
        self.assertEqual(frozen.signals[-1], "KILL")
        [warning] = [e for e in events if e["log_level"] == LogLevel.warn]
        self.assertEqual((warning["index"], warning["pid"]), (1, frozen.pid))
        frozen.end()
        self.assertIsNone(self.successResultOf(supervisor.done))
        self.assertEqual(len(reactor.spawned), 2)  # stopping: none replaced

    def test_aSecondSignalKillsNothingOnceAllHaveExited(self) -> None:
        supervisor, reactor = self.supervisor(timeout=None)
        with capturedLogs():
            supervisor.drain()
            supervisor.abort()
            for worker in reactor.spawned:
                worker.end(signal=15)
        self.assertEqual(reactor.getDelayedCalls(), [])  # nothing left to kill
        reactor.advance(ABORT_GRACE * 2)
        for worker in reactor.spawned:
            self.assertNotIn("KILL", worker.signals)

    def test_theWorkersAreToldToBeat(self) -> None:
        """Each worker is given a heartbeat pipe, and four beats per timeout."""
        supervisor, reactor = self.supervisor(3.0)
        for worker in reactor.spawned:
            self.assertEqual(worker.argv[-2:], ["--worker-heartbeat", "0.75"])
            self.assertEqual(worker.childFDs[HEARTBEAT_FD], "r")
        self.assertEqual(len(reactor.getDelayedCalls()), 1)  # the watchdog

    def test_offMeansNoHeartbeat(self) -> None:
        """``--worker-timeout 0``: no pipe, no beats asked, nothing watched."""
        for off in (None, 0):
            supervisor, reactor = self.supervisor(off)
            for worker in reactor.spawned:
                self.assertNotIn("--worker-heartbeat", worker.argv)
                self.assertNotIn(HEARTBEAT_FD, worker.childFDs)
            self.assertEqual(reactor.getDelayedCalls(), [])
            reactor.advance(3600)
            self.assertEqual([w.signals for w in reactor.spawned], [[], []])

    def test_beatingWorkersLive(self) -> None:
        supervisor, reactor = self.supervisor()
        self.beatFor(reactor, 600, *reactor.spawned)
        self.assertEqual([w.signals for w in reactor.spawned], [[], []])
        self.assertEqual(len(reactor.spawned), 2)

    def test_aSilentWorkerIsKilledAndReplaced(self) -> None:
        supervisor, reactor = self.supervisor()
        first, second = reactor.spawned
        self.beatFor(reactor, 30, first, second)
        with capturedLogs() as events:
            # first falls silent (its last beat just now); second beats on.
            began = reactor.seconds()
            while "KILL" not in first.signals:
                reactor.advance(STEP)
                if (reactor.seconds() - began) % 0.75 == 0:
                    second.beat()
                self.assertLess(reactor.seconds() - began, 5)
        took = reactor.seconds() - began
        # The timeout at least; a third more at most.
        self.assertTrue(3.0 <= took <= 4.0, took)
        self.assertEqual(second.signals, [])
        warnings = [e for e in events if e["log_level"] == LogLevel.warn]
        self.assertEqual(len(warnings), 1, events)
        self.assertEqual(
            warnings[0]["log_format"],
            "worker {index} (pid {pid}) {why}; killing it (SIGKILL)",
        )
        self.assertEqual((warnings[0]["index"], warnings[0]["pid"]), (1, first.pid))
        self.assertRegex(
            warnings[0]["why"],
            r"^is frozen: no heartbeat for [34]\.\d s \(--worker-timeout 3\)$",
        )
        # Killed once, however long SIGKILL takes to land.
        reactor.advance(10)
        self.assertEqual(first.signals, ["KILL"])
        # It ends; the usual path replaces it, on the same socket, at once:
        # its silence counts toward the back-off (1 s here).
        with capturedLogs() as events:
            first.end(signal=9)
        (ended,) = [e for e in events if e["log_level"] == LogLevel.warn]
        self.assertEqual((ended["index"], ended["delay"]), (1, 0))
        reactor.advance(0)
        self.assertEqual(len(reactor.spawned), 3)
        replacement = reactor.spawned[2]
        self.assertEqual(
            replacement.childFDs[WORKER_FD], supervisor.listeners[0].fileno()
        )
        self.assertIn("--worker-index", replacement.argv)
        self.assertEqual(
            replacement.argv[replacement.argv.index("--worker-index") + 1], "1"
        )

    def test_aWorkerThatKeepsFreezingIsBackedOff(self) -> None:
        """
        Each kill comes a timeout (to a third more) after its beat; the
        restart waits the back-off (1 s doubling to 30) less that silence.
        """
        supervisor, reactor = self.supervisor(count=1)
        delays = []
        for _ in range(7):
            worker = reactor.spawned[-1]
            worker.beat()
            self.untilKilled(reactor, worker, 5)
            with capturedLogs() as events:
                worker.end()
            (restarting,) = [e for e in events if "delay" in e]
            delays.append(restarting["delay"])
            self.passes(reactor, restarting["delay"] + STEP)
            self.assertIsNot(reactor.spawned[-1], worker)  # replaced
        self.assertEqual(delays[:2], [0, 0])  # 1 s and 2 s, less 3 to 4 s
        for delay, (least, most) in zip(
            delays[2:], [(0, 1), (4, 5), (12, 13), (26, 27), (26, 27)], strict=True
        ):
            self.assertTrue(least <= delay <= most, delays)

    def test_aNewWorkerHasThirtySecondsForItsFirstBeat(self) -> None:
        """Starting Python under load may take more than a short timeout."""
        supervisor, reactor = self.supervisor()
        first, second = reactor.spawned
        second.beat()
        with capturedLogs() as events:
            self.passes(reactor, 29)
            self.assertEqual(first.signals, [])
            self.assertEqual(second.signals, ["KILL"])  # it began, then fell silent
            self.passes(reactor, 1)
            self.assertEqual(first.signals, ["KILL"])
        self.assertEqual(
            [e["why"] for e in events if "why" in e][-1],
            "is stuck starting: no heartbeat in the 30.0 s since",
        )

    def test_aLongTimeoutIsTheFirstBeatsAllowanceToo(self) -> None:
        supervisor, reactor = self.supervisor(60.0)
        first, second = reactor.spawned
        self.passes(reactor, 59)
        self.assertEqual(first.signals, [])
        self.passes(reactor, 1)
        self.assertEqual(first.signals, ["KILL"])

    def test_aPausedSupervisorBlamesNoWorker(self) -> None:
        """
        The supervisor stopped (or the clock set forward) for longer than
        the timeout: its late look counts once, and the beats that waited in
        the pipes are read before the next.
        """
        supervisor, reactor = self.supervisor()
        self.beatFor(reactor, 30, *reactor.spawned)
        reactor.advance(3600)  # timers first, as a reactor runs them
        for worker in reactor.spawned:
            worker.beat()
        self.beatFor(reactor, 30, *reactor.spawned)
        self.assertEqual([w.signals for w in reactor.spawned], [[], []])

    def test_frozenWhileDrainingIsKilledNotReplaced(self) -> None:
        supervisor, reactor = self.supervisor()
        first, second = reactor.spawned
        self.beatFor(reactor, 3, first, second)
        supervisor.stop()
        self.assertEqual([first.signals, second.signals], [[15], [15]])
        second.end(signal=15)
        took = self.untilKilled(reactor, first, 5)
        self.assertEqual(first.signals, [signal.SIGTERM, "KILL"])
        self.assertTrue(3.0 <= took <= 4.0, took)
        self.assertNoResult(supervisor.done)
        first.end()
        self.successResultOf(supervisor.done)
        self.assertEqual(reactor.getDelayedCalls(), [])  # no look, no restart
        self.assertEqual(len(reactor.spawned), 2)


class HeartbeatTests(SynchronousTestCase):
    """The worker's side: a byte per interval, from its reactor's timer."""

    def pipe(self) -> tuple[int, int]:
        readEnd, writeEnd = os.pipe()
        self.addCleanup(os.close, readEnd)
        self.addCleanup(lambda: _closeQuietly(writeEnd))
        os.set_blocking(readEnd, False)
        return readEnd, writeEnd

    def test_beatsEveryInterval(self) -> None:
        readEnd, writeEnd = self.pipe()
        clock = Clock()
        heartbeat = Heartbeat(clock, writeEnd, 0.75)
        heartbeat.start()
        self.assertEqual(os.read(readEnd, 100), b".")  # at once
        clock.advance(0.7)
        self.assertRaises(BlockingIOError, os.read, readEnd, 100)
        clock.advance(0.05)
        self.assertEqual(os.read(readEnd, 100), b".")
        clock.pump([0.75] * 4)
        self.assertEqual(os.read(readEnd, 100), b"....")
        heartbeat.stop()
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_aFullPipeSkipsBeats(self) -> None:
        """A supervisor that does not read never blocks the worker."""
        readEnd, writeEnd = self.pipe()
        os.set_blocking(writeEnd, False)
        while True:
            try:
                os.write(writeEnd, b"x" * 65536)
            except BlockingIOError:
                break
        clock = Clock()
        heartbeat = Heartbeat(clock, writeEnd, 1.0)
        heartbeat.start()
        clock.advance(1)
        self.assertEqual(len(clock.getDelayedCalls()), 1)  # beating on

    def test_noSupervisorNoBeats(self) -> None:
        readEnd, writeEnd = os.pipe()
        self.addCleanup(os.close, writeEnd)
        os.close(readEnd)
        clock = Clock()
        heartbeat = Heartbeat(clock, writeEnd, 1.0)
        with capturedLogs() as events:
            heartbeat.start()  # EPIPE, not SIGPIPE: Python ignores it
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertEqual(
            [e["log_format"] for e in events],
            ["heartbeat pipe closed ({why}); no more heartbeats"],
        )


def _killQuietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:  # killed by its supervisor, as it should be
        pass


def _closeQuietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


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

    def test_aFrozenWorkersQueueIsServedByItsReplacement(self) -> None:
        """
        ``--worker-timeout 3``, and one of two workers stopped (SIGSTOP):
        the kernel still queues about half of the new connections on its
        socket.  The supervisor, hearing no heartbeat, kills it with a
        warning naming it, and its replacement, adopting the same socket,
        answers them: all 20 within 12 s.
        """
        proc, port = serveInSubprocess(
            self, "echo", "--workers", "2", "--worker-timeout", "3"
        )
        pids = {
            int(m.group(1)): int(m.group(2))
            for m in (
                self.waitFor(proc, rb"worker (\d) started \(pid (\d+)\)")
                for _ in range(2)
            )
        }
        for _ in range(2):
            self.waitFor(proc, LISTENING)
        frozen = pids[1]
        os.kill(frozen, signal.SIGSTOP)
        self.addCleanup(_killQuietly, frozen)  # if the supervisor did not
        stopped = time.monotonic()

        selector = selectors.DefaultSelector()
        self.addCleanup(selector.close)
        for n in range(20):
            peer = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            self.addCleanup(peer.close)
            peer.sendall(b"%d\r\n" % n)
            peer.setblocking(False)
            selector.register(peer, selectors.EVENT_READ, n)
        answered: dict[int, float] = {}
        deadline = stopped + 12
        while len(answered) < 20 and time.monotonic() < deadline:
            for key, _ in selector.select(deadline - time.monotonic()):
                peer = key.fileobj
                assert isinstance(peer, socket.socket)
                self.assertEqual(peer.recv(100), b"%d\r\n" % key.data)
                answered[key.data] = time.monotonic() - stopped
                selector.unregister(peer)
        if len(answered) < 20:  # what the service said meanwhile
            assert proc.stderr is not None
            os.set_blocking(proc.stderr.fileno(), False)  # workers hold it open
            log = (proc.stderr.read() or b"").decode(errors="replace")
            self.fail(f"answered in 12 s: {sorted(answered)}; the log:\n{log}")
        # Some of them did wait for the replacement: the test froze a worker
        # the kernel was queueing for.
        self.assertGreater(max(answered.values()), 2.0, answered)

        self.waitFor(
            proc,
            rb"\[protocols\.workers\.Supervisor#warn\] worker 1 \(pid %d\) is frozen:"
            rb" no heartbeat for \d+\.\d s \(--worker-timeout 3\);"
            rb" killing it \(SIGKILL\)" % frozen,
        )
        self.waitFor(proc, rb"worker 1 ended \(.*signal 9.*\).*restarting it in 0 s")
        self.waitFor(proc, rb"worker 1 started \(pid \d+\)")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(TIMEOUT), 0)

    BLOCKING = (
        "import threading\n"
        "from statemachines import EchoMachine\n"
        "\n"
        "class Blocking(EchoMachine):\n"
        "    def onMessage(self, message):\n"
        "        if message == b'block':  # the reactor never gets it back\n"
        "            threading.Event().wait()\n"
        "        super().onMessage(message)\n"
    )

    def test_aBlockedReactorIsAFrozenWorker(self) -> None:
        """
        The heartbeat comes from the worker's reactor, so code that never
        returns to it freezes the worker as surely as SIGSTOP: found within
        the timeout, killed and replaced.
        """
        here = Path(self.mktemp()).absolute()
        here.mkdir()
        (here / "blocking.py").write_text(self.BLOCKING)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc, port = serveInSubprocess(
            self,
            "blocking:Blocking",
            "--workers",
            "2",
            "--worker-timeout",
            "3",
            cwd=here,
            env=env,
        )
        pids = [
            int(self.waitFor(proc, rb"worker \d started \(pid (\d+)\)").group(1))
            for _ in range(2)
        ]
        for pid in pids:
            self.addCleanup(_killQuietly, pid)  # if the supervisor did not
        for _ in range(2):
            self.waitFor(proc, LISTENING)
        self.echo(port).close()
        blocker = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.addCleanup(blocker.close)
        blocker.sendall(b"block\r\n")
        blocked = time.monotonic()
        found = self.waitFor(
            proc,
            rb"worker \d \(pid (\d+)\) is frozen: no heartbeat for \d+\.\d s",
        )
        took = time.monotonic() - blocked
        self.assertIn(int(found.group(1)), pids)
        self.assertLess(took, 4 + 2, took)  # at most 4 s, and some slack
        self.assertEqual(blocker.recv(100), b"")  # its worker is gone
        self.waitFor(proc, rb"worker \d started \(pid \d+\)")
        self.waitFor(proc, LISTENING)
        for _ in range(10):
            self.echo(port).close()

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
