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
  for the differential tests' reference runtime;
- which methods a class body made with ``@machine.serializer()`` and
  ``@machine.unserializer()`` (`persistenceOf`): Automat's versions read and
  set Automat's own per-instance state, which the compiled dispatcher never
  uses, so `building` replaces them with versions that read and set the
  state the machine runs in.

It also makes the states `methodical.Machine` declares (`newState`): Automat's
``upon()`` compares the annotations of an input and its outputs, so an
output annotated ``message: bytes`` in a user's module does not match an
inherited input whose annotation is the string ``"bytes"`` (a module with
``from __future__ import annotations``).  Those states, and every stand-in
`inherited` makes, match outputs to inputs by parameter name only.

Every attribute relied on is checked when this module is imported: an
Automat without one fails at import with a message naming the supported
versions, instead of failing later in some class body.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterable
from typing import Any

import attrs
from automat import MethodicalMachine
from automat._methodical import (
    MethodicalInput,
    MethodicalOutput,
    MethodicalState,
    _getArgSpec,
)

SUPPORTED = "Automat 25.4 to 25.x"

__all__ = [
    "SUPPORTED",
    "DeclaredTransition",
    "automatStateOf",
    "belongsTo",
    "checkAutomat",
    "persistenceOf",
    "refuseFurtherTransitions",
    "refuseOutputsTheInputCannotFeed",
    "inClass",
    "initialStateOf",
    "kindOf",
    "markBuilt",
    "missingParameters",
    "methodOf",
    "nameOf",
    "newState",
    "serializedOf",
    "terminalOf",
    "transitionsOf",
]


def checkAutomat() -> None:
    """
    Fail now, clearly (an ``ImportError`` naming what is missing), if this
    Automat lacks what this module reads.  Run when the module is imported.
    """

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
        "serializer() code": lambda: _persistenceCode(machine.serializer()),
        "unserializer() code": lambda: _persistenceCode(machine.unserializer()),
    }
    for name, read in needed.items():
        try:
            read()
        except AttributeError:
            raise ImportError(
                f"txmachines supports {SUPPORTED}; the installed Automat has no "
                f"{name}, which txmachines needs to read declarations back"
            ) from None


def _persistenceCode(decorator: Callable[..., Any]) -> Any:
    """The code of the functions a serializer or unserializer decorator makes."""

    def decoratee(self: object, state: object = None) -> object:
        return state

    made = decorator(decoratee)
    if getattr(made, "__wrapped__", None) is not decoratee:
        raise AttributeError("__wrapped__")
    return made.__code__


checkAutomat()
_PERSISTENCE_CODES = {
    _persistenceCode(MethodicalMachine().serializer()): "serializer",
    _persistenceCode(MethodicalMachine().unserializer()): "unserializer",
}


def persistenceOf(value: object) -> tuple[str, Callable[..., Any]] | None:
    """
    ``("serializer", method)`` if ``value`` is what ``@machine.serializer()``
    made of ``method`` (for any ``MethodicalMachine``), ``("unserializer",
    method)`` likewise, and None for anything else.
    """
    code = getattr(value, "__code__", None)
    kind = _PERSISTENCE_CODES.get(code) if code is not None else None
    if kind is None:
        return None
    method: Callable[..., Any] = value.__wrapped__  # type: ignore[attr-defined]
    return kind, method


def missingParameters(
    input: Callable[..., Any], output: Callable[..., Any]
) -> list[str]:
    """
    The parameters ``output`` takes that ``input`` does not give: the one
    rule matching outputs to inputs, by name (annotations never matter).
    """
    given = list(inspect.signature(input).parameters)[1:]
    return [p for p in list(inspect.signature(output).parameters)[1:] if p not in given]


def inClass(message: str) -> str:
    """
    ``message``, prefixed with the name of the class being defined, if it is
    being defined: the nearest caller that is a class body, within a few
    frames (``upon`` and its helpers), is the class at fault.
    """
    frame = sys._getframe(1)
    for _ in range(4):
        frame = frame.f_back  # type: ignore[assignment]
        if frame is None:
            break
        names = frame.f_locals
        where = names.get("__qualname__") if "__module__" in names else None
        if isinstance(where, str) and frame.f_code.co_name != "<module>":
            return f"{where}: {message}"
    return message


def markBuilt(function: Callable[..., Any], method: Callable[..., Any]) -> None:
    """
    Let a built class's input or output ``function`` (declared as ``method``)
    pass where a class body's ``upon()`` expects one of its own machine's, as
    a subclass that uses ``Parent.input`` instead of an `inherited` stand-in
    does: Automat's ``upon()`` would fail with an AttributeError.  Passed,
    it reaches `declaring`, which refuses it when the class is created, with
    a message naming the class and the input or output.
    """
    attributes = vars(function)
    attributes.setdefault("argSpec", _getArgSpec(method))
    attributes.setdefault("collectors", {})
    attributes.setdefault("method", method)


class _ByNameState(MethodicalState):
    """A state whose ``upon()`` matches outputs to inputs by parameter name."""

    def upon(
        self,
        input: Any,
        enter: Any = None,
        outputs: Iterable[Any] | None = None,
        collector: Callable[[Iterable[Any]], Any] = list,
    ) -> None:
        """As Automat's, but annotations never matter: names do."""
        builtFor = getattr(self.machine, "builtFor", None)
        if builtFor is not None:
            raise TypeError(
                inClass(
                    f"state {nameOf(self)!r} is {builtFor}'s, whose machine is "
                    f"built; declare transitions on it through a stand-in, "
                    f"inherited(machine, {builtFor}).{nameOf(self)}"
                )
            )
        enter = self if enter is None else enter
        outputs = list(outputs or [])
        refuseOutputsTheInputCannotFeed(input, outputs, f"state {nameOf(self)!r}")
        self.machine._oneTransition(self, input, enter, outputs, collector)


def refuseOutputsTheInputCannotFeed(input: Any, outputs: list[Any], where: str) -> None:
    """
    A ``TypeError`` (naming the class being defined) if an output takes a
    parameter ``input`` does not give, upon it in ``where``.
    """
    for output in outputs:
        missing = missingParameters(methodOf(input), methodOf(output))
        if missing:
            raise TypeError(
                inClass(
                    f"output {nameOf(output)!r} takes {missing[0]!r}, which "
                    f"input {nameOf(input)!r} (in {where}) does not give"
                )
            )


def newState(machine: MethodicalMachine, method: Callable[..., Any], **kw: Any) -> Any:
    """A state of ``machine`` that matches outputs to inputs by name."""
    serialized: Any = kw.get("serialized")
    state = _ByNameState(machine=machine, method=method, serialized=serialized)
    if kw.get("terminal"):
        object.__setattr__(state, "terminal", True)  # a frozen dataclass
    if kw.get("initial"):
        machine._automaton.initialState = state
    return state


def refuseFurtherTransitions(machine: MethodicalMachine, builtFor: str) -> None:
    """
    Make every ``upon()`` on ``machine``'s states (Automat's own included) a
    ``TypeError``: the class it declared is built, and would not see it.
    """

    def refuse(startState: Any, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            inClass(
                f"state {nameOf(startState)!r} is {builtFor}'s, whose machine is "
                f"built; declare transitions on it through a stand-in, "
                f"inherited(machine, {builtFor}).{nameOf(startState)}"
            )
        )

    machine._oneTransition = refuse  # type: ignore[method-assign]


def terminalOf(state: Any) -> bool:
    """
    Whether ``state`` was declared ``terminal=True`` (Automat's own states
    take the argument and forget it: they are never terminal here).
    """
    return bool(getattr(state, "terminal", False))


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
