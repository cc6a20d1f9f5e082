"""
Building a class's machine from its `Blueprint`.

Output and input *methods* are looked up by name on the finished class, so an
output overridden in a subclass - decorated or as a plain method - is the one
that runs.  The blueprint is then built twice:

- as a fresh Automat ``MethodicalMachine``: what ``asDigraph()`` draws and the
  reference runtime for differential tests
  (`statemachines.testing.onAutomatRuntime`);
- as the compiled dispatcher (`compiler`), whose generated input functions
  become the class's inputs.  That is what runs.

Methods made with Automat's ``@machine.serializer()`` and
``@machine.unserializer()`` are replaced by ones that read and set the state
the dispatcher runs in (Automat's would read and set a state of its own,
which nothing runs in).  A state serializes as its ``serialized=`` value, or
its name if it has none (Automat would give None).

Outputs are installed on the class as the plain methods they are, so a hook
that is an output can be called, and extended with ``super()``, like any
method.  Parameters are matched by name and kind; annotations never matter.

This module sits below `machine`, which calls `build`: it installs on the
class the states, inputs, outputs and persistence methods its declarations
name, and hands back the rest as a `Built`, for `StateMachine` to keep.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any, Protocol

import attrs

from . import automatinternals as automat
from .blueprint import Blueprint, TimerDecl
from .compiler import StateTable, compileMachine, compileRestart
from .declaring import checkOutputs
from .methodical import Machine
from .observers import OBSERVERS
from .statetimers import checkedDelay, noTimer, timerAttribute, timerSlots
from .superstate import Superstate, isSuperstate

__all__ = ["Built", "build"]


@attrs.frozen
class Built:
    """What `build` made of a class that the class keeps (see `StateMachine`)."""

    automatMachine: Machine  # Automat's own machine: drawn, and the reference
    automatInputs: dict[str, Any]  # its inputs, by name
    tables: dict[str, StateTable]  # the plain state tables, by state
    tracedTables: dict[str, StateTable]  # the same, every transition traced
    # The state timers, by their state: (slot, declaration); (the Timer's
    # attribute, its length: an attribute's name, or a number); the
    # attributes each instance starts with (None); and a compiled
    # ``restartTimer``, if the class has any timers.
    timerSlots: dict[str, tuple[int, TimerDecl]]
    timers: dict[str, tuple[str, Any]]
    timerAttributes: tuple[str, ...]
    restartTimer: Callable[..., bool] | None


class Persistent(Protocol):
    """What the serializer and unserializer `build` installs use of a machine."""

    @property
    def blueprint(self) -> Blueprint: ...

    @property
    def state(self) -> str: ...

    def _txmEnter(self, name: str) -> None: ...


def _lookup(cls: type, name: str) -> object:
    """Find ``name`` in ``cls``'s MRO without invoking descriptors."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    raise AttributeError(name)


def _resolve(cls: type, name: str, kind: str, declared: Callable[..., Any]) -> Any:
    """The method that implements input or output ``name`` on ``cls``."""
    try:
        value = _lookup(cls, name)
    except AttributeError:
        return declared  # declared, but only reachable through transitions
    if kind == "input":
        if automat.kindOf(value) == "input" or getattr(
            value, "__txmachinesInput__", False
        ):
            return declared
    elif automat.kindOf(value) == "output":
        return automat.methodOf(value)
    elif isinstance(value, types.FunctionType):
        # An output overridden by a plain method: that method is the output.
        return value
    raise TypeError(
        f"{cls.__qualname__}.{name} replaces the {kind} {name!r} with "
        f"{value!r}; a subclass may not turn an {kind} into something else"
    )


def _checkParameters(
    cls: type,
    blueprint: Blueprint,
    inputs: dict[str, Callable[..., Any]],
    outputs: dict[str, Callable[..., Any]],
) -> None:
    """Every output gets each of its parameters from its transition's input."""
    for t in blueprint.transitions.values():
        for name in t.outputs:
            missing = automat.missingParameters(inputs[t.input], outputs[name])
            if missing:
                raise TypeError(
                    f"{cls.__qualname__}: output {name!r} takes {missing[0]!r}, "
                    f"which input {t.input!r} (in state {t.state!r}) does not give"
                )


def _automatMachine(
    blueprint: Blueprint,
    inputs: dict[str, Callable[..., Any]],
    outputs: dict[str, Callable[..., Any]],
) -> tuple[Machine, dict[str, Any], dict[str, Any]]:
    """Automat's own machine for ``blueprint``: (machine, states, inputs)."""
    machine = Machine()
    states = {
        name: machine.state(
            initial=(name == blueprint.initial),
            serialized=decl.serialized,
            terminal=decl.terminal,
        )(decl.method)
        for name, decl in blueprint.states.items()
    }
    automatInputs = {name: machine.input()(m) for name, m in inputs.items()}
    automatOutputs = {name: machine.output()(m) for name, m in outputs.items()}
    for t in blueprint.transitions.values():
        states[t.state].upon(
            automatInputs[t.input],
            enter=states[t.enter],
            outputs=[automatOutputs[o] for o in t.outputs],
            collector=t.collector,
        )
    return machine, states, automatInputs


