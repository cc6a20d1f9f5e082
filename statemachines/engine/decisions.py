"""
What a class body decides besides its transitions, read into its blueprint:
rejections on purpose (`rejects`), requirements every state must meet
(`mustHandle`, checked by `liveness`) and state timers
(`statetimers.stateTimer`).

Each is an object the class body assigns to a name; `readDecisions` finds
them in the class's own body, checks that what they name is the class's own
(or an `inherited` stand-in), and adds them to what the class inherits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
from automat import MethodicalMachine

from . import automatinternals as automat
from .blueprint import ANY, Blueprint, RejectionDecl, RequirementDecl, TimerDecl
from .statetimers import StateTimer
from .superstate import isSuperstate

__all__ = [
    "MustHandle",
    "Rejects",
    "mustHandle",
    "ownerOf",
    "parentDefining",
    "readDecisions",
    "rejects",
]


def parentDefining(cls: type, name: str) -> type | None:
    """The nearest parent of ``cls`` whose body defines ``name``, if any."""
    for klass in cls.__mro__[1:]:
        if name in vars(klass):
            return klass
    return None


def ownerOf(cls: type, name: str) -> str:
    """The nearest parent of ``cls`` that has ``name``, for messages."""
    klass = parentDefining(cls, name)
    return "Parent" if klass is None else klass.__qualname__


class Rejects:
    """
    A class-body declaration made by `rejects`; its states and inputs are
    checked, and named, when the class is created (see `collect`).
    """

    def __init__(self, states: Any, inputs: Any, why: str) -> None:
        self.stateSpec = states
        self.inputSpec = inputs
        self.why = why


def rejects(states: Any, inputs: Any, why: str) -> Rejects:
    """
    Declare, in a machine's class body, that ``inputs`` in ``states`` are
    rejected on purpose, and why::

        beforeConnecting = rejects(idle, ANY, "nothing happens before connecting")
        madeOnce = rejects([connected, closing], parent.connectionMade, "made once")

    Each of ``states`` and ``inputs`` is a state or input (declared in this
    class body, or an `inherited` stand-in), a list of them, or `ANY`.  A
    rejected input is handled as any other (``machineError``), with ``why``
    in the error; the declaration is what lets a test tell a pair rejected on
    purpose from one nobody thought of (`statemachines.testing.unhandledPairs`).
    Subclasses inherit rejections; a transition declared for a pair wins.
    """
    return Rejects(states, inputs, why)


def _names(
    cls: type,
    spec: Any,
    kind: str,
    machine: MethodicalMachine | None,
    known: Iterable[str],
    what: str = "rejects",
) -> tuple[str, ...]:
    """The names in a `rejects` (or ``what``) spec, which must be ``cls``'s own."""
    if isinstance(spec, str) and spec == ANY:
        return (ANY,)
    where = cls.__qualname__
    items = spec if isinstance(spec, (list, tuple)) else [spec]
    names = []
    for item in items:
        if kind == "state" and isSuperstate(item):
            if item.name not in known:
                raise TypeError(f"{where}: {what} in unknown superstate {item.name!r}")
            if item.machine is not machine:
                raise TypeError(
                    f"{where}: {what} superstate {item.name!r} of another machine; "
                    f"name a parent's superstate through "
                    f"inherited(machine, {ownerOf(cls, item.name)})"
                )
            names.append(item.name)
            continue
        built = kind == "input" and getattr(item, "__txmachinesInput__", False)
        if automat.kindOf(item) != kind and not built:
            hint = (
                " (a name is not enough: use the object)"
                if isinstance(item, str)
                else ""
            )
            raise TypeError(
                f"{where}: {what} {item!r}, which is not {_article(kind)} or ANY{hint}"
            )
        name = automat.nameOf(item)
        if name not in known:
            raise TypeError(f"{where}: {what} in unknown {kind} {name!r}")
        if built or machine is None or not automat.belongsTo(item, machine):
            raise TypeError(
                f"{where}: {what} {kind} {name!r} of another machine; name a "
                f"parent's {kind} through inherited(machine, {ownerOf(cls, name)})"
            )
        names.append(name)
    return tuple(names)


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


class MustHandle:
    """
    A class-body declaration made by `mustHandle`; checked when a class
    with states is created (see `statemachines.engine.liveness`).
    """

    def __init__(self, inputs: Any, why: str, ends: Any) -> None:
        self.inputSpec = inputs
        self.endsSpec = ends
        self.why = why


def mustHandle(inputs: Any, why: str, *, ends: Any = ()) -> MustHandle:
    """
    Declare, in a machine's class body, that every state not declared
    ``terminal=True`` handles each of ``inputs`` (by a transition, itself or
    through a superstate, or by a rejection on purpose), and that each input
    of ``ends`` leads from any state straight into a terminal state, or into
    one that rejects it on purpose::

        noStuckStates = mustHandle(
            [connectionLost, timeout],
            "a connection can always be lost, and an idle one is closed",
            ends=[connectionLost],
        )

    A class (or a subclass) that breaks the rule is refused with a
    ``TypeError`` when it is created, naming the state and the input.
    Subclasses inherit requirements.
    """
    return MustHandle(inputs, why, ends)


