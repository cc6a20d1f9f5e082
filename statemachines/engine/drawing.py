"""
State diagrams as text: Graphviz DOT and Mermaid ``stateDiagram-v2``.

Theory of operation
===================

Drawing is a pure function from a class to text, so the same class always
gives the same bytes, whatever ``PYTHONHASHSEED``, import order or machine.
Automat's own ``asDigraph()`` cannot promise that: it walks frozensets whose
order depends on identity hashes.

1. `chartOf` reads a class into a `Chart`.  For a `StateMachine` subclass that
   is its `Blueprint`; for a plain Automat class it is built from the class's
   ``MethodicalMachine``.  Either way the order is total and documented:
   states and inputs in the order the class bodies define them (base classes
   first), transitions by (state, input) in that order.
2. `toDot` and `toMermaid` write the chart.  Nodes get ids ``s0, s1, ...`` in
   state order, so no state name can collide with a keyword of either
   language; names appear only inside escaped labels.

What a drawing shows:

- the initial state, with an arrow from a start point;
- terminal states (no transition leaves them for another state), with a
  double border in DOT and an arrow to the end point in Mermaid;
- each transition labelled ``input / output, output``; in DOT, all the
  transitions between the same two states share one edge with one line per
  input, which keeps self-loops readable;
- each superstate as a box around the states within it (a DOT
  ``subgraph cluster_<name>``, a Mermaid composite state), and each of its
  transitions once: an edge from the box to a state outside it (DOT's
  ``compound=true`` with ``ltail``), or a line in the box's label for one
  that stays in the current state or enters a state within the box (in
  Mermaid: an edge from the composite state).  A state's own transitions
  are drawn from the state; what it inherits from a superstate is not drawn
  again;
- in a subclass's diagram, the states the subclass added are filled and the
  legend names the class they came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import attrs
from automat import MethodicalMachine

from . import automatinternals as automat
from .blueprint import SuperstateDecl, SuperTransitionDecl, TransitionDecl
from .machine import StateMachine

ADDED_FILL = "#fff2cc"


@attrs.frozen
class Chart:
    """What a diagram needs to know about one machine."""

    title: str
    initial: str | None
    states: tuple[str, ...]
    added: frozenset[str]
    transitions: tuple[TransitionDecl, ...]  # drawn from their state
    parent: str | None = None
    superstates: tuple[SuperstateDecl, ...] = ()
    # Each state's and superstate's superstates, nearest first (the blueprint's).
    ancestors: tuple[tuple[str, tuple[str, ...]], ...] = ()
    superTransitions: tuple[SuperTransitionDecl, ...] = ()
    terminalStates: frozenset[str] | None = None  # None: from transitions
    timers: tuple[tuple[str, str, str], ...] = ()  # (owner, timer, input fired)

    @property
    def terminal(self) -> frozenset[str]:
        if self.terminalStates is not None:
            return self.terminalStates
        leaving = {t.state for t in self.transitions if t.enter != t.state}
        return frozenset(s for s in self.states if s not in leaving)

    def outwards(self, name: str) -> tuple[str, ...]:
        """The superstates a state or superstate is within, nearest first."""
        return dict(self.ancestors).get(name, ())

    def superstateOf(self, state: str) -> str | None:
        return next(iter(self.outwards(state)), None)

    def statesWithin(self, superstate: str) -> list[str]:
        """The states within ``superstate``, at any depth, in state order."""
        return [s for s in self.states if superstate in self.outwards(s)]

    def timersFiring(self, origin: str, input: str) -> list[str]:
        """
        The timers whose running out is ``input`` on an edge from ``origin``:
        those of ``origin``, of the superstates it is within, and (for a
        superstate) of what is within it.
        """
        around = {origin, *self.outwards(origin)}
        inside = {name for name, outer in self.ancestors if origin in outer}
        return [
            name
            for owner, name, fires in self.timers
            if fires == input and (owner in around or owner in inside)
        ]


def _shortName(qualified: str) -> str:
    return qualified.rsplit(".", 1)[-1]


def chartOf(cls: type) -> Chart:
    """
    The chart of ``cls``: a `StateMachine` or any plain Automat class.

    @raise NoMachineError: if ``cls`` is neither.
    """
    if isinstance(cls, type) and issubclass(cls, StateMachine) and cls.blueprint.states:
        return _chartOfBlueprint(cls)
    return _chartOfAutomat(cls)


def _chartOfBlueprint(cls: type[StateMachine]) -> Chart:
    blueprint = cls.blueprint
    base = _nearestStatefulBase(cls)
    states = {name: i for i, name in enumerate(blueprint.states)}
    inputs = {name: i for i, name in enumerate(blueprint.inputs)}
    transitions = sorted(
        (t for t in blueprint.transitions.values() if t.via is None),
        key=lambda t: (states[t.state], inputs[t.input]),
    )
    # A superstate's transition is drawn if some state within inherits it.
    inherited = blueprint.heirs()
    supers = {name: i for i, name in enumerate(blueprint.superstates)}
    superTransitions = sorted(
        (t for k, t in blueprint.superTransitions.items() if k in inherited),
        key=lambda t: (supers[t.superstate], inputs[t.input]),
    )
    added: frozenset[str] = frozenset()
    if base is not None:
        added = frozenset(s for s in blueprint.states if s not in base.blueprint.states)
    return Chart(
        title=cls.__name__,
        initial=blueprint.initial,
        states=tuple(blueprint.states),
        added=added,
        transitions=tuple(transitions),
        parent=base.__name__ if base is not None else None,
        superstates=tuple(blueprint.superstates.values()),
        ancestors=tuple(
            (name, tuple(blueprint.ancestorsOf(name)))
            for name in [*blueprint.states, *blueprint.superstates]
        ),
        superTransitions=tuple(superTransitions),
        terminalStates=blueprint.terminal,
        timers=tuple(
            (owner, decl.name or owner, decl.fires)
            for owner, decl in blueprint.timers.items()
            if decl.after is not None and decl.fires is not None
        ),
    )


def _nearestStatefulBase(cls: type) -> type[StateMachine] | None:
    for base in cls.__mro__[1:]:
        if issubclass(base, StateMachine) and base.blueprint.states:
            return base
    return None


class NoMachineError(TypeError):
    """What `chartOf` raises for a class that holds no machine to draw."""


def _findMachine(cls: type) -> MethodicalMachine:
    for klass in cls.__mro__:
        for value in vars(klass).values():
            if isinstance(value, MethodicalMachine):
                return value
    raise NoMachineError(f"{cls!r} has no MethodicalMachine")


def _chartOfAutomat(cls: type) -> Chart:
    machine = _findMachine(cls)
    order: dict[str, int] = {}
    inputOrder: dict[str, int] = {}
    for klass in reversed(cls.__mro__):
        for value in vars(klass).values():
            kind = automat.kindOf(value)
            if kind not in ("state", "input") or not automat.belongsTo(value, machine):
                continue
            names = order if kind == "state" else inputOrder
            names.setdefault(automat.nameOf(value), len(names))
    transitions = []
    for t in automat.transitionsOf(machine):
        for name in (t.state, t.enter):
            order.setdefault(name, len(order) + 10_000)  # not in any class body
        transitions.append(
            TransitionDecl(
                state=t.state,
                input=t.input,
                enter=t.enter,
                outputs=t.outputs,
                declaredBy=cls.__name__,
            )
        )
    transitions.sort(
        key=lambda t: (order[t.state], inputOrder.get(t.input, 1 << 30), t.input)
    )
    initialName = automat.initialStateOf(machine)
    if initialName is not None:
        order.setdefault(initialName, len(order) + 10_000)
    states = tuple(sorted(order, key=lambda s: (order[s], s)))
    return Chart(
        title=cls.__name__,
        initial=initialName,
        states=states,
        added=frozenset(),
        transitions=tuple(transitions),
    )


def _input(chart: Chart | None, origin: str, input: str) -> str:
    """An input as an edge shows it: with the timers that fire it there."""
    timers = chart.timersFiring(origin, input) if chart is not None else []
    return f"{'/'.join(timers)}: {input}" if timers else input


def _label(t: TransitionDecl, chart: Chart | None = None) -> str:
    shown = _input(chart, t.state, t.input)
    return f"{shown} / {', '.join(t.outputs)}" if t.outputs else shown


# -- DOT ----------------------------------------------------------------------


def _dotString(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _edgeGroups(chart: Chart) -> Iterator[tuple[str, str, list[TransitionDecl]]]:
    groups: dict[tuple[str, str], list[TransitionDecl]] = {}
    for t in chart.transitions:
        groups.setdefault((t.state, t.enter), []).append(t)
    for (start, end), ts in groups.items():
        yield start, end, ts


def _superLabel(chart: Chart, t: SuperTransitionDecl, stays: bool) -> str:
    label = _input(chart, t.superstate, t.input)
    if not stays and t.enter is not None:
        label += f" -> {t.enter}"
    return f"{label} / {', '.join(t.outputs)}" if t.outputs else label


def _isInside(chart: Chart, t: SuperTransitionDecl) -> bool:
    """Whether ``t`` stays, or enters a state within its own superstate."""
    return t.enter is None or t.enter in chart.statesWithin(t.superstate)


def toDot(chart: Chart) -> str:
    ids = {name: f"s{i}" for i, name in enumerate(chart.states)}
    title = chart.title
    if chart.parent is not None:
        title += f" (extends {chart.parent}; filled states are added)"
    compound = ", compound=true" if chart.superstates else ""
    lines = [
        f"digraph {_dotString(chart.title)} {{",
        "  graph [rankdir=LR, labelloc=t, fontname=Helvetica,"
        f" label={_dotString(title)}{compound}];",
        "  node [shape=box, style=rounded, fontname=Helvetica];",
        "  edge [fontname=Helvetica, fontsize=10];",
    ]
    if chart.initial is not None:
        lines.append('  start [shape=point, width=0.15, label=""];')
    terminal = chart.terminal

    def node(name: str, indent: str) -> str:
        attributes = [f"label={_dotString(name)}"]
        if name in terminal:
            attributes.append("peripheries=2")
        if name in chart.added:
            attributes.append(f'style="rounded,filled", fillcolor="{ADDED_FILL}"')
        return f"{indent}{ids[name]} [{', '.join(attributes)}];"

    def container(superstate: str | None, indent: str) -> None:
        for name in chart.states:
            if chart.superstateOf(name) == superstate:
                lines.append(node(name, indent))
        for decl in chart.superstates:
            if decl.within != superstate or not chart.statesWithin(decl.name):
                continue
            inside = [
                _superLabel(chart, t, t.enter is None)
                for t in chart.superTransitions
                if t.superstate == decl.name and _isInside(chart, t)
            ]
            label = "\\l".join(_dotString(text)[1:-1] for text in [decl.name, *inside])
            lines.append(f"{indent}subgraph cluster_{decl.name} {{")
            lines.append(
                f'{indent}  graph [label="{label}\\l", labeljust=l, '
                'style="rounded,dashed", fontsize=10];'
            )
            container(decl.name, indent + "  ")
            lines.append(f"{indent}}}")

    container(None, "  ")
    if chart.initial is not None:
        lines.append(f"  start -> {ids[chart.initial]};")
    for start, end, transitions in _edgeGroups(chart):
        label = "\\l".join(_dotString(_label(t, chart))[1:-1] for t in transitions)
        label += "\\l"
        lines.append(f'  {ids[start]} -> {ids[end]} [label="{label}"];')
    groups: dict[tuple[str, str], list[SuperTransitionDecl]] = {}
    for t in chart.superTransitions:
        if not _isInside(chart, t) and chart.statesWithin(t.superstate):
            assert t.enter is not None
            groups.setdefault((t.superstate, t.enter), []).append(t)
    for (superstate, end), supers in groups.items():
        anchor = ids[chart.statesWithin(superstate)[0]]
        label = "\\l".join(
            _dotString(_superLabel(chart, t, True))[1:-1] for t in supers
        )
        cluster = f"cluster_{superstate}"
        lines.append(f'  {anchor} -> {ids[end]} [ltail={cluster}, label="{label}\\l"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- Mermaid --------------------------------------------------------------------

_MERMAID_SAFE = re.compile(r"[A-Za-z0-9_ ,./()\-]")


def _mermaidText(text: str) -> str:
    return "".join(c if _MERMAID_SAFE.fullmatch(c) else f"#{ord(c)};" for c in text)


# Words a Mermaid state diagram reads as its own: not usable as a state id.
_MERMAID_WORDS = frozenset(
    [
        "state",
        "note",
        "direction",
        "class",
        "classDef",
        "end",
        "as",
        "style",
        "click",
        "accTitle",
        "accDescr",
        "left",
        "right",
        "of",
        "hide",
        "scale",
    ]
)


def _mermaidId(superstate: str) -> str:
    """A composite state's id, shown as its name; never a keyword or ``sN``."""
    if superstate in _MERMAID_WORDS or re.fullmatch(r"s\d+", superstate):
        return f"super_{superstate}"
    return superstate