def _checkStates(cls: type, blueprint: Blueprint) -> None:
    """A subclass may not replace a state or superstate with something else."""
    for kind, names in (
        ("state", blueprint.states),
        ("superstate", blueprint.superstates),
    ):
        for name in names:
            try:
                value = _lookup(cls, name)
            except AttributeError:
                continue  # a parent's superstate, only ever named by stand-ins
            ok = (
                isSuperstate(value)
                if kind == "superstate"
                else (automat.kindOf(value) == "state")
            )
            if not ok:
                raise TypeError(
                    f"{cls.__qualname__}.{name} replaces the {kind} {name!r} with "
                    f"{value!r}; a subclass may not turn a {kind} into something else"
                )


def _superstates(machine: Machine, blueprint: Blueprint) -> dict[str, Superstate]:
    """The built class's superstates (declared in order, so outer ones first)."""
    made: dict[str, Superstate] = {}
    for name, decl in blueprint.superstates.items():
        within = None if decl.within is None else made[decl.within]
        made[name] = Superstate(machine, decl.method, within)
    return made


def _checkSerialized(cls: type, blueprint: Blueprint) -> None:
    """Each state serializes to a value of its own (see `Blueprint.serializedOf`)."""
    seen: dict[Any, str] = {}
    for name in blueprint.states:
        value = blueprint.serializedOf(name)
        try:
            other = seen.setdefault(value, name)
        except TypeError:
            raise TypeError(
                f"{cls.__qualname__}: state {name!r} is serialized as {value!r}, "
                "which is not hashable"
            ) from None
        if other != name:
            raise TypeError(
                f"{cls.__qualname__}: states {other!r} and {name!r} are both "
                f"serialized as {value!r}, so an unserializer could not tell them apart"
            )


def _serializer(method: Callable[..., Any]) -> Callable[..., Any]:
    """``@machine.serializer()``, on the state the machine runs in."""

    @functools.wraps(method)
    def serialize(self: Persistent) -> Any:
        return method(self, self.blueprint.serializedOf(self.state))

    return serialize


def _unserializer(method: Callable[..., Any]) -> Callable[..., Any]:
    """``@machine.unserializer()``, setting the state the machine runs in."""

    @functools.wraps(method)
    def unserialize(self: Persistent, *args: Any, **kwargs: Any) -> None:
        value = method(self, *args, **kwargs)
        self._txmEnter(self.blueprint.stateSerializedAs(value))

    return unserialize


def _installPersistence(cls: type) -> None:
    """
    Replace what Automat's ``serializer()`` and ``unserializer()`` made in
    ``cls``'s body: Automat's read and set a state the dispatcher never uses.
    """
    for name, value in list(vars(cls).items()):
        found = automat.persistenceOf(value)
        if found is not None:
            kind, method = found
            wrap = _serializer if kind == "serializer" else _unserializer
            setattr(cls, name, wrap(method))


def build(cls: type, attribute: str, blueprint: Blueprint) -> Built:
    """
    Build ``cls``'s machine and install its states, inputs and outputs;
    ``attribute`` names its Automat one.  Returns the rest, for ``cls`` to keep.
    """
    _checkStates(cls, blueprint)
    inputs = {
        name: _resolve(cls, name, "input", method)
        for name, method in blueprint.inputs.items()
    }
    outputs = {
        name: _resolve(cls, name, "output", method)
        for name, method in blueprint.outputs.items()
    }
    checkOutputs(cls, outputs)
    _checkParameters(cls, blueprint, inputs, outputs)
    _checkSerialized(cls, blueprint)
    machine, states, automatInputs = _automatMachine(blueprint, inputs, outputs)
    slots = timerSlots(blueprint)
    tables, traced, functions = compileMachine(
        cls.__qualname__, blueprint, inputs, outputs, OBSERVERS.transition, slots
    )
    for name, function in functions.items():
        automat.markBuilt(function, inputs[name])
    for function in outputs.values():
        automat.markBuilt(function, function)
    superstates = _superstates(machine, blueprint)
    for group in (states, superstates, outputs, functions):
        for name, obj in group.items():
            setattr(cls, name, obj)
    machine.builtFor = cls.__qualname__
    setattr(cls, attribute, machine)
    _installPersistence(cls)
    timers: dict[str, tuple[str, Any]] = {
        owner: (timerAttribute(slot), decl.after)
        for owner, (slot, decl) in slots.items()
    }
    levels = sorted({slot for slot, _ in slots.values()})
    restart = None
    if timers:
        restart = compileRestart(cls.__qualname__, timers, checkedDelay, noTimer)
    return Built(
        automatMachine=machine,
        automatInputs=automatInputs,
        tables=tables,
        tracedTables=traced,
        timerSlots=slots,
        timers=timers,
        timerAttributes=tuple(timerAttribute(n) for n in levels),
        restartTimer=restart,
    )
