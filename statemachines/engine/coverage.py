"""
Which transitions machines take: `TransitionRecorder` records the transitions
of given machines, `uncoveredTransitions` names the (state, input) pairs none
of them took, and `TransitionCoverage` does it for every machine a whole test
run creates, per class: transition coverage, which Automat itself does not
offer (automat#38).  Both observe the traced tables (see `observers`),
without logging.

What is counted is what was *declared*: each transition declared on a state
is one `Edge`, and so is each transition declared on a superstate, however
many states within inherit it; it counts as taken once any of them took it,
and the report names the states within that never did.  The report
separates, per class, its *own* edges (declared in its body, including
those replacing a parent's) from the ones it *inherits* (`ownTransitions`),
and names each edge never taken with its target::

    statemachines.greeting.GreetingMachine: 9/24
        own (declared in GreetingMachine): 5/6
            never: naming --nameRejectedTooOften--> closing
            ...
        inherited: 4/18
            never: open --timeout--> closing (from ConnectionMachine)
            partly: open --secured--> (stays) (from ConnectionMachine): never in naming
            ...
    transition coverage: 9/24 declared transitions taken (37.5%) in 1 machine classes

A run that created no machine (of the classes included) says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType

import attrs

from .blueprint import Blueprint
from .machine import StateMachine
from .observers import OBSERVERS

__all__ = [
    "Edge",
    "Transition",
    "TransitionCoverage",
    "TransitionRecorder",
    "declaredEdges",
    "ownTransitions",
    "uncoveredTransitions",
]


@attrs.frozen
class Edge:
    """
    One declared transition: on ``origin`` (a state, or a superstate if
    ``superstate``), upon ``input``, into ``enter`` (None: stays); ``pairs``
    are the (state, input) pairs of the flat table that run it.
    """

    origin: str
    input: str
    enter: str | None
    declaredBy: str
    superstate: bool
    pairs: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        return f"{self.origin} --{self.input}--> {self.enter or '(stays)'}"


def declaredEdges(cls: type[StateMachine]) -> list[Edge]:
    """
    ``cls``'s declared transitions that run somewhere: those on states,
    then those on superstates that some state within inherits.
    """
    blueprint = cls.blueprint
    edges = [
        Edge(t.state, t.input, t.enter, t.declaredBy, False, (key,))
        for key, t in blueprint.transitions.items()
        if t.via is None
    ]
    inheriting = blueprint.heirs()
    for key, st in blueprint.superTransitions.items():
        if key in inheriting:
            edges.append(
                Edge(
                    st.superstate,
                    st.input,
                    st.enter,
                    st.declaredBy,
                    True,
                    tuple(inheriting[key]),
                )
            )
    return edges


def _parentBlueprint(cls: type[StateMachine]) -> Blueprint | None:
    return next(
        (vars(k)["blueprint"] for k in cls.__mro__[1:] if "blueprint" in vars(k)),
        None,
    )


def ownTransitions(cls: type[StateMachine]) -> list[tuple[str, str]]:
    """
    The (state or superstate, input) keys of the transitions declared in
    ``cls``'s own body (new ones, and ones replacing a parent's); the others
    it inherits.
    """
    parent = _parentBlueprint(cls)
    blueprint = cls.blueprint
    own = []
    for edge in declaredEdges(cls):
        key = (edge.origin, edge.input)
        if edge.superstate:
            mine: object = blueprint.superTransitions[key]
            theirs: object = parent.superTransitions.get(key) if parent else None
        else:
            mine = blueprint.stateTransitions[key]
            theirs = parent.stateTransitions.get(key) if parent else None
        if mine is not theirs:
            own.append(key)
    return own


@attrs.frozen
class Transition:
    """One transition a machine took."""

    machineClass: str
    state: str
    input: str
    enter: str


class TransitionRecorder:
    """
    Records every transition of the given machines while in use::

        with TransitionRecorder(machine) as recorder:
            machine.messageReceived(b"hi")
        recorder.transitions   # [Transition(...), ...]

    The machines run on their traced tables meanwhile; nothing is logged.
    """

    def __init__(self, *machines: StateMachine) -> None:
        self.transitions: list[Transition] = []
        self._pending = list(machines)
        self._watched: dict[int, StateMachine] = {}
        self._active = False

    def watch(self, machine: StateMachine) -> None:
        """Record ``machine`` too, from now on."""
        if not self._active:
            self._pending.append(machine)
        elif id(machine) not in self._watched:
            self._watched[id(machine)] = machine
            machine._txmWatch(+1)

    def _observe(
        self,
        machine: StateMachine,
        old: str,
        input: str,
        new: str,
        outputs: tuple[str, ...],
    ) -> None:
        if id(machine) in self._watched:
            self.transitions.append(Transition(type(machine).__name__, old, input, new))

    def __enter__(self) -> TransitionRecorder:
        self._active = True
        OBSERVERS.add(self._observe)
        pending, self._pending = self._pending, []
        for machine in pending:
            self.watch(machine)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        OBSERVERS.remove(self._observe)
        for machine in self._watched.values():
            machine._txmWatch(-1)
        self._watched.clear()
        self._active = False


class TransitionCoverage:
    """
    Which declared transitions a whole run took, for every machine class
    created while it is on (automat#38)::

        coverage = TransitionCoverage()
        coverage.start()
        ...                       # run the tests
        coverage.stop()
        print(coverage.report())

    ``include`` picks the classes to report (default: all); ``scope`` says
    which, in words, for the report (``" under statemachines.echo"``).
    Every machine created while it is on counts, even one that takes no
    transition.  Machines created before `start` are seen only if they never
    took a transition before.  `trialcoverage` runs one over a trial run.
    """

    def __init__(
        self,
        include: Callable[[type[StateMachine]], bool] | None = None,
        scope: str = "",
    ):
        self.include = include or (lambda cls: True)
        self.scope = scope
        self.taken: dict[type[StateMachine], set[tuple[str, str]]] = {}
        self._running = False

    def start(self) -> None:
        if not self._running:
            self._running = True
            OBSERVERS.add(self._observe)
            OBSERVERS.creationObservers.append(self._created)
            OBSERVERS.observeEverything(True)

    def stop(self) -> None:
        if self._running:
            self._running = False
            OBSERVERS.observeEverything(False)
            OBSERVERS.creationObservers.remove(self._created)
            OBSERVERS.remove(self._observe)

    def _seen(self, cls: type[StateMachine]) -> set[tuple[str, str]] | None:
        taken = self.taken.get(cls)
        if taken is None and self.include(cls):
            taken = self.taken[cls] = set()
        return taken

    def _created(self, machine: StateMachine) -> None:
        self._seen(type(machine))

    def _observe(
        self,
        machine: StateMachine,
        old: str,
        input: str,
        new: str,
        outputs: tuple[str, ...],
    ) -> None:
        taken = self._seen(type(machine))
        if taken is not None:
            taken.add((old, input))

    def uncovered(self, cls: type[StateMachine]) -> list[tuple[str, str]]:
        """The (state, input) pairs ``cls`` handles that the run never took."""
        taken = self.taken.get(cls, set())
        return [key for key in cls.blueprint.transitions if key not in taken]

    def report(self) -> str:
        """
        Per class: declared transitions taken of all, then the same for its
        own and its inherited ones, each followed by what was never taken.
        """
        if not self.taken:
            return (
                f"transition coverage: no machine{self.scope} was created in "
                "this run, so there is no transition to count"
            )
        lines = []
        declared = covered = 0
        classes = sorted(self.taken, key=lambda c: (c.__module__, c.__qualname__))
        for cls in classes:
            taken = self.taken[cls]
            edges = declaredEdges(cls)
            own = set(ownTransitions(cls))
            done = [e for e in edges if any(p in taken for p in e.pairs)]
            declared += len(edges)
            covered += len(done)
            name = f"{cls.__module__}.{cls.__qualname__}"
            lines.append(f"{name}: {len(done)}/{len(edges)}")
            for title, group in (
                (
                    f"own (declared in {cls.__name__})",
                    [e for e in edges if (e.origin, e.input) in own],
                ),
                ("inherited", [e for e in edges if (e.origin, e.input) not in own]),
            ):
                count = len([e for e in group if e in done])
                lines.append(f"    {title}: {count}/{len(group)}")
                for edge in group:
                    mine = (edge.origin, edge.input) in own
                    origin = "" if mine else f" (from {edge.declaredBy})"
                    missed = [s for s, i in edge.pairs if (s, i) not in taken]
                    if len(missed) == len(edge.pairs):
                        lines.append(f"        never: {edge.describe()}{origin}")
                    elif missed:
                        lines.append(
                            f"        partly: {edge.describe()}{origin}: never in "
                            + ", ".join(missed)
                        )
        percent = 100 * covered / declared if declared else 100.0
        lines.append(
            f"transition coverage: {covered}/{declared} declared transitions "
            f"taken ({percent:.1f}%) in {len(classes)} machine classes"
        )
        return "\n".join(lines)


def uncoveredTransitions(
    cls: type[StateMachine], taken: Iterable[Transition]
) -> list[tuple[str, str]]:
    """The (state, input) pairs ``cls`` handles that ``taken`` never took."""
    took = {(t.state, t.input) for t in taken if t.machineClass == cls.__name__}
    return [key for key in cls.blueprint.transitions if key not in took]