def readDecisions(
    cls: type, blueprint: Blueprint, machine: MethodicalMachine | None
) -> Blueprint:
    """``blueprint`` with the rejections, requirements and timers ``cls`` declares."""
    blueprint = _withOwnRejections(cls, blueprint, machine)
    blueprint = _withOwnRequirements(cls, blueprint, machine)
    return _withOwnTimers(cls, blueprint, machine)


def _withOwnRejections(
    cls: type, blueprint: Blueprint, machine: MethodicalMachine | None
) -> Blueprint:
    states = [*blueprint.states, *blueprint.superstates]
    own = [
        RejectionDecl(
            _names(cls, r.stateSpec, "state", machine, states),
            _names(cls, r.inputSpec, "input", machine, blueprint.inputs),
            r.why,
            cls.__name__,
        )
        for r in vars(cls).values()
        if isinstance(r, Rejects)
    ]
    for rejection in own:
        _refuseIneffective(cls, blueprint, rejection)
    if not own:
        return blueprint
    return attrs.evolve(blueprint, rejections=blueprint.rejections + tuple(own))


def _refuseIneffective(
    cls: type, blueprint: Blueprint, rejection: RejectionDecl
) -> None:
    """
    A rejection naming a state (or superstate) and an input that it declares
    a transition for would change nothing: the transition wins.
    """
    for level in rejection.states:
        for input in rejection.inputs:
            found = blueprint.stateTransitions.get(
                (level, input)
            ) or blueprint.superTransitions.get((level, input))
            if found is not None:
                raise TypeError(
                    f"{cls.__qualname__}: rejects({level}, {input}) changes "
                    f"nothing: {level!r} declares a transition for {input!r} "
                    f"(in {found.declaredBy}), which wins over a rejection; "
                    "redeclare the transition instead"
                )


def _withOwnRequirements(
    cls: type, blueprint: Blueprint, machine: MethodicalMachine | None
) -> Blueprint:
    own = []
    for r in vars(cls).values():
        if not isinstance(r, MustHandle):
            continue
        known = blueprint.inputs
        inputs = _names(cls, r.inputSpec, "input", machine, known, "mustHandle")
        ends = _names(cls, list(r.endsSpec), "input", machine, known, "mustHandle")
        if ANY in inputs or ANY in ends:
            raise TypeError(f"{cls.__qualname__}: mustHandle names inputs, not ANY")
        own.append(RequirementDecl(inputs, ends, r.why, cls.__name__))
    if not own:
        return blueprint
    return attrs.evolve(blueprint, requirements=blueprint.requirements + tuple(own))


def _withOwnTimers(
    cls: type, blueprint: Blueprint, machine: MethodicalMachine | None
) -> Blueprint:
    timers = dict(blueprint.timers)
    states = [*blueprint.states, *blueprint.superstates]
    for attribute, value in vars(cls).items():
        if not isinstance(value, StateTimer):
            continue
        spec = value.whereSpec
        if isinstance(spec, (list, tuple)) or spec == ANY:
            raise TypeError(
                f"{cls.__qualname__}: stateTimer takes one state or superstate"
            )
        [where] = _names(cls, spec, "state", machine, states, "stateTimer")
        fires = None
        if value.firesSpec is not None:
            [fires] = _names(
                cls, value.firesSpec, "input", machine, blueprint.inputs, "stateTimer"
            )
        elif value.after is not None:
            raise TypeError(
                f"{cls.__qualname__}: stateTimer({where}, {value.after!r}) needs "
                "fires=, the input it calls when it runs out"
            )
        if where in timers and timers[where].declaredBy == cls.__name__:
            raise TypeError(
                f"{cls.__qualname__}: two stateTimer declarations for {where!r}"
            )
        if where in timers and timers[where].name != attribute:
            theirs = timers[where]
            raise TypeError(
                f"{cls.__qualname__}: {where!r} has a timer already, {theirs.name} "
                f"(from {theirs.declaredBy}), and a state has one timer; to "
                f"replace it (or take it away with None), name the declaration "
                f"{theirs.name}; for a timer of your own, put it on a state or "
                "superstate of your own"
            )
        if where in blueprint.states and blueprint.states[where].terminal:
            raise TypeError(
                f"{cls.__qualname__}: stateTimer on {where!r}, a terminal state: "
                "nothing happens there any more, and the timer would outlive it"
            )
        timers[where] = TimerDecl(where, value.after, fires, cls.__name__, attribute)
    if timers == dict(blueprint.timers):
        return blueprint
    return attrs.evolve(blueprint, timers=timers)
