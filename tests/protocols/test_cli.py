"""The ``txmachines`` command, run as a user would, in subprocesses."""

from __future__ import annotations

import importlib.abc
import os
import pty
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

import protocols
from protocols.cli import DEFAULT_LISTEN, listenDescription, parser

from ..helpers import COMMAND, ROOT, TIMEOUT, serveInSubprocess


class ParserTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        args = parser().parse_args(["serve", "echo"])
        self.assertEqual(
            (listenDescription(args), args.framing, args.max_frame),
            (DEFAULT_LISTEN, "line", 16384),
        )
        smtp = parser().parse_args(["serve", "smtp", "--maildir", "m"])
        self.assertEqual(listenDescription(smtp), "tcp:8025:interface=127.0.0.1")
        self.assertIn("interface=127.0.0.1", DEFAULT_LISTEN)
        self.assertEqual(
            (args.max_connections, args.max_per_peer, args.name_timeout),
            (10_000, 100, 60.0),
        )

    def test_greetingNeedsBoundaries(self) -> None:
        result = subprocess.run(
            COMMAND + ["serve", "greeting", "--framing", "raw"],
            capture_output=True,
            timeout=TIMEOUT,
        )
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"greeting needs message boundaries", result.stderr)
        self.assertIn(b"(see txmachines serve -h)", result.stderr)  # its options


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


class ServeTests(SynchronousTestCase):
    def serve(self, *args: str) -> tuple[subprocess.Popen[bytes], int]:
        return serveInSubprocess(self, *args)

    def connect(
        self, port: int, *args: str, stdin: bytes
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            COMMAND + ["connect", *args, "--connect", f"tcp:127.0.0.1:{port}"],
            input=stdin,
            capture_output=True,
            timeout=TIMEOUT,
        )

    def stopWith(self, proc: subprocess.Popen[bytes], signum: int) -> bytes:
        proc.send_signal(signum)
        _, rest = proc.communicate(timeout=TIMEOUT)
        self.assertEqual(proc.returncode, 0, rest)
        return rest

    def test_echoServerAndClient(self) -> None:
        proc, port = self.serve("echo")
        result = self.connect(port, "echo", stdin=b"hello\nw\xc3\xb6rld\n\nlast")
        self.assertEqual(
            (result.returncode, result.stdout),
            (0, b"hello\nw\xc3\xb6rld\n\nlast\n"),
            result.stderr,
        )
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(b"raw\r\n")
            self.assertEqual(sock.recv(100), b"raw\r\n")
            rest = self.stopWith(proc, signal.SIGINT)
            self.assertEqual(sock.recv(100), b"")  # closed by the server
        self.assertIn(b"stopped; connections closed: 1", rest)

    def test_greetingServerAndClient(self) -> None:
        proc, port = self.serve("greeting", "--framing", "netstring")
        result = self.connect(
            port, "greeting", "--framing", "netstring", stdin=b"Bob\nhow are you\n"
        )
        self.assertEqual(
            (result.returncode, result.stdout),
            (0, b"Hello, Bob!\nhow are you\n"),
            result.stderr,
        )
        result = self.connect(
            port, "greeting", "--framing", "netstring", "--name", " ", stdin=b""
        )
        self.assertEqual(result.returncode, 1)
        self.assertIn(b"refused the name: name is empty", result.stderr)
        self.stopWith(proc, signal.SIGTERM)


