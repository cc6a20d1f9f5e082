"""
Per-class automata for Automat's ``MethodicalMachine``.

Theory of operation
===================

Automat builds one automaton per ``MethodicalMachine`` object, and that object
lives in one class body.  Subclassing such a class does not give the subclass
a machine of its own: a subclass that calls ``upon()`` on an inherited state
rewrites the parent's automaton for every user of the parent, and an output
that a subclass overrides by name is never called, because the transitions
hold the parent's output objects (Automat treats inheritance as unsupported,
automat#89).

This module makes subclassing work.  Every subclass of `StateMachine` gets its
own automaton, rebuilt when the class is created, in three steps:

1. **Collect.**  The class body declares what it *adds* with an ordinary
   ``MethodicalMachine`` of its own (any attribute name).  Its states, inputs,
   outputs and transitions are read back from that object and turned into a
   `Blueprint`: plain data keyed by *name*, in declaration order.  A class that
   wants to attach transitions to inherited states or inputs gets stand-ins
   for them, bound to its own machine, from `inherited`.

2. **Merge.**  The class's blueprint is the parent's blueprint with the
   class's own declarations laid over it: a new name adds a state, input or
   output; a transition for an inherited ``(state, input)`` pair replaces the
   inherited one.  Nothing is ever written back into the parent.

3. **Materialise.**  Output *methods* are looked up by name on the finished
   class, so an output overridden in a subclass - decorated or as a plain
   method - is the one that runs.  The merged blueprint is then built twice:
   as a fresh Automat ``MethodicalMachine`` (which validates every transition
   the way Automat does, draws with ``asDigraph()``, and serves as the
   reference runtime, see `onAutomatRuntime`), and as the compiled dispatcher
   of `statemachines.compiled`, whose generated input functions are what the
   class's inputs are.

Calling an input never lets a rejected input or an exception raised by an
output escape to the caller: both are handed to `StateMachine.machineError`.

Rules
=====

- A name means one thing in a class hierarchy: a state stays a state, an input
  stays an input.  Replacing an input with a plain method is a ``TypeError``.
- Every ``(state, input)`` pair is either a declared transition or rejected:
  rejection is the uniform policy `StateMachine.machineError` implements.
  `rejects` declares pairs rejected on purpose, with a reason, so that tests
  can tell them from pairs nobody decided about; it changes no behaviour but
  the reason in the error.
- Tracing and transition observers (`setTracing`, `observeEverything`) move
  a machine onto a second set of compiled tables; see the section near the
  end of this module.
- Declaration order is preserved everywhere, so anything drawn or listed from
  a `Blueprint` comes out the same on every run.
"""

from __future__ import annotations

import types
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

import attrs
from automat import MethodicalMachine
from automat._methodical import MethodicalInput, MethodicalOutput, MethodicalState
from twisted.logger import Logger
from twisted.python.failure import Failure

from .blueprint import (
    ANY,
    Blueprint,
    MachineError,
    RejectionDecl,
    StateDecl,
    TransitionDecl,
)
from .compiled import StateTable, compileMachine

__all__ = [
    "Blueprint",
    "MachineError",
    "StateMachine",
    "automatState",
    "inherited",
    "onAutomatRuntime",
]


def _copyFunction(f: Callable[..., Any]) -> types.FunctionType:
    assert isinstance(f, types.FunctionType), f
    copy = types.FunctionType(
        f.__code__, f.__globals__, f.__name__, f.__defaults__, f.__closure__
    )
    copy.__kwdefaults__ = f.__kwdefaults__
    copy.__doc__ = f.__doc__
    copy.__qualname__ = f.__qualname__
    copy.__module__ = f.__module__
    copy.__annotations__ = dict(f.__annotations__)
    return copy


