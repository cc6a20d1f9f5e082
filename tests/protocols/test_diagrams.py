"""
Diagrams: deterministic, complete, drift-checked; any Automat class renders.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from protocols.diagrams import (
    SHIPPED,
    check,
    drawings,
    renderSvg,
    run,
    svgDigest,
    write,
)
from statemachines.engine.drawing import chartOf, toDot, toMermaid

from ..sample_machines import Awkward, Turnstile

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-c", "from protocols.cli import main; main()"]
HAVE_DOT = shutil.which("dot") is not None


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


class CheckedInTests(SynchronousTestCase):
    def test_diagramsDirectoryIsCurrent(self) -> None:
        """Fails when a machine changed and 'txmachines diagrams' was not run."""
        problems = check(ROOT / "diagrams", drawings(SHIPPED), ROOT / "README.md")
        self.assertEqual(problems, [], "run 'txmachines diagrams' and commit")


class DeterminismTests(SynchronousTestCase):
    def render(self, seed: str, targets: list[str]) -> dict[str, bytes]:
        out = Path(self.mktemp()).absolute()
        env = dict(os.environ, PYTHONHASHSEED=seed)
        result = subprocess.run(
            COMMAND + ["diagrams", "--output", str(out), *targets],
            env=env,
            capture_output=True,
            timeout=60,
            cwd=out.parent,
        )
        self.assertIn(result.returncode, (0, 1), result.stderr)
        return snapshot(out)

    def test_sameBytesWhateverTheHashSeedAndOrder(self) -> None:
        first = self.render("0", SHIPPED)
        for seed, targets in (
            ("1", SHIPPED),
            ("2", SHIPPED[::-1]),
            ("987", SHIPPED),
            ("random", SHIPPED[::-1]),
        ):
            self.assertEqual(self.render(seed, targets), first, seed)
        self.assertEqual(len(first), 3 * len(SHIPPED) if HAVE_DOT else 2 * len(SHIPPED))

    def test_automatOwnDrawingIsNotStable(self) -> None:
        """Why we draw ourselves: Automat's asDigraph varies with the hash seed."""
        code = (
            "from tests.sample_machines import Turnstile;"
            "print(Turnstile.machine.asDigraph().source)"
        )
        outputs = set()
        for seed in ("0", "1", "2", "3", "4", "5", "6", "7"):
            result = subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                timeout=60,
                env=dict(os.environ, PYTHONHASHSEED=seed),
                cwd=ROOT,
            )
            outputs.add(result.stdout)
        self.assertGreater(len(outputs), 1)


class DrawingTests(SynchronousTestCase):
    def test_userSubclassLeavesParentFilesAlone(self) -> None:
        before = {d.name: (d.dot, d.mermaid) for d in drawings(SHIPPED)}
        [polite] = drawings(["tests.sample_machines:PoliteGreetingMachine"])
        after = {d.name: (d.dot, d.mermaid) for d in drawings(SHIPPED)}
        self.assertEqual(after, before)
        self.assertIn('label="titling", style="rounded,filled"', polite.dot)
        self.assertIn('s5 [label="naming"];', polite.dot)  # inherited: not filled
        self.assertIn("extends GreetingMachine", polite.dot)
        self.assertIn("class s6 added", polite.mermaid)
        self.assertIn("s5 --> s6 : nameAccepted / _askTitle", polite.mermaid)

    def test_plainAutomatClass(self) -> None:
        chart = chartOf(Turnstile)
        self.assertEqual(chart.states, ("locked", "unlocked", "broken"))
        self.assertEqual(chart.initial, "locked")
        self.assertEqual(chart.terminal, frozenset({"broken"}))
        dot = toDot(chart)
        self.assertIn("start -> s0;", dot)
        self.assertIn('s2 [label="broken", peripheries=2];', dot)
        self.assertIn('s0 -> s0 [label="push\\l"];', dot)
        self.assertIn('s0 -> s1 [label="coin / _unlock\\l"];', dot)
        mermaid = toMermaid(chart)
        self.assertIn("[*] --> s0", mermaid)
        self.assertIn("s2 --> [*]", mermaid)
        self.assertNotIn("classDef", mermaid)

    def test_selfLoopsShareOneEdge(self) -> None:
        [greeting] = [d for d in drawings(SHIPPED) if d.name == "GreetingMachine"]
        self.assertIn(
            's3 -> s3 [label="dataArrived\\lmessageReceived\\lbadFrame\\l'
            "failed / _abortConnection\\lcloseRequested\\l"
            'timeout / _abortConnection\\l"];',
            greeting.dot,
        )

    def test_awkwardNamesEscaped(self) -> None:
        chart = chartOf(Awkward)
        dot = toDot(chart)
        self.assertIn('s0 [label="node"];', dot)
        self.assertIn(r's1 [label="end \"quoted\" {x}; -> y", peripheries=2];', dot)
        self.assertIn(r'label="graph\\edge / state: #1 <b>\l"', dot)
        mermaid = toMermaid(chart)
        self.assertIn(
            'state "end #34;quoted#34; #123;x#125;#59; -#62; y" as s1', mermaid
        )
        self.assertIn("s0 --> s1 : graph#92;edge / state#58; #35;1 #60;b#62;", mermaid)
        if HAVE_DOT:
            svg = renderSvg(dot)
            assert svg is not None
            self.assertIn(b"end &quot;quoted&quot; {x}; &#45;&gt; y", svg)


class FilesTests(SynchronousTestCase):
    def fresh(self) -> Path:
        out = Path(self.mktemp()).absolute()
        shutil.copytree(ROOT / "diagrams", out)
        return out

    def test_checkNamesEveryProblem(self) -> None:
        out = self.fresh()
        (out / "EchoMachine.dot").write_text("digraph {}\n")
        (out / "GreetingMachine.mmd").unlink()
        (out / "Leftover.svg").write_text("<svg/>")
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
        (out / "extra.dot").write_text("x")
        (out / "EchoMachine.mmd").unlink()
        write(out, drawings(SHIPPED), None)
        self.assertEqual(snapshot(out), original)

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
