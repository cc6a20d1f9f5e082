"""
A machine as plain, ordered data.

A `Blueprint` is what `declaring` reads out of a class body and merges down
a class hierarchy, what `compiler` turns into tables, and what diagrams and
tests read.  Names, not objects, identify states, superstates, inputs and
outputs, which is what lets a subclass refer to what it inherits without
touching its parent.

Superstates, and how a state inherits what they handle
=====================================================

What a class declares is kept as declared: transitions on states
(``stateTransitions``), transitions on superstates (``superTransitions``)
and rejections on purpose.  What runs is ``transitions``, the *flat* table
derived from them when the blueprint is made: one entry per (state, input)
pair that some declaration handles, so the compiled dispatcher never knows
superstates exist and an event costs what it costs without them.

For a state ``S`` and an input ``I`` the flat table holds what the first of
these finds, walking from ``S`` outwards through the superstates it is
within, nearest first (SCXML's and UML's rule: the innermost wins):

1. at ``S`` itself: a transition declared on ``S`` for ``I``;
2. at each superstate ``P`` on the way out: a transition declared on ``P``
   for ``I`` (``enter=None`` on a superstate means: stay in ``S``);

and a rejection that names a level and ``I`` (neither by ``ANY``) stops the
walk there: ``I`` is rejected in ``S``, with that rejection's reason.  So a
state's own declaration, or its own rejection, wins over its superstates';
which *class* declared something does not matter, only how near it is to the
state.  Where the walk finds nothing, ``I`` is rejected in ``S``: on purpose
if some rejection covers it with ``ANY`` (the first such, in declaration
order), else as a pair nobody decided about.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs

__all__ = [
    "ANY",
    "Blueprint",
    "RejectionDecl",
    "RequirementDecl",
    "StateDecl",
    "SuperTransitionDecl",
    "SuperstateDecl",
    "TimerDecl",
    "TransitionDecl",
]

ANY = "*"  # in a rejection: every state, or every input


@attrs.frozen
class StateDecl:
    """
    A state, by name, the class that first declared it, and the superstate
    it is within (None: at the top).
    """

    name: str
    method: Callable[..., Any]
    declaredBy: str
    serialized: Any = None
    within: str | None = None
    terminal: bool = False  # declared so: the machine's work is done there


@attrs.frozen
class SuperstateDecl:
    """
    A composite state: a name for a group of states (and superstates) that
    handle the inputs it handles alike.  A machine is never *in* a
    superstate itself, only in one of the states within it.
    """

    name: str
    method: Callable[..., Any]
    declaredBy: str
    within: str | None = None


@attrs.frozen
class TransitionDecl:
    """
    Upon ``input`` in ``state``, enter ``enter`` and run ``outputs``.  In the
    flat table, ``via`` names the superstate whose declaration this is (None:
    declared on the state itself).
    """

    state: str
    input: str
    enter: str
    outputs: tuple[str, ...]
    declaredBy: str
    collector: Callable[[Iterable[Any]], Any] = list
    via: str | None = None


@attrs.frozen
class SuperTransitionDecl:
    """
    Upon ``input`` in any state within ``superstate``, enter ``enter`` (None:
    stay in that state) and run ``outputs``, unless the state, or a
    superstate nearer to it, declares or rejects ``input`` itself.
    """

    superstate: str
    input: str
    enter: str | None
    outputs: tuple[str, ...]
    declaredBy: str
    collector: Callable[[Iterable[Any]], Any] = list


@attrs.frozen
class RejectionDecl:
    """
    The pairs of ``states`` x ``inputs`` (either may be ``(ANY,)``) that are
    rejected on purpose, and why.  ``states`` may name superstates: the
    rejection then holds in every state within.  A declared transition wins
    over it (see the rule in this module's docstring).
    """

    states: tuple[str, ...]
    inputs: tuple[str, ...]
    why: str
    declaredBy: str

    def covers(self, state: str, input: str) -> bool:
        return (self.states == (ANY,) or state in self.states) and (
            self.inputs == (ANY,) or input in self.inputs
        )

    def names(self, state: str, input: str) -> bool:
        """Whether this names both ``state`` and ``input`` (neither by ANY)."""
        return state in self.states and input in self.inputs


@attrs.frozen
class RequirementDecl:
    """
    Every state that is not terminal handles each of ``inputs`` (by a
    transition, or a rejection on purpose); following any of ``ends`` from
    a state leads to a terminal state, or to one that rejects it on purpose.
    See `liveness`.
    """

    inputs: tuple[str, ...]
    ends: tuple[str, ...]
    why: str
    declaredBy: str


@attrs.frozen
class TimerDecl:
    """
    While the machine is in ``owner`` (a state or superstate), a timer of
    ``after`` seconds (an attribute's name or a number; None: no timer)
    runs, and fires the input ``fires``.  See `statetimers`.
    """

    owner: str
    after: str | float | None
    fires: str | None
    declaredBy: str
    name: str = ""  # the class attribute that declared it: what diagrams show


@attrs.frozen
class Blueprint:
    """
    A machine as plain, ordered data: what a class's automaton is built from,
    and what diagrams and tests read.  ``transitions`` is the flat table
    (see the rule in this module's docstring), derived from the rest.
    """

    initial: str | None
    states: Mapping[str, StateDecl]
    inputs: Mapping[str, Callable[..., Any]]
    outputs: Mapping[str, Callable[..., Any]]
    stateTransitions: Mapping[tuple[str, str], TransitionDecl]
    rejections: tuple[RejectionDecl, ...] = ()
    superstates: Mapping[str, SuperstateDecl] = attrs.field(factory=dict)
    superTransitions: Mapping[tuple[str, str], SuperTransitionDecl] = attrs.field(
        factory=dict
    )
    requirements: tuple[RequirementDecl, ...] = ()
    timers: Mapping[str, TimerDecl] = attrs.field(factory=dict)
    transitions: Mapping[tuple[str, str], TransitionDecl] = attrs.field(
        init=False, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "transitions", _flatten(self))

    @classmethod
    def empty(cls) -> Blueprint:
        return cls(initial=None, states={}, inputs={}, outputs={}, stateTransitions={})

    def transitionsFrom(self, state: str) -> Iterator[TransitionDecl]:
        return (t for (s, _), t in self.transitions.items() if s == state)

    def ancestorsOf(self, name: str) -> list[str]:
        """The superstates ``name`` (a state or superstate) is within, nearest first."""
        decl = self.states.get(name) or self.superstates.get(name)
        found = []
        within = decl.within if decl is not None else None
        while within is not None:
            found.append(within)
            within = self.superstates[within].within
        return found

    def statesWithin(self, superstate: str) -> list[str]:
        """The states within ``superstate``, at any depth, in declaration order."""
        return [s for s in self.states if superstate in self.ancestorsOf(s)]

    def heirs(self) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """
        For each superstate transition some state inherits, keyed as in
        ``superTransitions``: the (state, input) pairs of the flat table that
        run it.
        """
        found: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for key, t in self.transitions.items():
            if t.via is not None:
                found.setdefault((t.via, t.input), []).append(key)
        return found

    @property
    def terminal(self) -> frozenset[str]:
        """The states no transition leaves for another state."""
        leaving = {t.state for t in self.transitions.values() if t.enter != t.state}
        return frozenset(s for s in self.states if s not in leaving)

    def serializedOf(self, state: str) -> Any:
        """
        What a serializer gets for ``state``: its ``serialized=`` value, or
        its name if it was declared without one.
        """
        serialized = self.states[state].serialized
        return state if serialized is None else serialized

    def stateSerializedAs(self, value: Any) -> str:
        """The state whose `serializedOf` is ``value``; KeyError if none."""
        for name in self.states:
            if self.serializedOf(name) == value:
                return name
        raise KeyError(f"no state is serialized as {value!r}")

    def rejectionOf(self, state: str, input: str) -> str | None:
        """Why ``input`` in ``state`` is rejected on purpose, if it is."""
        if (state, input) in self.transitions:
            return None
        levels = [state, *self.ancestorsOf(state)]
        for level in levels:
            for rejection in self.rejections:
                if rejection.names(level, input):
                    return rejection.why
        for rejection in self.rejections:
            if any(rejection.covers(level, input) for level in levels):
                return rejection.why
        return None


def _flatten(blueprint: Blueprint) -> dict[tuple[str, str], TransitionDecl]:
    """The flat table: each state's transition for each input, if any."""
    flat: dict[tuple[str, str], TransitionDecl] = {}
    explicit = {
        (state, input)
        for r in blueprint.rejections
        for state in r.states
        for input in r.inputs
        if ANY not in (state, input)
    }
    for state in blueprint.states:
        outwards = blueprint.ancestorsOf(state)
        for input in blueprint.inputs:
            own = blueprint.stateTransitions.get((state, input))
            if own is not None:
                flat[state, input] = own
                continue
            if (state, input) in explicit:
                continue
            for level in outwards:
                found = blueprint.superTransitions.get((level, input))
                if found is not None:
                    flat[state, input] = TransitionDecl(
                        state=state,
                        input=input,
                        enter=state if found.enter is None else found.enter,
                        outputs=found.outputs,
                        declaredBy=found.declaredBy,
                        collector=found.collector,
                        via=level,
                    )
                    break
                if (level, input) in explicit:
                    break
    return flat
