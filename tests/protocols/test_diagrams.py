"""
``txmachines diagrams``: the files it writes and checks (DOT, Mermaid, SVG
stamped with its DOT's digest, the README's embedded blocks), and that the
checked-in diagrams are current.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from protocols.diagrams import (
    SHIPPED,
    check,
    drawings,
    run,
    svgDigest,
    write,
)

from ..helpers import COMMAND, ROOT, snapshot


class CheckedInTests(SynchronousTestCase):
    def test_diagramsDirectoryIsCurrent(self) -> None:
        """Fails when a machine changed and 'txmachines diagrams' was not run."""
        problems = check(ROOT / "diagrams", drawings(SHIPPED), ROOT / "README.md")
        self.assertEqual(problems, [], "run 'txmachines diagrams' and commit")


class FilesTests(SynchronousTestCase):
    def fresh(self) -> Path:
        out = Path(self.mktemp()).absolute()
        shutil.copytree(ROOT / "diagrams", out)
        return out

    def test_checkNamesEveryProblem(self) -> None:
        out = self.fresh()
        (out / "EchoMachine.dot").write_text("digraph {}\n")
        (out / "GreetingMachine.mmd").unlink()
        (out / "Leftover.svg").write_bytes((out / "EchoMachine.svg").read_bytes())
        (out / "notes.svg").write_text("<svg/>")  # not ours: never "extra"
        svg = out / "ClientMachine.svg"
        svg.write_bytes(svg.read_bytes().replace(b"sha256: ", b"sha256: 0", 1)[:-1])
        before = snapshot(out)
        problems = check(out, drawings(SHIPPED), None)
        self.assertEqual(
            problems,
            [
                f"stale: {out / 'EchoMachine.dot'}",
                f"missing: {out / 'GreetingMachine.mmd'}",
                f"stale: {out / 'ClientMachine.svg'}",
                f"extra: {out / 'Leftover.svg'}",
            ],
        )
        stdout, stderr = io.StringIO(), io.StringIO()
        self.assertEqual(run([], out, True, None, stdout, stderr), 1)
        self.assertEqual(stdout.getvalue().splitlines(), problems)
        self.assertIn("txmachines diagrams", stderr.getvalue())
        self.assertEqual(snapshot(out), before)  # --check writes nothing

    def test_checkStaleReadme(self) -> None:
        readme = Path(self.mktemp())
        text = (ROOT / "README.md").read_text()
        readme.write_text(
            text.replace("s0 --> s1 : connectionMade", "s0 --> s1 : x", 1)
        )
        problems = check(ROOT / "diagrams", drawings(SHIPPED), readme)
        self.assertEqual(problems, [f"stale: {readme} (embedded Mermaid diagrams)"])
        write(self.fresh(), drawings(SHIPPED), readme)
        self.assertEqual(readme.read_text(), text)

    def test_writeRepairsAndKeepsCurrentSvgs(self) -> None:
        out = self.fresh()
        original = snapshot(out)
        (out / "EchoMachine.dot").write_text("stale")
        (out / "extra.dot").write_text('digraph "Gone" {}\n')  # ours, no longer drawn
        (out / "EchoMachine.mmd").unlink()
        write(out, drawings(SHIPPED), None)
        self.assertEqual(snapshot(out), original)

    def test_neverRemovesWhatItDidNotWrite(self) -> None:
        out = self.fresh()
        mine = {"notes.txt": b"mine", "mine.dot": b"graph {}", "sub/x.png": b"png"}
        for name, data in mine.items():
            (out / name).parent.mkdir(exist_ok=True)
            (out / name).write_bytes(data)
        write(out, drawings(SHIPPED), None)
        for name, data in mine.items():
            self.assertEqual((out / name).read_bytes(), data)

    def test_drawingGivenTargetsRemovesNothing(self) -> None:
        out = self.fresh()
        before = set(snapshot(out))
        stdout, stderr = io.StringIO(), io.StringIO()
        target = "statemachines.echo:EchoMachine"
        self.assertEqual(run([target], out, False, None, stdout, stderr), 0)
        self.assertEqual(set(snapshot(out)), before)
        self.assertEqual(run([target], out, True, None, stdout, stderr), 0)

    def test_svgRecordsItsDot(self) -> None:
        for d in drawings(SHIPPED):
            svg = (ROOT / "diagrams" / f"{d.name}.svg").read_bytes()
            self.assertEqual(svgDigest(svg), d.digest)
            self.assertTrue(svg.startswith(b"<?xml"))

    def test_withoutGraphviz(self) -> None:
        out = Path(self.mktemp()).absolute()
        env = dict(os.environ, PATH="")
        result = subprocess.run(
            COMMAND
            + ["diagrams", "--output", str(out), "tests.sample_machines:Turnstile"],
            env=env,
            capture_output=True,
            timeout=60,
            cwd=ROOT,
        )
        self.assertEqual(result.returncode, 1)
        self.assertIn(b"apt-get install graphviz", result.stderr)
        self.assertEqual(sorted(snapshot(out)), ["Turnstile.dot", "Turnstile.mmd"])


class ErrorTests(SynchronousTestCase):
    """What cannot be drawn, read or written is one line, not a traceback."""

    def runWith(self, *args: str) -> tuple[int, list[str]]:
        stdout, stderr = io.StringIO(), io.StringIO()
        status = run(*args, stdout=stdout, stderr=stderr)  # type: ignore[arg-type]
        return status, stderr.getvalue().splitlines()

    def test_aClassThatIsNoMachine(self) -> None:
        status, lines = self.runWith(
            ["twisted.internet.task:Clock"], Path(self.mktemp()), False, None
        )
        self.assertEqual((status, len(lines)), (2, 1), lines)
        self.assertIn("'twisted.internet.task:Clock' is not a state machine", lines[0])

    def test_anOutputThatCannotBeADirectory(self) -> None:
        here = Path(self.mktemp())
        here.mkdir()
        (here / "file").write_bytes(b"")
        target = ["tests.sample_machines:Turnstile"]
        status, lines = self.runWith(target, here / "file", False, None)
        self.assertEqual((status, len(lines)), (1, 1), lines)
        self.assertEqual(lines[0], f"txmachines diagrams: File exists: {here / 'file'}")

    def test_aReadmeThatIsNotThere(self) -> None:
        missing = Path(self.mktemp()) / "README.md"
        status, lines = self.runWith([], ROOT / "diagrams", True, missing)
        self.assertEqual((status, len(lines)), (1, 1), lines)
        self.assertEqual(
            lines[0], f"txmachines diagrams: No such file or directory: {missing}"
        )
