"""
Summaries of a machine in prose, such as a module's docstring, checked
against its `Blueprint`: what they say must be so, and what they leave out
is named.  Two kinds of summary are read.

Transition lines, one or more edges each::

    idle --connectionMade--> connected --messageReceived--> receiving
    open, closing --connectionLost--> closed
    idle / connecting --stop | timeout--> stopped

Sources are states or superstates (separated by ``,`` or ``/``), inputs are
separated by ``|``, and each edge's target is the next edge's source.  An
edge from a state says where the input takes it (the flat table, so what
the state inherits counts); one from a superstate, where the superstate
declares it goes.  Where a text has any transition lines, together they
must name every transition that changes state: each (state, input) that
leads elsewhere must appear from the state or from a superstate it is
within.  A self-loop, or a superstate's ``enter=None``, need not appear.

A tree of states, in a literal block (after a line ending ``::``), one
name a line, indented under the superstate it is within, and optionally
followed by two spaces and a description::

    open
      session          a command is awaited
        connected      the banner is out

Its first line is a superstate; the tree must show exactly the states and
superstates within it, each under the one it is directly within.  A literal
block is taken for a tree only if its first word names a superstate.
"""

from __future__ import annotations

import re

from .blueprint import Blueprint

__all__ = ["summaryMismatches"]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_NAMES = rf"{_NAME}(?:\s*[,/]\s*{_NAME})*"
_EDGE = rf"\s*--\s*({_NAME}(?:\s*\|\s*{_NAME})*)\s*-->\s*({_NAME})"
_LINE = re.compile(rf"^\s*({_NAMES})((?:{_EDGE})+)\s*$")
_EDGES = re.compile(_EDGE)


def _names(text: str, separators: str) -> list[str]:
    return [name for name in re.split(separators, text.replace(" ", "")) if name]


def _edges(text: str) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The (source, input, target) edges of ``text``'s transition lines."""
    edges, problems = [], []
    for line in text.splitlines():
        if "-->" not in line:
            continue
        match = _LINE.match(line)
        if match is None:
            problems.append(f"cannot read the transition line {line.strip()!r}")
            continue
        sources = _names(match.group(1), r"[,/]")
        for inputs, target in _EDGES.findall(match.group(2)):
            for source in sources:
                for input in _names(inputs, r"\|"):
                    edges.append((source, input, target))
            sources = [target]
    return edges, problems


def _checkEdge(blueprint: Blueprint, source: str, input: str, target: str) -> str:
    """What is wrong with the summary's edge, or ``""``."""
    edge = f"{source} --{input}--> {target}"
    if input not in blueprint.inputs:
        return f"{edge}: there is no input {input!r}"
    if target not in blueprint.states:
        return f"{edge}: there is no state {target!r}"
    if source in blueprint.states:
        t = blueprint.transitions.get((source, input))
        actual = None if t is None else t.enter
    elif source in blueprint.superstates:
        s = blueprint.superTransitions.get((source, input))
        actual = None if s is None else s.enter
    else:
        return f"{edge}: there is no state or superstate {source!r}"
    if actual == target:
        return ""
    if actual is None:
        return f"{edge}: {source!r} declares no transition to another state upon it"
    return f"{edge}: it enters {actual!r}"


def _checkEdges(blueprint: Blueprint, text: str) -> list[str]:
    edges, problems = _edges(text)
    if not edges:
        return problems
    problems += [p for p in (_checkEdge(blueprint, *e) for e in edges) if p]
    said = set(edges)
    missing: dict[str, None] = {}  # ordered
    for (state, input), t in blueprint.transitions.items():
        if t.enter == state:
            continue
        levels = [state, *blueprint.ancestorsOf(state)]
        if not any((level, input, t.enter) in said for level in levels):
            # One declared on a superstate is missing from it: name that.
            missing[f"{t.via or state} --{input}--> {t.enter}"] = None
    return problems + [f"missing: {edge}" for edge in missing]


def _literalBlocks(text: str) -> list[list[str]]:
    """The literal blocks of reStructuredText ``text``: their lines."""
    blocks: list[list[str]] = []
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if not line.rstrip().endswith("::"):
            continue
        indent = len(line) - len(line.lstrip())
        block: list[str] = []
        for following in lines[number + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            block.append(following)
        blocks.append([b for b in block if b.strip()])
    return blocks


def _checkTree(blueprint: Blueprint, block: list[str]) -> list[str]:
    levels: list[tuple[int, str]] = []  # (indentation, name), outermost first
    shown: dict[str, str | None] = {}
    for line in block:
        indent = len(line) - len(line.lstrip())
        name = re.split(r"\s{2,}", line.strip())[0]
        while levels and levels[-1][0] >= indent:
            levels.pop()
        shown[name] = levels[-1][1] if levels else None
        levels.append((indent, name))
    root = next(iter(shown))
    problems = []
    for name, parent in shown.items():
        decl = blueprint.states.get(name) or blueprint.superstates.get(name)
        if decl is None:
            problems.append(f"the tree of {root!r} shows {name!r}, no state")
        elif parent is not None and decl.within != parent:
            problems.append(
                f"the tree of {root!r} shows {name!r} within {parent!r}; "
                f"it is within {decl.within!r}"
            )
    within = [
        n
        for n in [*blueprint.superstates, *blueprint.states]
        if root in blueprint.ancestorsOf(n)
    ]
    problems += [
        f"the tree of {root!r} leaves out {n!r}" for n in within if n not in shown
    ]
    return problems


def summaryMismatches(blueprint: Blueprint, text: str) -> list[str]:
    """
    What the summaries in ``text`` (transition lines, trees of states) get
    wrong about ``blueprint``, or leave out; one sentence each.  Empty if
    they are right, or if ``text`` has none.
    """
    problems = _checkEdges(blueprint, text)
    for block in _literalBlocks(text):
        first = re.split(r"\s{2,}", block[0].strip())[0] if block else ""
        if first in blueprint.superstates:
            problems += _checkTree(blueprint, block)
    return problems
