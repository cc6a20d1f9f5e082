"""``txmachines connect``, run as a user would, in subprocesses."""

from __future__ import annotations

import os
import pty
import signal
import socket
import subprocess
import threading

from twisted.trial.unittest import SynchronousTestCase

from ..helpers import COMMAND, TIMEOUT


def unusedPort() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ConnectTests(SynchronousTestCase):
    def test_givesUpWhenNothingListens(self) -> None:
        port = unusedPort()
        for protocol in ("echo", "greeting"):
            result = subprocess.run(
                COMMAND
                + ["connect", protocol, "--max-attempts", "2"]
                + ["--connect", f"tcp:127.0.0.1:{port}"],
                input=b"hello\n",
                capture_output=True,
                timeout=TIMEOUT,
            )
            self.assertEqual(result.returncode, 1, result.stderr)
            self.assertIn(b"could not connect after 2 attempts", result.stderr)

    def test_noInputStillChecksTheServerIsThere(self) -> None:
        port = unusedPort()
        result = subprocess.run(
            COMMAND
            + ["connect", "echo", "--max-attempts", "1"]
            + ["--connect", f"tcp:127.0.0.1:{port}"],
            input=b"",
            capture_output=True,
            timeout=TIMEOUT,
        )
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn(b"could not connect after 1 attempt:", result.stderr)

    def test_nameNotUTF8IsRefusedHere(self) -> None:
        """Not the server's fault, and never sent as U+FFFD: said at once."""
        for argv, typed in (([b"--name", b"\xff"], b""), ([], b"\xff\nhi\n")):
            result = subprocess.run(
                [*COMMAND, "connect", "greeting", *argv],
                input=typed,
                capture_output=True,
                timeout=TIMEOUT,
            )
            self.assertEqual(
                (result.returncode, result.stderr),
                (1, b"txmachines: the name is not valid UTF-8\n"),
            )

    def test_ctrlCEndsWith130AndNothingElse(self) -> None:
        """Interrupted (while it retries, input still open): the shell's status."""
        port = unusedPort()
        proc = subprocess.Popen(
            [*COMMAND, "-v", "connect", "echo", "--max-attempts", "0"]
            + ["--connect", f"tcp:127.0.0.1:{port}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.addCleanup(proc.kill)
        assert proc.stderr is not None
        for line in proc.stderr:  # running: its reactor handles signals now
            if b"reconnecting in" in line:
                break
        proc.send_signal(signal.SIGINT)
        out, rest = proc.communicate(timeout=TIMEOUT)
        self.assertEqual(proc.returncode, 130, rest)
        self.assertNotIn(b"Traceback", rest)
        self.assertEqual(out, b"")

    def test_saysSoWhenItTriesAgainAtATerminal(self) -> None:
        """Standard error a terminal: a line per retry, so a wait is no mystery."""
        port = unusedPort()
        terminal, stderr = pty.openpty()
        self.addCleanup(os.close, terminal)
        with os.fdopen(stderr, "wb") as child:
            result = subprocess.run(
                [*COMMAND, "connect", "echo", "--max-attempts", "2"]
                + ["--connect", f"tcp:127.0.0.1:{port}"],
                input=b"hello\n",
                stdout=subprocess.PIPE,
                stderr=child,
                timeout=TIMEOUT,
            )
        said = b""
        while True:  # what it wrote; EIO once that is read (no writer is left)
            try:
                chunk = os.read(terminal, 4096)
            except OSError:
                break
            if not chunk:
                break
            said += chunk
        lines = said.decode().splitlines()
        self.assertEqual(result.returncode, 1, lines)
        self.assertEqual(len(lines), 2, lines)
        self.assertRegex(
            lines[0],
            r"^txmachines: could not connect \(.*refused.*\); trying again in "
            r"[0-9.]+ s \(attempt 2\)$",
        )
        self.assertIn("could not connect after 2 attempts", lines[1])

    def test_connectSpeaksEchoAndGreetingOnly(self) -> None:
        result = subprocess.run(
            [*COMMAND, "connect", "smtp"], capture_output=True, timeout=TIMEOUT
        )
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"(see txmachines connect -h)", result.stderr)

    def test_strayArgumentsPointAtTheCommandsHelp(self) -> None:
        for argv, command in (
            (["connect", "echo", "--listen", "tcp:1"], b"txmachines connect"),
            (["serve", "echo", "extra"], b"txmachines serve"),
        ):
            result = subprocess.run(
                [*COMMAND, *argv], capture_output=True, timeout=TIMEOUT
            )
            self.assertEqual(result.returncode, 2)
            self.assertIn(b"unrecognized arguments", result.stderr)
            self.assertIn(b"(see " + command + b" -h)", result.stderr)


class MisbehavingServer:
    """
    A loopback server that answers every connection with ``reply``, then
    closes it (its side first, then once the client has); or, if ``reply``
    is None, keeps it open and says nothing.
    """

    def __init__(self, case: SynchronousTestCase, reply: bytes | None) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.reply = reply
        self.silent: list[socket.socket] = []
        case.addCleanup(self.close)
        threading.Thread(target=self.serve, daemon=True).start()

    def close(self) -> None:
        self.listener.close()
        for peer in self.silent:
            peer.close()

    def serve(self) -> None:
        while True:
            try:
                peer, _ = self.listener.accept()
            except OSError:  # closed by the cleanup
                return
            if self.reply is None:
                self.silent.append(peer)
                continue
            with peer:
                peer.sendall(self.reply)
                # Close as a careful server does: the client's unread line
                # would otherwise make the close an RST, which can destroy
                # the reply before the client reads it.
                peer.shutdown(socket.SHUT_WR)
                peer.settimeout(TIMEOUT)
                try:
                    while peer.recv(65536):
                        pass
                except OSError:
                    pass


class AlteringEchoServer:
    """
    A loopback line server that echoes each line, but with ``wrong``
    replaced by ``instead``.
    """

    def __init__(self, case: SynchronousTestCase, wrong: bytes, instead: bytes) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.wrong, self.instead = wrong, instead
        case.addCleanup(self.listener.close)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        try:
            peer, _ = self.listener.accept()
        except OSError:  # closed by the cleanup
            return
        with peer, peer.makefile("rb") as lines:
            for line in lines:
                peer.sendall(line.replace(self.wrong, self.instead))


class WrongEchoTests(SynchronousTestCase):
    """An echo that is not what was sent is a failure, named in one line."""

    def connect(
        self, wrong: bytes, instead: bytes, stdin: bytes
    ) -> subprocess.CompletedProcess[bytes]:
        server = AlteringEchoServer(self, wrong, instead)
        return subprocess.run(
            COMMAND
            + ["connect", "echo", "--max-attempts", "1"]
            + ["--connect", f"tcp:127.0.0.1:{server.port}"],
            input=stdin,
            capture_output=True,
            timeout=TIMEOUT,
        )

    def test_exits1NamingTheFirstDifference(self) -> None:
        result = self.connect(b"two", b"tw0", b"one\ntwo\nthree\ntwo\n")
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertEqual(result.stdout, b"one\ntw0\nthree\ntw0\n")  # all printed
        self.assertEqual(
            result.stderr.decode(),
            "txmachines: the echo of message 2 differs from what was sent "
            "(at byte 2): sent b'two', got b'tw0'\n",
        )

    def test_longMessagesAreCutAroundTheDifference(self) -> None:
        sent = b"a" * 100 + b"b" + b"c" * 100
        result = self.connect(b"b", b"\x1b", sent + b"\n")
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertEqual(
            result.stderr.decode(),
            "txmachines: the echo of message 1 differs from what was sent "
            f"(at byte 100): sent ...b'{'a' * 30}b{'c' * 29}'..., "
            f"got ...b'{'a' * 30}\\x1b{'c' * 29}'...\n",
        )

    def test_aShorterEchoDiffersWhereItEnds(self) -> None:
        result = self.connect(b"lo", b"", b"hello\n")
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("(at byte 3): sent b'hello', got b'hel'", result.stderr.decode())

    def test_aFaithfulEchoExits0(self) -> None:
        result = self.connect(b"nowhere", b"", b"one\ntwo\n")
        self.assertEqual((result.returncode, result.stdout), (0, b"one\ntwo\n"))


class MisbehavingServerTests(SynchronousTestCase):
    """
    The client ends, with one line saying why, whatever the server does; at
    once, while its input is still open (a user at a terminal who typed a
    line and waits).
    """

    def connect(
        self, protocol: str, reply: bytes | None, *options: str
    ) -> tuple[int, str]:
        server = MisbehavingServer(self, reply)
        proc = subprocess.Popen(
            COMMAND
            + ["connect", protocol, "--connect", f"tcp:127.0.0.1:{server.port}"]
            + list(options),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.addCleanup(proc.kill)
        assert proc.stdin is not None and proc.stderr is not None
        self.addCleanup(proc.stdin.close)
        self.addCleanup(proc.stderr.close)
        proc.stdin.write(b"hello\n")
        proc.stdin.flush()  # and input stays open
        returncode = proc.wait(timeout=TIMEOUT)
        lines = proc.stderr.read().decode().splitlines()
        self.assertEqual(len(lines), 1, lines)  # one line, whatever happened
        return returncode, lines[0]

    def test_serverThatClosesAtOnce(self) -> None:
        code, last = self.connect("echo", b"", "--max-attempts", "2")
        self.assertEqual(code, 1)
        self.assertIn("after 2 attempts", last)

    def test_overLongLine(self) -> None:
        code, last = self.connect("echo", b"x" * 40_000, "--max-frame", "100")
        self.assertEqual(code, 1)
        self.assertIn("the server broke the protocol: line longer than 100", last)

    def test_silentServer(self) -> None:
        for protocol, waitedFor in (
            ("echo", "a reply to b'hello'"),
            ("greeting", "the banner"),
        ):
            code, line = self.connect(protocol, None, "--timeout", "1")
            self.assertEqual(code, 1)
            self.assertIn(f"sent nothing for 1 s while we waited for {waitedFor}", line)

    def test_serverTextCannotDriveTheTerminal(self) -> None:
        code, line = self.connect(
            "greeting", b"Hello! What is your name?\r\nError: \x1b[2Jgotcha\x07\r\n"
        )
        self.assertEqual(code, 1)
        self.assertEqual(
            line, "txmachines: the server refused the name: \\x1b[2Jgotcha\\x07"
        )

    def test_wrongBanner(self) -> None:
        code, last = self.connect("greeting", b"Welcome to FTP\r\n", "--name", "Ada")
        self.assertEqual(code, 1)
        self.assertIn("the server broke the protocol: expected the banner", last)
