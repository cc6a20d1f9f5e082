"""
The one module that reads Automat's internals; nothing else in txmachines does.

Automat's public API declares a ``MethodicalMachine`` (``state``, ``input``,
``output``, ``upon``) and runs it, but offers no way to read a declaration
back.  The engine must read it back, to merge a class's declarations into its
parent's and compile them.  Everything it needs is here, as plain data:

- what a class-body object is (`kindOf`), its name and method, and whether
  it belongs to a given machine (`belongsTo`);
- a machine's transitions (`transitionsOf`, through the public
  ``Automaton.allTransitions()``) and initial state (`initialStateOf`);
- the state an instance is in on Automat's own runtime (`automatStateOf`),
  for the differential tests' reference runtime.

Every attribute relied on is checked when this module is imported: an
Automat without one fails at import with a message naming the supported
versions, instead of failing later in some class body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs
from automat import MethodicalMachine
from automat._methodical import MethodicalInput, MethodicalOutput, MethodicalState

SUPPORTED = "Automat 24.8 to 25.x"

__all__ = [
    "SUPPORTED",
    "DeclaredTransition",
    "automatStateOf",
    "belongsTo",
    "initialStateOf",
    "kindOf",
    "methodOf",
    "nameOf",
    "serializedOf",
    "transitionsOf",
]


def _checkAutomat() -> None:
    """Fail now, clearly, if this Automat lacks what this module reads."""

    def m() -> None:
        "a state, an input"

    machine = MethodicalMachine()
    state = machine.state(initial=True)(m)
    needed = {
        "MethodicalMachine._automaton": lambda: machine._automaton.allTransitions,
        "MethodicalMachine._symbol": lambda: machine._symbol,
        "Automaton.initialState": lambda: machine._automaton.initialState,
        "MethodicalState.machine": lambda: state.machine,
        "MethodicalState.method": lambda: state.method,
        "MethodicalState.serialized": lambda: state.serialized,
        "MethodicalInput.automaton": lambda: machine.input()(m).automaton,
        "MethodicalInput.collectors": lambda: machine.input()(m).collectors,
        "MethodicalOutput.machine": lambda: machine.output()(m).machine,
    }
    for name, read in needed.items():
        try:
            read()
        except AttributeError:
            raise ImportError(
                f"txmachines supports {SUPPORTED}; the installed Automat has no "
                f"{name}, which txmachines needs to read declarations back"
            ) from None


_checkAutomat()


@attrs.frozen
class DeclaredTransition:
    """One ``state.upon(input, enter=..., outputs=[...])``, by name."""

    state: str
    input: str
    enter: str
    outputs: tuple[str, ...]
    collector: Callable[[Iterable[Any]], Any]


def kindOf(value: object) -> str | None:
    """``"state"``, ``"input"``, ``"output"``, or None for anything else."""
    if isinstance(value, MethodicalState):
        return "state"
    if isinstance(value, MethodicalInput):
        return "input"
    if isinstance(value, MethodicalOutput):
        return "output"
    return None


def methodOf(declared: Any) -> Callable[..., Any]:
    """The function a state, input or output was declared with."""
    method: Callable[..., Any] = declared.method
    return method


def nameOf(declared: Any) -> str:
    """The name of a state, input or output."""
    return methodOf(declared).__name__


def serializedOf(state: Any) -> Any:
    """A state's ``serialized=`` value."""
    return state.serialized


def belongsTo(declared: Any, machine: MethodicalMachine) -> bool:
    """Whether a state, input or output was declared by ``machine``."""
    if isinstance(declared, MethodicalInput):
        return declared.automaton is machine._automaton
    return getattr(declared, "machine", None) is machine


def initialStateOf(machine: MethodicalMachine) -> str | None:
    """The name of ``machine``'s initial state, if it has one."""
    initial = machine._automaton.initialState
    return nameOf(initial) if isinstance(initial, MethodicalState) else None


def transitionsOf(machine: MethodicalMachine) -> list[DeclaredTransition]:
    """``machine``'s transitions, sorted by state and input name."""
    found = [
        DeclaredTransition(
            state=nameOf(start),
            input=nameOf(inp),
            enter=nameOf(end),
            outputs=tuple(nameOf(o) for o in outs),
            collector=inp.collectors[start],
        )
        for start, inp, end, outs in machine._automaton.allTransitions()
    ]
    return sorted(found, key=lambda t: (t.state, t.input))


def transitionObjectsOf(machine: MethodicalMachine) -> list[tuple[Any, ...]]:
    """``(state, input, enter, outputs)`` objects, for reading a class body."""
    return sorted(
        machine._automaton.allTransitions(),
        key=lambda t: (nameOf(t[0]), nameOf(t[1])),
    )


def automatStateOf(instance: object, machine: MethodicalMachine) -> str | None:
    """
    The state ``instance`` is in on Automat's own runtime of ``machine``, or
    None if no input has run on it yet (so it is in the initial state).
    """
    transitioner = vars(instance).get(machine._symbol)
    if transitioner is None:
        return None
    return nameOf(transitioner._state)
