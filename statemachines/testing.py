"""
Helpers for testing machines, for this project's tests and for users'.

- `reachableStates` and `rejectedPairs` read a machine's `Blueprint`: which
  states its inputs can reach from the initial state, and which (state,
  input) pairs it rejects (everything it does not declare; the framework's
  rule).  A test can pin both, so a change to the table is a visible change.
- `inputSequences` is a Hypothesis strategy of input sequences for a
  machine, to drive it with arbitrary events (Hypothesis is imported only
  when it is called).
- `TransitionRecorder` records the transitions machines take, through the
  tracing of `StateMachine.setTracing`, and `uncoveredTransitions` names the
  declared transitions that no recorded run took: transition coverage, which
  Automat itself does not offer (automat#38).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, cast

import attrs
from twisted.logger import ILogObserver, LogEvent, globalLogPublisher

from .perclass import StateMachine

__all__ = [
    "Transition",
    "TransitionRecorder",
    "inputSequences",
    "reachableStates",
    "rejectedPairs",
    "uncoveredTransitions",
]


@attrs.frozen
class Transition:
    """One transition a machine took."""

    machineClass: str
    state: str
    input: str
    enter: str


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

    It turns tracing on for those machines and back off afterwards.
    """

    def __init__(self, *machines: StateMachine) -> None:
        self.machines = list(machines)
        self.transitions: list[Transition] = []
        self._ids = {id(m) for m in machines}
        self._was: list[bool] = []

    def watch(self, machine: StateMachine) -> None:
        """Record ``machine`` too, from now on."""
        self.machines.append(machine)
        self._ids.add(id(machine))
        self._was.append(machine.tracing)
        machine.setTracing(True)

    def _observe(self, event: LogEvent) -> None:
        if event.get("log_namespace") == "txmachines.trace" and (
            event["machineId"] in self._ids
        ):
            self.transitions.append(
                Transition(
                    event["machineClass"],
                    event["oldState"],
                    event["input"],
                    event["newState"],
                )
            )

    def __enter__(self) -> TransitionRecorder:
        machines, self.machines = self.machines, []
        for machine in machines:
            self.watch(machine)
        globalLogPublisher.addObserver(cast(ILogObserver, self._observe))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        globalLogPublisher.removeObserver(cast(ILogObserver, self._observe))
        for machine, was in zip(self.machines, self._was, strict=True):
            machine.setTracing(was)


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
