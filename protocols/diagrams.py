"""
``txmachines diagrams``: write the state diagrams of machines to files, or
check that the files on disk are what the machines say now.

For each target class ``NAME`` three files are written: ``NAME.dot``,
``NAME.mmd`` (Mermaid) and ``NAME.svg``, rendered from the DOT source by
Graphviz's ``dot`` through the ``graphviz`` package.  Each SVG carries the
SHA-256 of the DOT source it was rendered from in a comment, so a check can
tell a stale SVG from the DOT text alone, without Graphviz installed, and a
different Graphviz version does not make the files drift.

A README may embed Mermaid diagrams between ``<!-- diagram: NAME -->`` and
``<!-- /diagram -->``; those blocks are written and checked too.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import attrs

from statemachines.engine.drawing import NoMachineError, chartOf, toDot, toMermaid

from .commandlog import reason
from .targets import TargetError, loadClass

SHIPPED = [
    "statemachines.connection:ConnectionMachine",
    "statemachines.echo:EchoMachine",
    "statemachines.greeting:GreetingMachine",
    "statemachines.smtp:SMTPMachine",
    "statemachines.client:ClientMachine",
    "statemachines.echo:EchoClientMachine",
    "statemachines.greeting:GreetingClientMachine",
]
INSTALL_GRAPHVIZ = (
    "Graphviz's 'dot' program was not found, so no SVG was written. Install it: "
    "'apt-get install graphviz' (Debian, Ubuntu), 'dnf install graphviz' (Fedora), "
    "'brew install graphviz' (macOS); then run 'txmachines diagrams' again."
)
_STAMP = re.compile(rb"<!-- txmachines-dot-sha256: ([0-9a-f]{64}) -->")
_EMBED = re.compile(
    r"(<!-- diagram: (?P<name>[^ ]+) -->\n)```mermaid\n.*?```\n(<!-- /diagram -->)",
    re.S,
)


@attrs.frozen
class Drawing:
    name: str
    dot: str
    mermaid: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.dot.encode("utf-8")).hexdigest()


def drawings(targets: Sequence[str]) -> list[Drawing]:
    classes = [loadClass(t) for t in targets]
    short = [c.__name__ for c in classes]
    result = []
    for target, cls, name in zip(targets, classes, short, strict=True):
        if short.count(name) > 1:
            name = f"{cls.__module__}.{cls.__qualname__}"
        try:
            chart = chartOf(cls)
        except NoMachineError:
            raise TargetError(
                f"{target!r} is not a state machine (it has no MethodicalMachine)"
            ) from None
        result.append(Drawing(name, toDot(chart), toMermaid(chart)))
    return result


def stampSvg(svg: bytes, digest: str) -> bytes:
    stamp = f"<!-- txmachines-dot-sha256: {digest} -->\n".encode()
    if svg.startswith(b"<?xml"):
        end = svg.index(b"\n") + 1
        return svg[:end] + stamp + svg[end:]
    return stamp + svg


def svgDigest(svg: bytes) -> str | None:
    found = _STAMP.search(svg)
    return found.group(1).decode() if found else None


def renderSvg(dot: str) -> bytes | None:
    """The SVG of ``dot``, or None where Graphviz's ``dot`` is missing."""
    import graphviz

    try:
        svg: bytes = graphviz.Source(dot).pipe(format="svg")
    except graphviz.ExecutableNotFound:
        return None
    return svg


def embedded(readme: str, drawings: Sequence[Drawing]) -> str:
    """``readme`` with its embedded Mermaid blocks brought up to date."""
    byName = {d.name: d for d in drawings}

    def replace(match: re.Match[str]) -> str:
        drawing = byName.get(match.group("name"))
        if drawing is None:
            return match.group(0)
        return f"{match.group(1)}```mermaid\n{drawing.mermaid}```\n{match.group(3)}"

    return _EMBED.sub(replace, readme)


_SIGNATURES = {
    ".dot": b"digraph ",
    ".mmd": b"stateDiagram-v2\n",
    ".svg": b"<!-- txmachines-dot-sha256: ",
}