class OneLineFailureTests(SynchronousTestCase):
    """Every failure a user can cause is one line on stderr, exit 1 or 2."""

    def command(self, *argv: str) -> tuple[int, list[str]]:
        result = subprocess.run(
            COMMAND + list(argv),
            capture_output=True,
            timeout=TIMEOUT,
            input=b"",
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        return result.returncode, result.stderr.decode().splitlines()

    def assertOneLine(self, argv: list[str], code: int, *fragments: str) -> None:
        returncode, lines = self.command(*argv)
        self.assertEqual(returncode, code, lines)
        self.assertEqual(len(lines), 1, lines)
        for fragment in fragments:
            self.assertIn(fragment, lines[0])

    def test_serve(self) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            self.assertOneLine(
                ["serve", "echo", "--listen", f"tcp:{port}:interface=127.0.0.1"],
                1,
                "could not listen",
                "Address already in use",
            )
        self.assertOneLine(
            ["serve", "echo", "--listen", "tcp:notaport"], 1, "tcp:notaport"
        )
        self.assertOneLine(
            ["serve", "echo", "--listen", "bogus:1234"], 1, "Unknown endpoint type"
        )
        self.assertOneLine(
            ["serve", "echo", "--listen", "ssl:0:privateKey=/nonexistent.pem"],
            1,
            "No such file or directory: /nonexistent.pem",
        )

    def test_connect(self) -> None:
        self.assertOneLine(
            ["connect", "echo", "--connect", "bogus:1"], 1, "Unknown endpoint type"
        )

    def test_diagrams(self) -> None:
        out = self.mktemp()
        self.assertOneLine(
            ["diagrams", "--output", out, "nosuchmodule:Machine"],
            2,
            "cannot import 'nosuchmodule'",
        )
        self.assertOneLine(
            ["diagrams", "--output", out, "statemachines:Nope"], 2, "has no 'Nope'"
        )
        self.assertOneLine(["diagrams", "--output", out, "Machine"], 2, "of the form")

    def test_diagramsOfAModuleInTheCurrentDirectory(self) -> None:
        here = Path(self.mktemp())
        here.mkdir()
        (here / "mymachines.py").write_text(
            "from statemachines import EchoMachine\n\n"
            "class Mine(EchoMachine):\n"
            "    pass\n"
        )
        result = subprocess.run(
            COMMAND + ["diagrams", "--output", "out", "mymachines:Mine"],
            capture_output=True,
            timeout=TIMEOUT,
            cwd=here,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.assertIn(result.returncode, (0, 1), result.stderr)  # 1: no Graphviz
        self.assertTrue((here / "out" / "Mine.dot").exists())


class MisbehavingServer:
    """
    A loopback server that answers every connection with ``reply``, then
    closes it; or, if ``reply`` is None, keeps it open and says nothing.
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


class ServeYourOwnMachineTests(SynchronousTestCase):
    """``txmachines serve MODULE:NAME`` from the directory the module is in."""

    MODULE = (
        "from statemachines import EchoMachine\n"
        "\n"
        "class Upper(EchoMachine):\n"
        "    def onMessage(self, message: bytes) -> None:\n"
        "        self.send(message.upper())\n"
        "\n"
        "def make(clock, **options):\n"
        "    return Upper(clock, **options)\n"
        "\n"
        "def needsMore(clock, colour):\n"
        "    return Upper(clock)\n"
        "\n"
        "class NotAMachine:\n"
        "    pass\n"
        "\n"
        "from statemachines import LineFramer\n"
        "\n"
        "class Semicolons(LineFramer):\n"
        "    def __init__(self, maxLength):\n"
        "        super().__init__(maxLength, delimiter=b';')\n"
        "\n"
        "def notAFramer(maxLength):\n"
        "    return object()\n"
    )
    STUCK = (
        "from statemachines import EchoMachine, Machine, inherited\n"
        "\n"
        "class Stuck(EchoMachine):\n"
        "    _machine = Machine()\n"
        "    parent = inherited(_machine, EchoMachine)\n"
        "\n"
        "    @_machine.state()\n"
        "    def waiting(self) -> None:\n"
        "        'Outside the lifecycle.'\n"
        "\n"
        "    parent.connected.upon(parent.messageReceived, enter=waiting)\n"
    )

    def setUp(self) -> None:
        self.here = Path(self.mktemp()).absolute()
        self.here.mkdir()
        (self.here / "mymachines.py").write_text(self.MODULE)
        (self.here / "stuck.py").write_text(self.STUCK)
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def test_classAndFactoryServe(self) -> None:
        for target in ("mymachines:Upper", "mymachines:make"):
            self.assertEqual(
                self.serveOnce([target], b"shout\r\n"), b"SHOUT\r\n", target
            )

    def test_userFraming(self) -> None:
        self.assertEqual(
            self.serveOnce(
                ["mymachines:Upper", "--framing", "mymachines:Semicolons"],
                b"a\r\nb;c;",
            ),
            b"A\r\nB;C;",
        )

    def serveOnce(self, args: list[str], send: bytes) -> bytes:
        """Serve with ``args``; one peer sends ``send`` then half-closes."""
        _, port = serveInSubprocess(self, *args, cwd=self.here, env=self.env)
        with socket.create_connection(("127.0.0.1", port)) as peer:
            peer.sendall(send)
            peer.shutdown(socket.SHUT_WR)
            return peer.makefile("rb").read()

    def test_badTargetsAreOneLine(self) -> None:
        for target, fragment in (
            ("mymachines:Nope", "has no 'Nope'"),
            ("nomodule:Upper", "cannot import 'nomodule'"),
            ("mymachines:NotAMachine", "is not a ConnectionMachine"),
            ("mymachines:needsMore", "cannot be called as NAME(clock"),
            ("bogus", "is not of the form"),
            ("stuck:Stuck", "state 'waiting' does not handle input"),
            ("echo --framing smoke", "unknown framing 'smoke'"),
            ("echo --framing mymachines:Nope", "has no 'Nope'"),
            ("echo --framing mymachines:NotAMachine", "NotAMachine() takes no arg"),
            ("echo --framing mymachines:notAFramer", "object is not a framer"),
            ("echo --framing mymachines:needsMore", "--framing: calling it"),
        ):
            result = subprocess.run(
                COMMAND + ["serve", *target.split()],
                capture_output=True,
                timeout=TIMEOUT,
                cwd=self.here,
                env=self.env,
            )
            lines = result.stderr.decode().splitlines()
            self.assertEqual((result.returncode, len(lines)), (2, 1), lines)
            self.assertIn(fragment, lines[0])
            if ":" in target:  # a MODULE:NAME meant no shipped protocol
                self.assertNotIn("give echo, greeting", lines[0])


class InterruptedWhileStartingTests(SynchronousTestCase):
    def test_ctrlCDuringImportsIs130NotATraceback(self) -> None:
        """The command's entry point catches Ctrl-C while Twisted still loads."""

        class Interrupting(importlib.abc.MetaPathFinder):
            def find_spec(self, name: str, path: object, target: object = None) -> None:
                if name == "protocols.cli":
                    raise KeyboardInterrupt
                return None

        saved = sys.modules.pop("protocols.cli")
        self.addCleanup(sys.modules.__setitem__, "protocols.cli", saved)
        finder = Interrupting()
        sys.meta_path.insert(0, finder)
        self.addCleanup(sys.meta_path.remove, finder)
        with self.assertRaises(SystemExit) as caught:
            protocols.main()
        self.assertEqual(caught.exception.code, 130)
