"""The ``txmachines`` command, run as a user would, in subprocesses."""

from __future__ import annotations

import importlib.abc
import os
import socket
import subprocess
import sys
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

import protocols.cli  # the module the entry point imports (a test takes it out)

from ..helpers import COMMAND, ROOT, TIMEOUT


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
        self.assertOneLine(  # not the pid Twisted's lock file links to
            ["serve", "echo", "--listen", "unix:/nonexistent/dir/sock"],
            1,
            "could not listen on unix:/nonexistent/dir/sock: "
            "No such file or directory: /nonexistent/dir/sock.lock",
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