def generated(path: Path) -> bool:
    """
    Whether ``path`` is a diagram file this command wrote (so one it may
    remove when it is no longer drawn): a ``.dot``, ``.mmd`` or ``.svg``
    file that starts the way ours do.  Anything else in the output
    directory is never touched.
    """
    signature = _SIGNATURES.get(path.suffix)
    if signature is None or not path.is_file():
        return False
    with path.open("rb") as f:
        head = f.read(200)
    return head.startswith(signature) or (path.suffix == ".svg" and signature in head)


def check(
    output: Path,
    drawings: Sequence[Drawing],
    readme: Path | None,
    prune: bool = True,
) -> list[str]:
    """Every missing, stale or extra file, as ``"<problem>: <path>"``."""
    problems = []
    expected: set[str] = set()
    for d in drawings:
        for suffix, text in ((".dot", d.dot), (".mmd", d.mermaid)):
            path = output / (d.name + suffix)
            expected.add(path.name)
            if not path.exists():
                problems.append(f"missing: {path}")
            elif path.read_bytes() != text.encode("utf-8"):
                problems.append(f"stale: {path}")
        svg = output / (d.name + ".svg")
        expected.add(svg.name)
        if not svg.exists():
            problems.append(f"missing: {svg}")
        elif svgDigest(svg.read_bytes()) != d.digest:
            problems.append(f"stale: {svg}")
    if prune and output.is_dir():
        for path in sorted(output.iterdir()):
            if path.name not in expected and generated(path):
                problems.append(f"extra: {path}")
    if readme is not None:
        text = readme.read_text(encoding="utf-8")
        if embedded(text, drawings) != text:
            problems.append(f"stale: {readme} (embedded Mermaid diagrams)")
    return problems


def write(
    output: Path,
    drawings: Sequence[Drawing],
    readme: Path | None,
    prune: bool = True,
) -> bool:
    """
    Write every file (leaving up-to-date SVGs alone).  With ``prune`` (the
    shipped machines' own directory), also remove diagrams this command
    wrote before that are no longer drawn (`generated`), and only those.
    Returns False where SVGs could not be rendered.
    """
    output.mkdir(parents=True, exist_ok=True)
    rendered = True
    keep = set()
    for d in drawings:
        for suffix, text in ((".dot", d.dot), (".mmd", d.mermaid)):
            (output / (d.name + suffix)).write_bytes(text.encode("utf-8"))
            keep.add(d.name + suffix)
        svgPath = output / (d.name + ".svg")
        keep.add(svgPath.name)
        if svgPath.exists() and svgDigest(svgPath.read_bytes()) == d.digest:
            continue
        svg = renderSvg(d.dot)
        if svg is None:
            rendered = False
            continue
        svgPath.write_bytes(stampSvg(svg, d.digest))
    for path in output.iterdir() if prune else ():
        if path.name not in keep and generated(path):
            path.unlink()
    if readme is not None:
        text = readme.read_text(encoding="utf-8")
        readme.write_text(embedded(text, drawings), encoding="utf-8")
    return rendered


def run(
    targets: Sequence[str],
    output: Path,
    checkOnly: bool,
    readme: Path | None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """The command: returns its exit status."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    if readme is None and not targets and Path("README.md").exists():
        candidate = Path("README.md")
        if _EMBED.search(candidate.read_text(encoding="utf-8")):
            readme = candidate
    try:
        found = drawings(list(targets) or SHIPPED)
    except TargetError as e:
        print(f"txmachines diagrams: {e}", file=stderr)
        return 2
    try:
        # Given targets, draw just those, next to whatever else is there.
        prune = not targets
        return _checkOrWrite(found, output, checkOnly, readme, prune, stdout, stderr)
    except OSError as e:  # where to write, or the README, cannot be
        print(f"txmachines diagrams: {reason(e)}", file=stderr)
        return 1


def _checkOrWrite(
    found: Sequence[Drawing],
    output: Path,
    checkOnly: bool,
    readme: Path | None,
    prune: bool,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    if checkOnly:
        problems = check(output, found, readme, prune=prune)
        for problem in problems:
            print(problem, file=stdout)
        if problems:
            print("run 'txmachines diagrams' to regenerate", file=stderr)
        return 1 if problems else 0
    if not write(output, found, readme, prune=prune):
        print(INSTALL_GRAPHVIZ, file=stderr)
        return 1
    return 0
