"""
Drawing machines as text: deterministic DOT and Mermaid, whatever the hash
seed, for txmachines machines and plain Automat classes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from protocols.diagrams import (
    SHIPPED,
    drawings,
    renderSvg,
)
from statemachines import ConnectionMachine, GreetingMachine, SMTPMachine
from statemachines.engine.drawing import chartOf, toDot, toMermaid

from ..helpers import COMMAND, HAVE_DOT, ROOT, snapshot
from ..sample_machines import Awkward, Turnstile


class DeterminismTests(SynchronousTestCase):
    def render(self, seed: str, targets: list[str]) -> dict[str, bytes]:
        out = Path(self.mktemp()).absolute()
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(ROOT))
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
        # Shipped machines, a plain Automat class, and one with four terminal
        # states (whose order a frozenset would scramble).
        targets = [
            *SHIPPED,
            "tests.sample_machines:Turnstile",
            "tests.sample_machines:Endings",
        ]
        first = self.render("0", targets)
        for seed, order in (
            ("1", targets),
            ("2", targets[::-1]),
            ("987", targets),
            ("random", targets[::-1]),
        ):
            self.assertEqual(self.render(seed, order), first, seed)
        files = 3 if HAVE_DOT else 2
        self.assertEqual(len(first), files * len(targets))
        ends = [
            line.split()[0]
            for line in first["Endings.mmd"].decode().splitlines()
            if line.endswith("--> [*]")
        ]
        self.assertEqual(ends, ["s1", "s2", "s3", "s4"])  # declaration order

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
            "peerFinished\\lfailed / abortConnection\\l"
            "closeTimer: timeout / abortConnection\\l"
            'secured\\lcloseRequested\\l"];',
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


class SuperstateDrawingTests(SynchronousTestCase):
    def test_clustersInDot(self) -> None:
        dot = toDot(chartOf(ConnectionMachine))
        self.assertIn("compound=true", dot)
        self.assertIn("  subgraph cluster_open {\n", dot)
        # The lifecycle's edges once, from the cluster, not per state:
        self.assertIn(
            's1 -> s4 [ltail=cluster_open, label="connectionLost / logLoss, '
            'disconnected\\l"];',
            dot,
        )
        self.assertNotIn("s2 -> s4", dot)
        # What stays is written in the cluster's label:
        self.assertIn('label="open\\ldataArrived / startIdleTimer\\l', dot)

    def test_nestedClustersAndCompositeStates(self) -> None:
        chart = chartOf(SMTPMachine)
        dot, mermaid = toDot(chart), toMermaid(chart)
        self.assertRegex(
            dot,
            r"subgraph cluster_open \{(.|\n)*subgraph cluster_session \{"
            r"(.|\n)*subgraph cluster_transaction \{",
        )
        self.assertIn("    state open {\n", mermaid)
        self.assertIn("        state session {\n", mermaid)
        self.assertIn("            state transaction {\n", mermaid)
        self.assertIn("    session --> s2 : hello / _greet\n", mermaid)
        # A superstate edge no state inherits is not drawn (SMTP's session
        # reads every line itself):
        self.assertNotIn("open --> s2 : messageReceived", mermaid)

    def test_timersNameTheirEdges(self) -> None:
        dot = toDot(chartOf(GreetingMachine))
        self.assertIn("idleTimer: timeout / reportIdle, loseConnection", dot)
        self.assertIn("nameTimer: nameTimedOut / _reportNameTimeout", dot)
        self.assertIn("closeTimer: timeout / abortConnection", dot)

    def test_mermaidHasOneSelfLoopPerState(self) -> None:
        """Mermaid draws only the last of several self-transitions of a state."""
        for drawing in drawings(SHIPPED):
            loops = [
                line.split()[0]
                for line in drawing.mermaid.splitlines()
                if re.fullmatch(r"\s+(\S+) --> \1 : .*", line)
            ]
            self.assertEqual(len(loops), len(set(loops)), drawing.name)
        mermaid = toMermaid(chartOf(ConnectionMachine))
        self.assertIn("    open --> open : dataArrived / startIdleTimer<br/>", mermaid)
