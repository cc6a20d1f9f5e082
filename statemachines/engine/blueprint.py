"""
A machine as plain, ordered data.

A `Blueprint` is what `declaring` reads out of a class body and merges down
a class hierarchy, what `compiler` turns into tables, and what diagrams and
tests read.  Names, not objects, identify
states, inputs and outputs, which is what lets a subclass refer to what it
inherits without touching its parent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs

__all__ = [
    "ANY",
    "Blueprint",
    "RejectionDecl",
    "StateDecl",
    "TransitionDecl",
]

ANY = "*"  # in a rejection: every state, or every input


@attrs.frozen
class StateDecl:
    """A state, by name, and the class that first declared it."""

    name: str
    method: Callable[..., Any]
    declaredBy: str
    serialized: Any = None


@attrs.frozen
class TransitionDecl:
    """Upon ``input`` in ``state``, enter ``enter`` and run ``outputs``."""

    state: str
    input: str
    enter: str
    outputs: tuple[str, ...]
    declaredBy: str
    collector: Callable[[Iterable[Any]], Any] = list


@attrs.frozen
class RejectionDecl:
    """
    The pairs of ``states`` x ``inputs`` (either may be ``(ANY,)``) that are
    rejected on purpose, and why.  A declared transition wins over it.
    """

    states: tuple[str, ...]
    inputs: tuple[str, ...]
    why: str
    declaredBy: str

    def covers(self, state: str, input: str) -> bool:
        return (self.states == (ANY,) or state in self.states) and (
            self.inputs == (ANY,) or input in self.inputs
        )


@attrs.frozen
class Blueprint:
    """
    A machine as plain, ordered data: what a class's automaton is built from,
    and what diagrams and tests read.
    """

    initial: str | None
    states: Mapping[str, StateDecl]
    inputs: Mapping[str, Callable[..., Any]]
    outputs: Mapping[str, Callable[..., Any]]
    transitions: Mapping[tuple[str, str], TransitionDecl]
    rejections: tuple[RejectionDecl, ...] = ()

    @classmethod
    def empty(cls) -> Blueprint:
        return cls(initial=None, states={}, inputs={}, outputs={}, transitions={})

    def transitionsFrom(self, state: str) -> Iterator[TransitionDecl]:
        return (t for (s, _), t in self.transitions.items() if s == state)

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
        for rejection in self.rejections:
            if rejection.covers(state, input):
                return rejection.why
        return None