def toMermaid(chart: Chart) -> str:
    ids = {name: f"s{i}" for i, name in enumerate(chart.states)}
    lines = ["stateDiagram-v2"]
    if chart.parent is not None:
        lines.append(
            f"    %% {chart.title} extends {chart.parent}; added states are highlighted"
        )

    def container(superstate: str | None, indent: str) -> None:
        for name in chart.states:
            if chart.superstateOf(name) == superstate:
                lines.append(f'{indent}state "{_mermaidText(name)}" as {ids[name]}')
        for decl in chart.superstates:
            if decl.within == superstate and chart.statesWithin(decl.name):
                lines.append(f"{indent}state {_mermaidId(decl.name)} {{")
                container(decl.name, indent + "    ")
                lines.append(f"{indent}}}")

    container(None, "    ")
    if chart.initial is not None:
        lines.append(f"    [*] --> {ids[chart.initial]}")
    edges = [(ids[t.state], ids[t.enter], _label(t, chart)) for t in chart.transitions]
    for t in chart.superTransitions:
        if chart.statesWithin(t.superstate):
            source = _mermaidId(t.superstate)
            target = source if t.enter is None else ids[t.enter]
            edges.append((source, target, _superLabel(chart, t, True)))
    # Mermaid draws one self-transition per state (the last, if given more):
    # a state's self-transitions go on one edge, a line each.
    loops: dict[str, list[str]] = {}
    for source, target, label in edges:
        if source == target:
            loops.setdefault(source, []).append(_mermaidText(label))
    for source, target, label in edges:
        if source != target:
            lines.append(f"    {source} --> {target} : {_mermaidText(label)}")
        elif source in loops:
            lines.append(
                f"    {source} --> {source} : {'<br/>'.join(loops.pop(source))}"
            )
    for name in chart.states:
        if name in chart.terminal:
            lines.append(f"    {ids[name]} --> [*]")
    if chart.added:
        lines.append(f"    classDef added fill:{ADDED_FILL}")
        added = ",".join(ids[name] for name in chart.states if name in chart.added)
        lines.append(f"    class {added} added")
    return "\n".join(lines) + "\n"