def _lookup(cls: type, name: str) -> object:
    """Find ``name`` in ``cls``'s MRO without invoking descriptors."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    raise AttributeError(name)


def inherited(
    machine: MethodicalMachine, parent: type[StateMachine], *names: str
) -> Any:
    """
    Stand-ins for the parent's states, inputs and outputs called ``names``,
    bound to ``machine`` (the subclass's own ``MethodicalMachine``), so that a
    subclass can declare transitions on them without touching the parent::

        class Greeting(Echo):
            _machine = MethodicalMachine()
            connected, messageReceived = inherited(
                _machine, Echo, "connected", "messageReceived"
            )

    Returns one object for one name, else a tuple in the order given.
    """
    blueprint = parent.blueprint
    stand_ins: list[object] = []
    for name in names:
        if name in blueprint.states:
            decl = blueprint.states[name]
            stand_ins.append(
                MethodicalState(
                    machine=machine,
                    method=_copyFunction(decl.method),
                    serialized=decl.serialized,
                )
            )
        elif name in blueprint.inputs:
            stand_ins.append(machine.input()(_copyFunction(blueprint.inputs[name])))
        elif name in blueprint.outputs:
            stand_ins.append(machine.output()(_copyFunction(blueprint.outputs[name])))
        else:
            raise AttributeError(
                f"{parent.__qualname__} has no state, input or output named {name!r}"
            )
    return stand_ins[0] if len(stand_ins) == 1 else tuple(stand_ins)


class Rejects:
    """A class-body declaration made by `rejects`."""

    def __init__(self, states: Any, inputs: Any, why: str) -> None:
        self.states = _names(states)
        self.inputs = _names(inputs)
        self.why = why


def rejects(states: Any, inputs: Any, why: str) -> Rejects:
    """
    Declare, in a machine's class body, that ``inputs`` in ``states`` are
    rejected on purpose, and why::

        rejectsEarly = rejects(idle, ANY, "nothing arrives before connecting")
        rejectsTwice = rejects([connected, closing], [connectionMade], "made once")

    Each of ``states`` and ``inputs`` is one state or input (the decorated
    method, an `inherited` stand-in, or its name), a list of them, or `ANY`.
    A rejected input is handled as before (``machineError``), with ``why`` in
    the error; the declaration is what lets a test tell a pair rejected on
    purpose from one nobody thought of (`statemachines.testing.unhandledPairs`).
    Subclasses inherit rejections; a transition declared for a pair wins.
    """
    return Rejects(states, inputs, why)


def _names(spec: Any) -> tuple[str, ...]:
    if spec == ANY:
        return (ANY,)
    items = spec if isinstance(spec, (list, tuple)) else [spec]
    names = []
    for item in items:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, (MethodicalState, MethodicalInput)):
            names.append(item.method.__name__)
        else:
            raise TypeError(f"not a state, an input or ANY: {item!r}")
    return tuple(names)


def _ownRejections(cls: type, blueprint: Blueprint) -> Blueprint:
    own = [
        RejectionDecl(r.states, r.inputs, r.why, cls.__name__)
        for r in vars(cls).values()
        if isinstance(r, Rejects)
    ]
    for r in own:
        for name in r.states:
            if name != ANY and name not in blueprint.states:
                raise TypeError(f"{cls.__qualname__} rejects in unknown state {name!r}")
        for name in r.inputs:
            if name != ANY and name not in blueprint.inputs:
                raise TypeError(f"{cls.__qualname__} rejects unknown input {name!r}")
    if not own:
        return blueprint
    return attrs.evolve(blueprint, rejections=blueprint.rejections + tuple(own))


def _ownMachine(cls: type) -> tuple[str, MethodicalMachine] | None:
    found = [
        (name, value)
        for name, value in vars(cls).items()
        if isinstance(value, MethodicalMachine) and name != "_automatMachine"
    ]
    if len(found) > 1:
        raise TypeError(
            f"{cls.__qualname__} declares {len(found)} MethodicalMachines; "
            "declare at most one per class"
        )
    return found[0] if found else None


def _collect(cls: type, machine: MethodicalMachine, base: Blueprint) -> Blueprint:
    """Lay the declarations of ``machine`` (in ``cls``'s body) over ``base``."""
    automaton = machine._automaton
    owner = cls.__name__
    states = dict(base.states)
    inputs = dict(base.inputs)
    outputs = dict(base.outputs)

    def nameOf(obj: Any) -> str:
        name: str = obj.method.__name__
        return name

    # Class-body order first, then anything only the transitions mention.
    declared: list[object] = [
        value
        for value in vars(cls).values()
        if isinstance(value, (MethodicalState, MethodicalInput, MethodicalOutput))
    ]
    for start, inp, end, outs in sorted(
        automaton._transitions,
        key=lambda t: (nameOf(t[0]), nameOf(t[1])),
    ):
        declared.extend([start, inp, end, *outs])

    for obj in declared:
        if isinstance(obj, MethodicalState) and obj.machine is machine:
            name = nameOf(obj)
            if name not in states:
                states[name] = StateDecl(name, obj.method, owner, obj.serialized)
        elif isinstance(obj, MethodicalInput) and obj.automaton is automaton:
            inputs.setdefault(nameOf(obj), obj.method)
        elif isinstance(obj, MethodicalOutput) and obj.machine is machine:
            outputs[nameOf(obj)] = obj.method

    initial = base.initial
    if isinstance(automaton.initialState, MethodicalState):
        initial = nameOf(automaton.initialState)

    own: dict[tuple[str, str], TransitionDecl] = {}
    for start, inp, end, outs in automaton._transitions:
        key = (nameOf(start), nameOf(inp))
        own[key] = TransitionDecl(
            state=key[0],
            input=key[1],
            enter=nameOf(end),
            outputs=tuple(nameOf(o) for o in outs),
            declaredBy=owner,
            collector=inp.collectors[start],
        )
    # Inherited transitions keep their place; new ones follow in the order of
    # their states and inputs, which is declaration order.
    transitions = dict(base.transitions)
    transitions.update(own)
    stateOrder = {name: i for i, name in enumerate(states)}
    inputOrder = {name: i for i, name in enumerate(inputs)}
    inheritedKeys = [k for k in base.transitions]
    newKeys = sorted(
        (k for k in own if k not in base.transitions),
        key=lambda k: (stateOrder[k[0]], inputOrder[k[1]]),
    )
    return Blueprint(
        initial=initial,
        states=states,
        inputs=inputs,
        outputs=outputs,
        transitions={k: transitions[k] for k in inheritedKeys + newKeys},
        rejections=base.rejections,
    )


def _resolve(cls: type, name: str, kind: str, declared: Callable[..., Any]) -> Any:
    """The method that implements input or output ``name`` on ``cls``."""
    try:
        value = _lookup(cls, name)
    except AttributeError:
        return declared  # declared, but only reachable through transitions
    if kind == "input":
        if isinstance(value, MethodicalInput) or getattr(
            value, "__txmachinesInput__", False
        ):
            return declared
    elif isinstance(value, MethodicalOutput):
        return value.method
    elif isinstance(value, types.FunctionType):
        # An output overridden by a plain method: that method is the output.
        return value
    raise TypeError(
        f"{cls.__qualname__}.{name} replaces the {kind} {name!r} with "
        f"{value!r}; a subclass may not turn an {kind} into something else"
    )


def _materialise(cls: type[StateMachine], attribute: str, blueprint: Blueprint) -> None:
    inputMethods = {
        name: _resolve(cls, name, "input", method)
        for name, method in blueprint.inputs.items()
    }
    outputMethods = {
        name: _resolve(cls, name, "output", method)
        for name, method in blueprint.outputs.items()
    }

    # Automat's machine: validation, asDigraph(), and the reference runtime.
    machine = MethodicalMachine()
    states = {
        name: machine.state(
            initial=(name == blueprint.initial), serialized=decl.serialized
        )(decl.method)
        for name, decl in blueprint.states.items()
    }
    inputs = {name: machine.input()(m) for name, m in inputMethods.items()}
    outputs = {name: machine.output()(m) for name, m in outputMethods.items()}
    for t in blueprint.transitions.values():
        states[t.state].upon(
            inputs[t.input],
            enter=states[t.enter],
            outputs=[outputs[o] for o in t.outputs],
            collector=t.collector,
        )

    # The compiled dispatcher: what actually runs.
    assert blueprint.initial is not None
    tables, traced, functions = compileMachine(
        blueprint, inputMethods, outputMethods, _traceTransition
    )
    # Outputs are installed as the plain methods they are, so that a hook that
    # is an output can be called, and extended with super(), like any method.
    for group in (states, outputMethods, functions):
        for name, obj in group.items():
            setattr(cls, name, obj)
    setattr(cls, attribute, machine)
    cls._automatMachine = machine
    cls._automatInputs = inputs
    cls._txmTables = tables
    cls._txmTracedTables = traced
    _materialised.add(cls)
    _selectClassTable(cls)


class StateMachine:
    """
    Base class for machines that subclasses may extend.

    Declare a ``MethodicalMachine`` in the class body and use it as usual.
    Each subclass may declare another one for what it adds (see `inherited`);
    a subclass that only overrides methods needs none.
    """

    blueprint: ClassVar[Blueprint] = Blueprint.empty()
    _automatMachine: ClassVar[MethodicalMachine | None] = None
    _automatInputs: ClassVar[dict[str, MethodicalInput]] = {}
    _txmTables: ClassVar[dict[str, StateTable]] = {}
    _txmTracedTables: ClassVar[dict[str, StateTable]] = {}

    # The dispatcher's per-instance state; class-level values are the defaults
    # (an instance need not call any __init__ for its machine to work).
    _txmTable: StateTable
    _txmQueue: list[tuple[Callable[..., Any], tuple[Any, ...], Any]] | None = None
    _handlingMachineError: bool = False
    _txmLogging: bool = False  # setTracing
    _txmWatchers: int = 0  # how many transition observers watch this instance

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        own = _ownMachine(cls)
        parent = cls.blueprint  # the nearest ancestor's
        if own is None:
            attribute = _machineAttribute(cls)
            blueprint = parent
        else:
            attribute, machine = own
            blueprint = _collect(cls, machine, parent)
        blueprint = _ownRejections(cls, blueprint)
        cls.blueprint = blueprint
        if blueprint.states:
            if blueprint.initial is None:
                raise TypeError(f"{cls.__qualname__}'s machine has no initial state")
            _materialise(cls, attribute, blueprint)

    @property
    def state(self) -> str:
        """The name of the current state."""
        return self._txmTable.name

    @property
    def tracing(self) -> bool:
        """Whether every transition is logged (see `setTracing`)."""
        return self._txmLogging

    def setTracing(self, on: bool) -> None:
        """
        Log every transition of this machine as a ``txmachines.trace`` event
        with ``machineClass``, ``machineId``, ``oldState``, ``input``,
        ``newState`` and ``outputs``.  Off by default, and free when off.
        """
        self._txmWhenIdle(self._txmSetLogging, on)

    def _txmSetLogging(self, on: bool) -> None:
        self._txmLogging = on
        self._txmSelectTables()

    def _txmWatch(self, delta: int) -> None:
        """One more (+1) or one fewer (-1) transition observer watches this."""
        self._txmWhenIdle(self._txmAddWatchers, delta)

    def _txmAddWatchers(self, delta: int) -> None:
        self._txmWatchers += delta
        self._txmSelectTables()

    def _txmWhenIdle(self, change: Callable[[Any], None], argument: Any) -> None:
        # A change made mid-transition is queued like any re-entrant call.
        table = self._txmTable
        if table is table.busy:
            self._txmDefer(change, argument)
        else:
            change(argument)

    def _txmSelectTables(self) -> None:
        traced = self._txmLogging or self._txmWatchers or _observingEverything
        tables = self._txmTracedTables if traced else self._txmTables
        self._txmTable = tables[self._txmTable.name]

    # -- the dispatcher's slow paths (see statemachines.compiled) ------------

    def _txmDefer(
        self, function: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> None:
        if self._txmQueue is None:
            self._txmQueue = []
        self._txmQueue.append((function, args, kwargs))

    def _txmDrain(self) -> None:
        queue, self._txmQueue = self._txmQueue, None
        for function, args, kwargs in queue or ():
            function(*args, **kwargs)

    def _txmReject(self, inputName: str) -> None:
        state = self.state
        why = self.blueprint.rejectionOf(state, inputName)
        self._reportMachineError(MachineError("rejected", state, inputName, why=why))

    def _txmFail(self, inputName: str) -> None:
        failure = Failure()
        self._reportMachineError(MachineError("failed", self.state, inputName, failure))
        if self._txmQueue is not None:
            self._txmDrain()

    # -- errors ---------------------------------------------------------------

    def _reportMachineError(self, error: MachineError) -> None:
        if self._handlingMachineError:
            # An error while handling an error: stop here, never loop.
            self.machineErrorUnhandled(error)
            return
        self._handlingMachineError = True
        try:
            self.machineError(error)
        except Exception:
            self.machineErrorUnhandled(
                attrs.evolve(error, kind="failed", failure=Failure())
            )
        finally:
            self._handlingMachineError = False

    def machineError(self, error: MachineError) -> None:
        """
        Called when an input is rejected or an output raised.  Subclasses
        decide what that means for their protocol; the default only reports
        to `machineErrorUnhandled`.
        """
        self.machineErrorUnhandled(error)

    def machineErrorUnhandled(self, error: MachineError) -> None:
        """Last resort for errors nobody can act on: override to log them."""


# -- tracing and transition observers ------------------------------------------
#
# A machine runs on its class's traced tables while it logs its transitions
# (setTracing), while a transition observer watches it (`_txmWatch`), or
# while observers watch every machine (`observeEverything`); the traced
# tables call `_traceTransition`, which logs and tells the observers.  The
# plain tables, which every other machine runs on, never look at any of it.

_traceLog = Logger(namespace="txmachines.trace")

TransitionObserver = Callable[[StateMachine, str, str, str, tuple[str, ...]], None]
_observers: list[TransitionObserver] = []
_observingEverything = 0  # how many observers watch every machine
_materialised: weakref.WeakSet[type[StateMachine]] = weakref.WeakSet()


def _traceTransition(
    machine: StateMachine, old: str, input: str, new: str, outputs: tuple[str, ...]
) -> None:
    if machine._txmLogging:
        _traceLog.info(
            "{machineClass} {machineId:x}: {oldState} --{input}--> {newState} "
            "{outputs}",
            machineClass=type(machine).__name__,
            machineId=id(machine),
            oldState=old,
            input=input,
            newState=new,
            outputs=outputs,
        )
    for observer in _observers:
        observer(machine, old, input, new, outputs)


def addTransitionObserver(observer: TransitionObserver) -> None:
    """
    Call ``observer(machine, oldState, input, newState, outputs)`` after
    every transition of a traced or watched machine.
    """
    _observers.append(observer)


def removeTransitionObserver(observer: TransitionObserver) -> None:
    _observers.remove(observer)


def observeEverything(on: bool) -> None:
    """
    While on (calls nest), every machine created from now on, of every
    class, runs on traced tables, so transition observers see it.
    """
    global _observingEverything
    _observingEverything += 1 if on else -1
    assert _observingEverything >= 0, "observeEverything(False) without True"
    for cls in list(_materialised):
        _selectClassTable(cls)


def _selectClassTable(cls: type[StateMachine]) -> None:
    """The table a new instance of ``cls`` starts on."""
    tables = cls._txmTracedTables if _observingEverything else cls._txmTables
    initial = cls.blueprint.initial
    assert initial is not None
    cls._txmTable = tables[initial]


def onAutomatRuntime(cls: type[StateMachine], *args: Any, **kwargs: Any) -> Any:
    """
    An instance of ``cls`` whose inputs run on Automat's own runtime instead
    of the compiled dispatcher: the reference for differential tests.  Its
    inputs raise what Automat raises (``NoTransition``, output exceptions)
    and run re-entrant calls immediately; read its state with `automatState`.
    """
    instance = cls.__new__(cls)
    for name, automatInput in cls._automatInputs.items():
        instance.__dict__[name] = automatInput.__get__(instance)
    cls.__init__(instance, *args, **kwargs)
    return instance


def automatState(instance: StateMachine) -> str:
    """The current state of an instance made by `onAutomatRuntime`."""
    machine = type(instance)._automatMachine
    assert machine is not None
    transitioner = instance.__dict__.get(machine._symbol)
    if transitioner is None:
        return type(instance).blueprint.initial or ""
    name: str = transitioner._state.method.__name__
    return name


def _machineAttribute(cls: type) -> str:
    for klass in cls.__mro__[1:]:
        own = _ownMachine(klass)
        if own is not None:
            return own[0]
    return "_machine"
