"""
Helpers for testing machines, for this project's tests and for users'.

- `reachableStates` and `rejectedPairs` read a machine's `Blueprint`: which
  states its inputs can reach from the initial state, and which (state,
  input) pairs it rejects (everything it does not declare; the framework's
  rule).  `unhandledPairs` is the part of those no ``rejects(...)``
  declaration covers: the pairs nobody decided about.  A test can pin all
  three, so a change to the table is a visible change.
- `RecordingLink` and `RecordingDialer` stand in for a connection and a
  dialer, and `connected` gives a machine that has just connected to one.
  (`protocols.testing.Wire` drives a machine through its real adapter.)
- `inputSequences` is a Hypothesis strategy of input sequences for a
  machine, to drive it with arbitrary events (Hypothesis is imported only
  when it is called).
- `TransitionRecorder` records the transitions given machines take, and
  `uncoveredTransitions` names the declared transitions that none took.
  `TransitionCoverage` does it for every machine a whole test run creates
  and reports per class what was never taken: transition coverage, which
  Automat itself does not offer (automat#38).  Both observe the traced
  tables of `StateMachine.setTracing`, without logging.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import attrs
from twisted.internet.task import Clock

from .lifecycle import ConnectionMachine
from .perclass import (
    StateMachine,
    addTransitionObserver,
    observeEverything,
    removeTransitionObserver,
)

__all__ = [
    "RecordingDialer",
    "RecordingLink",
    "Transition",
    "TransitionCoverage",
    "TransitionRecorder",
    "inputSequences",
    "reachableStates",
    "rejectedPairs",
    "uncoveredTransitions",
    "connected",
    "unhandledPairs",
]


class RecordingLink:
    """A `Link` that records what the machine asked of it."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.errors: list[str] = []
        self.closing = False
        self.aborted = False

    def sendMessage(self, message: bytes) -> None:
        self.sent.append(message)

    def reportError(self, reason: str) -> None:
        self.errors.append(reason)

    def loseConnection(self) -> None:
        self.closing = True

    def abortConnection(self) -> None:
        self.aborted = True

    def describePeer(self) -> str:
        return "test-peer"


class RecordingDialer:
    """A `Dialer` that counts what a client machine asked of it."""

    def __init__(self) -> None:
        self.dials = 0
        self.cancels = 0

    def dial(self) -> None:
        self.dials += 1

    def cancelDial(self) -> None:
        self.cancels += 1


M = TypeVar("M", bound=ConnectionMachine)


def connected(machineClass: type[M], **options: Any) -> tuple[M, RecordingLink, Clock]:
    """
    A ``machineClass(clock, **options)`` that has just seen ``connectionMade``
    with a `RecordingLink`: the machine, the link, and the ``Clock``.
    """
    clock = Clock()
    machine = machineClass(clock, **options)
    link = RecordingLink()
    machine.connectionMade(link)
    return machine, link, clock


@attrs.frozen
class Transition:
    """One transition a machine took."""

    machineClass: str
    state: str
    input: str
    enter: str


def unhandledPairs(cls: type[StateMachine]) -> list[tuple[str, str]]:
    """
    Every (state, input) pair ``cls`` neither handles (a transition) nor
    rejects on purpose (`statemachines.rejects`), in declaration order: the
    pairs nobody decided about.  A test asserting it is empty keeps it so.
    """
    blueprint = cls.blueprint
    return [pair for pair in rejectedPairs(cls) if blueprint.rejectionOf(*pair) is None]


def reachableStates(cls: type[StateMachine]) -> list[str]:
    """The states ``cls`` can reach from its initial state, in declaration order."""
    blueprint = cls.blueprint
    seen = {blueprint.initial}
    frontier = [blueprint.initial]
    while frontier:
        state = frontier.pop()
        for t in blueprint.transitionsFrom(state or ""):
            if t.enter not in seen:
                seen.add(t.enter)
                frontier.append(t.enter)
    return [s for s in blueprint.states if s in seen]


def rejectedPairs(cls: type[StateMachine]) -> list[tuple[str, str]]:
    """Every (state, input) pair ``cls`` does not declare, in declaration order."""
    blueprint = cls.blueprint
    return [
        (state, input)
        for state in blueprint.states
        for input in blueprint.inputs
        if (state, input) not in blueprint.transitions
    ]


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
        addTransitionObserver(self._observe)
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
        removeTransitionObserver(self._observe)
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

    ``include`` picks the classes to report (default: all).  Machines created
    before `start` are seen only if they never took a transition before.
    `statemachines.trialcoverage` runs one over a trial run.
    """

    def __init__(self, include: Callable[[type[StateMachine]], bool] | None = None):
        self.include = include or (lambda cls: True)
        self.taken: dict[type[StateMachine], set[tuple[str, str]]] = {}
        self._running = False

    def start(self) -> None:
        if not self._running:
            self._running = True
            addTransitionObserver(self._observe)
            observeEverything(True)

    def stop(self) -> None:
        if self._running:
            self._running = False
            observeEverything(False)
            removeTransitionObserver(self._observe)

    def _observe(
        self,
        machine: StateMachine,
        old: str,
        input: str,
        new: str,
        outputs: tuple[str, ...],
    ) -> None:
        cls = type(machine)
        taken = self.taken.get(cls)
        if taken is None:
            if not self.include(cls):
                return
            taken = self.taken[cls] = set()
        taken.add((old, input))

    def uncovered(self, cls: type[StateMachine]) -> list[tuple[str, str]]:
        """The (state, input) pairs ``cls`` declares that the run never took."""
        taken = self.taken.get(cls, set())
        return [key for key in cls.blueprint.transitions if key not in taken]

    def report(self) -> str:
        """One line per class, taken of declared, then what was never taken."""
        lines = []
        declared = covered = 0
        classes = sorted(self.taken, key=lambda c: (c.__module__, c.__qualname__))
        for cls in classes:
            total = len(cls.blueprint.transitions)
            missing = self.uncovered(cls)
            declared += total
            covered += total - len(missing)
            name = f"{cls.__module__}.{cls.__qualname__}"
            lines.append(f"{name}: {total - len(missing)}/{total}")
            lines.extend(f"    never: {state} --{input}-->" for state, input in missing)
        percent = 100 * covered / declared if declared else 100.0
        lines.append(
            f"transition coverage: {covered}/{declared} declared transitions "
            f"taken ({percent:.1f}%) in {len(classes)} machine classes"
        )
        return "\n".join(lines)


def uncoveredTransitions(
    cls: type[StateMachine], taken: Iterable[Transition]
) -> list[tuple[str, str]]:
    """The (state, input) pairs ``cls`` declares that ``taken`` never took."""
    took = {(t.state, t.input) for t in taken if t.machineClass == cls.__name__}
    return [key for key in cls.blueprint.transitions if key not in took]


def inputSequences(
    cls: type[StateMachine],
    arguments: Mapping[str, Callable[[], tuple[Any, ...]]],
    maxSize: int = 20,
) -> Any:
    """
    A Hypothesis strategy of lists of ``(input name, arguments)`` for ``cls``.

    ``arguments`` maps the inputs that take arguments to a function that
    makes fresh ones for each call; inputs not in it are called without.
    Feed a sequence with ``getattr(machine, name)(*args)``.
    """
    from hypothesis import strategies as st

    names = list(cls.blueprint.inputs)
    return st.lists(
        st.sampled_from(names).map(
            lambda name: (name, arguments[name]() if name in arguments else ())
        ),
        max_size=maxSize,
    )
