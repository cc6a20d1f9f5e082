"""
Reading a machine class's body into a `Blueprint`, merged over its parent's.

Theory of operation
===================

Automat builds one automaton per ``MethodicalMachine`` object, and that object
lives in one class body.  Subclassing such a class does not give the subclass
a machine of its own: a subclass that calls ``upon()`` on an inherited state
rewrites the parent's automaton for every user of the parent (Automat treats
inheritance as unsupported, automat#89).  So a class body here declares only
what the class *adds*, with a ``MethodicalMachine`` of its own, and `collect`
reads that back and lays it over the parent's `Blueprint`:

- a new name adds a state, superstate, input or output;
- a transition for an inherited ``(state, input)`` or ``(superstate,
  input)`` pair replaces the inherited one; nothing is ever written back
  into the parent;
- a state's superstate is set where the state is declared
  (``state(within=...)``) or by ``superstate.include(state)``, which may
  also move an inherited state into a superstate of the subclass;
- ``rejects(...)`` and ``mustHandle(...)`` declarations add to the
  inherited ones.

How a state inherits its superstates' handling is `blueprint`'s rule.
Once the class is built, what its body left behind under a name that is not
its own (a loop variable, an alias of a stand-in) is removed, and its body's
machine refuses further declarations.

To attach transitions to what the parent declared, a class body asks for
stand-ins, bound to its own machine, with `inherited`::

    class GreetingMachine(EchoMachine):
        _machine = MethodicalMachine()
        parent = inherited(_machine, EchoMachine)

        @_machine.state()
        def naming(self) -> None:
            "A name is being judged."

        parent.connected.upon(parent.messageReceived, enter=naming, outputs=[...])

Names, not objects, identify states, inputs and outputs in a blueprint, which
is what lets a stand-in stand for the parent's declaration.  Declaration order
is kept everywhere, so whatever is drawn or listed from a blueprint comes out
the same on every run.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import attrs
from automat import MethodicalMachine

from . import automatinternals as automat
from .blueprint import (
    Blueprint,
    StateDecl,
    SuperstateDecl,
    SuperTransitionDecl,
    TransitionDecl,
)
from .decisions import ownerOf, parentDefining, readDecisions
from .superstate import Superstate, isSuperstate, superstatesOf

__all__ = ["Inherited", "collect", "inherited", "machineAttribute", "ownMachine"]


class Inherited:
    """
    The parent's states, inputs and outputs, as attributes: stand-ins bound
    to the subclass's own machine, each made on first use.  Made by
    `inherited`; usable only while the class body runs.
    """

    def __init__(self, machine: MethodicalMachine, parent: type) -> None:
        blueprint = getattr(parent, "blueprint", None)
        if not isinstance(blueprint, Blueprint):
            raise TypeError(f"inherited: {parent!r} is not a StateMachine class")
        self._machine = machine
        self._parent = parent
        self._blueprint = blueprint
        self._closed = False

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            blueprint = self.__dict__.get("_blueprint")
            if blueprint is None or name not in _declaredNames(blueprint):
                raise AttributeError(name)
        if self._closed:
            raise TypeError(
                f"inherited({self._parent.__qualname__}).{name}: the class that "
                "asked for it is already built; use stand-ins in its body only"
            )
        standIn = self._makeStandIn(name)
        setattr(self, name, standIn)
        return standIn

    def _makeStandIn(self, name: str) -> Any:
        blueprint, machine = self._blueprint, self._machine
        if name in blueprint.states:
            decl = blueprint.states[name]
            return automat.newState(
                machine, decl.method, serialized=decl.serialized, terminal=decl.terminal
            )
        if name in blueprint.superstates:
            return Superstate(machine, blueprint.superstates[name].method, standIn=True)
        if name in blueprint.inputs:
            return machine.input()(blueprint.inputs[name])
        if name in blueprint.outputs:
            return machine.output()(blueprint.outputs[name])
        raise AttributeError(
            f"{self._parent.__qualname__} has no state, superstate, input or output "
            f"named {name!r}"
        )

    def _close(self) -> None:
        """The class is built: from now on any use of a stand-in is an error."""
        self._closed = True
        for name in _declaredNames(self._blueprint):
            self.__dict__.pop(name, None)

    def __dir__(self) -> list[str]:
        return list(_declaredNames(self._blueprint))

    def __repr__(self) -> str:
        return f"<inherited from {self._parent.__qualname__}>"


def _declaredNames(blueprint: Blueprint) -> dict[str, None]:
    return dict.fromkeys(
        [
            *blueprint.states,
            *blueprint.superstates,
            *blueprint.inputs,
            *blueprint.outputs,
        ]
    )


def inherited(machine: MethodicalMachine, parent: type) -> Inherited:
    """
    The parent's states, inputs and outputs as attributes, bound to
    ``machine`` (the subclass's own ``MethodicalMachine``), so that a subclass
    can declare transitions on them without touching the parent::

        parent = inherited(_machine, EchoMachine)
        parent.connected.upon(parent.messageReceived, enter=naming, outputs=[judge])

    An inherited output is resolved by name when the class is built, so an
    override in the subclass (decorated or a plain method) is what runs.
    The namespace serves the class body only; the class does not keep it.
    """
    return Inherited(machine, parent)


def ownMachine(cls: type) -> tuple[str, MethodicalMachine] | None:
    """The ``(attribute, machine)`` declared in ``cls``'s own body, if any."""
    found = [
        (name, value)
        for name, value in vars(cls).items()
        if isinstance(value, MethodicalMachine)
    ]
    if len(found) > 1:
        raise TypeError(
            f"{cls.__qualname__} declares {len(found)} MethodicalMachines; "
            "declare at most one per class"
        )
    return found[0] if found else None


def machineAttribute(cls: type) -> str:
    """The attribute that holds ``cls``'s machine (its own, or a parent's)."""
    for klass in cls.__mro__:
        own = ownMachine(klass)
        if own is not None:
            return own[0]
    return "_machine"


def collect(cls: type, base: Blueprint) -> Blueprint:
    """``cls``'s blueprint: what its body declares, laid over ``base``."""
    standIns = {
        name: value for name, value in vars(cls).items() if isinstance(value, Inherited)
    }
    for value in standIns.values():
        if value._parent not in cls.__mro__[1:]:
            raise TypeError(
                f"{cls.__qualname__}: inherited({value._parent.__qualname__}) "
                f"names a class that is not one of its parents"
            )
    own = ownMachine(cls)
    machine = None if own is None else own[1]
    for name, value in standIns.items():
        if value._machine is not machine:
            raise TypeError(
                f"{cls.__qualname__}: {name} = inherited(...) was made for a machine "
                f"that is not the one {cls.__qualname__}'s body declares"
                + ("" if machine is None else f" ({own[0]})")  # type: ignore[index]
                + ", so what it declares would be lost; pass the class's own machine"
            )
    blueprint = base if machine is None else _layOver(cls, machine, base)
    blueprint = readDecisions(cls, blueprint, machine)
    # Stand-ins and aliases serve the class body only: the class keeps
    # neither, and its body's machine takes no more declarations.
    for name, value in standIns.items():
        value._close()
        delattr(cls, name)
    _dropAliases(cls)
    if machine is not None:
        machine.builtFor = cls.__qualname__  # type: ignore[attr-defined]
        automat.refuseFurtherTransitions(machine, cls.__qualname__)
    return blueprint


def _dropAliases(cls: type) -> None:
    """
    Remove what a class body left under a name not its own: loop variables
    (``for _state in (...)``) and aliases (``_lose = parent.loseConnection``).
    """
    for name, value in list(vars(cls).items()):
        if isSuperstate(value):
            declared = value.name
        elif automat.kindOf(value) is not None:
            declared = automat.nameOf(value)
        else:
            continue
        if declared != name:
            delattr(cls, name)


def _layOver(cls: type, machine: MethodicalMachine, base: Blueprint) -> Blueprint:
    owner = cls.__name__
    states = dict(base.states)
    inputs = dict(base.inputs)
    outputs = dict(base.outputs)
    supers = superstatesOf(machine)

    # Class-body order first, then anything only the transitions mention.
    declared: list[Any] = [v for v in vars(cls).values() if automat.kindOf(v)]
    for start, inp, end, outs in automat.transitionObjectsOf(machine):
        if automat.kindOf(end) != "state":
            raise TypeError(
                f"{cls.__qualname__}: state {automat.nameOf(start)!r} upon "
                f"{automat.nameOf(inp)!r} enters {end!r}, which is not a state; "
                "a transition enters a state: name the state within it"
            )
        _refuseForeign(cls, machine, base, automat.nameOf(start), inp, end, outs)
        declared.extend([start, inp, end, *outs])
    for superstate in supers:
        for inp, end, outs, _ in superstate.transitions:
            if isSuperstate(end):
                raise TypeError(
                    f"{cls.__qualname__}: superstate {superstate.name!r} upon "
                    f"{automat.nameOf(inp)!r} enters superstate {end.name!r}; a "
                    "transition enters a state: name the state within it"
                )
            _refuseForeign(cls, machine, base, superstate.name, inp, end, outs)
            declared.extend([inp, *outs] + ([] if end is None else [end]))

    for obj in declared:
        if not automat.belongsTo(obj, machine):
            continue
        name, kind = automat.nameOf(obj), automat.kindOf(obj)
        if kind == "state" and name not in states:
            _refuseHiding(cls, "state", name)
            states[name] = StateDecl(
                name,
                automat.methodOf(obj),
                owner,
                automat.serializedOf(obj),
                terminal=automat.terminalOf(obj),
            )
        elif kind == "input":
            inputs.setdefault(name, automat.methodOf(obj))
        elif kind == "output":
            outputs[name] = automat.methodOf(obj)
    for name, method in inputs.items():
        _refuseStarArguments(cls, "input", name, method)

    superstates = dict(base.superstates)
    for superstate in supers:
        name = superstate.name
        if superstate.standIn:
            continue
        if name in superstates or name in states or name in inputs or name in outputs:
            raise TypeError(
                f"{cls.__qualname__}: superstate {name!r} has the name of "
                "something already declared; a name means one thing"
            )
        _refuseHiding(cls, "superstate", name)
        within = superstate.within
        if within is not None and within.machine is not machine:
            raise TypeError(
                f"{cls.__qualname__}: superstate {name!r} is within {within.name!r} "
                f"of another machine; use the stand-in "
                f"inherited(machine, {ownerOf(cls, within.name)}).{within.name}"
            )
        superstates[name] = SuperstateDecl(
            name, superstate.method, owner, None if within is None else within.name
        )
    placed: dict[str, str] = {}
    for superstate in supers:
        for member in superstate.members:
            if automat.kindOf(member) != "state" or not automat.belongsTo(
                member, machine
            ):
                raise TypeError(
                    f"{cls.__qualname__}: superstate {superstate.name!r} includes "
                    f"{member!r}, which is not a state of this class's machine "
                    "(name a parent's state through its inherited stand-in)"
                )
            name = automat.nameOf(member)
            if placed.setdefault(name, superstate.name) != superstate.name:
                raise TypeError(
                    f"{cls.__qualname__}: state {name!r} is put within both "
                    f"{placed[name]!r} and {superstate.name!r}; a state is within "
                    "one superstate (nest the superstates instead)"
                )
            states[name] = attrs.evolve(states[name], within=superstate.name)

    own: dict[tuple[str, str], TransitionDecl] = {}
    for t in automat.transitionsOf(machine):
        own[(t.state, t.input)] = TransitionDecl(
            state=t.state,
            input=t.input,
            enter=t.enter,
            outputs=t.outputs,
            declaredBy=owner,
            collector=t.collector,
        )
    ownSuper: dict[tuple[str, str], SuperTransitionDecl] = {}
    for superstate in supers:
        for inp, end, outs, collector in superstate.transitions:
            key = (superstate.name, automat.nameOf(inp))
            if key in ownSuper:
                raise TypeError(
                    f"{cls.__qualname__}: superstate {superstate.name!r} declares "
                    f"input {key[1]!r} twice"
                )
            ownSuper[key] = SuperTransitionDecl(
                superstate=superstate.name,
                input=key[1],
                enter=None if end is None else automat.nameOf(end),
                outputs=tuple(automat.nameOf(o) for o in outs),
                declaredBy=owner,
                collector=collector,
            )
    # Inherited transitions keep their place; new ones follow in the order of
    # their states and inputs, which is declaration order.
    stateOrder = {name: i for i, name in enumerate(states)}
    inputOrder = {name: i for i, name in enumerate(inputs)}
    transitions = {**base.stateTransitions, **own}
    newKeys = sorted(
        (k for k in own if k not in base.stateTransitions),
        key=lambda k: (stateOrder[k[0]], inputOrder[k[1]]),
    )
    blueprint = Blueprint(
        initial=automat.initialStateOf(machine) or base.initial,
        states=states,
        inputs=inputs,
        outputs=outputs,
        stateTransitions={
            k: transitions[k] for k in [*base.stateTransitions, *newKeys]
        },
        rejections=base.rejections,
        superstates=superstates,
        superTransitions={**base.superTransitions, **ownSuper},
        requirements=base.requirements,
        timers=base.timers,
    )
    _refuseUnenterable(cls, blueprint, [s for s in states if s not in base.states])
    _refuseEmptySuperstates(
        cls, blueprint, [s for s in superstates if s not in base.superstates]
    )
    return blueprint


def _refuseHiding(cls: type, kind: str, name: str) -> None:
    """A new state or superstate may not hide what a parent class has."""
    klass = parentDefining(cls, name)
    if klass is not None:
        raise TypeError(
            f"{cls.__qualname__}: {kind} {name!r} would hide "
            f"{klass.__qualname__}.{name}; give it another name"
        )


def _refuseEmptySuperstates(cls: type, blueprint: Blueprint, own: list[str]) -> None:
    """A superstate the class declares has states within it."""
    for name in own:
        if not blueprint.statesWithin(name):
            raise TypeError(
                f"{cls.__qualname__}: superstate {name!r} has no state within it "
                f"(declare one with @machine.state(within={name}), or "
                f"{name}.include(someState))"
            )


def _refuseUnenterable(cls: type, blueprint: Blueprint, own: list[str]) -> None:
    """
    Each state ``cls`` declares, but the initial one, is entered by some
    transition from another state in the class's complete (merged) table:
    otherwise it was declared and never wired.  A parent's state that a
    subclass routes around (by replacing the transitions into it) is not
    a mistake of the subclass; `statemachines.testing.reachableStates`
    finds those.
    """
    if blueprint.initial is None:
        return  # StateMachine refuses that, naming the states
    entered = {t.enter for t in blueprint.transitions.values() if t.enter != t.state}
    for name in own:
        if name != blueprint.initial and name not in entered:
            raise TypeError(
                f"{cls.__qualname__}: nothing can enter state {name!r}, since "
                "no transition from another state leads to it; declare one "
                f"with someState.upon(someInput, enter={name})"
            )


def _refuseForeign(
    cls: type,
    machine: MethodicalMachine,
    base: Blueprint,
    start: str,
    inp: Any,
    end: Any,
    outs: Iterable[Any],
) -> None:
    """
    A transition declared in ``cls``'s body names only what its own machine
    declares: its own states, inputs and outputs, and `inherited` stand-ins.
    ``start`` names the state or superstate; ``end`` is None for a
    superstate's transition that stays.
    """
    roles = [("input", inp)] + ([] if end is None else [("state", end)])
    roles.extend(("output", out) for out in outs)
    for role, obj in roles:
        if automat.belongsTo(obj, machine):
            continue
        name = automat.nameOf(obj)
        arrow = f"{start} --{automat.nameOf(inp)}--> "
        arrow += start if end is None else automat.nameOf(end)
        parents = {"state": base.states, "input": base.inputs, "output": base.outputs}
        if name in parents[role]:
            parent = ownerOf(cls, name)
            raise TypeError(
                f"{cls.__qualname__}: transition {arrow} uses {parent}'s {role} "
                f"{name!r} directly; use the stand-in "
                f"inherited(machine, {parent}).{name}"
            )
        raise TypeError(
            f"{cls.__qualname__}: transition {arrow} uses {role} {name!r} of "
            f"another machine; declare it with {cls.__qualname__}'s own machine"
        )


def _refuseStarArguments(
    cls: type, kind: str, name: str, method: Callable[..., Any]
) -> None:
    """Inputs and outputs name their parameters: no ``*args``/``**kwargs``."""
    parameters = inspect.signature(method).parameters.values()
    starred = [p for p in parameters if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if starred:
        raise TypeError(
            f"{cls.__qualname__}: {kind} {name!r} takes {starred[0]}; inputs and "
            "outputs must name each parameter (outputs get theirs by name)"
        )


def checkOutputs(cls: type, outputs: dict[str, Callable[..., Any]]) -> None:
    """Refuse outputs (as resolved on ``cls``) that take ``*args``/``**kwargs``."""
    for name, method in outputs.items():
        _refuseStarArguments(cls, "output", name, method)
