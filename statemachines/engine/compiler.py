"""
The compiled dispatcher: a class's machine as tables and generated functions.

Theory of operation
===================

Automat's runtime pays, on every input, for building a closure, scanning the
transition list, and filtering arguments for each output.  Everything it
works out per call is fixed once the class exists, so this module works it
out once, when `building` builds the class:

- Each state becomes a `StateTable`: a dict from input name to a generated
  *transition function* that sets the next state and calls the outputs.
- Each input becomes a generated function with the input's own signature.
  Python's argument binding replaces Automat's ``_filterArgs``: every output
  is called with exactly the parameters it declares, by name, taken from the
  input's.  Two differences from Automat follow, both where Automat is
  wrong: an output that declares the input's parameters in another order
  gets them by name (Automat passes them by position, swapped), and an
  output gets the input's default for a keyword-only parameter the caller
  left out (Automat passes nothing).

Calling an input is a dict lookup and a call::

    run = self._txmTable[input]        KeyError -> machineError("rejected")
    run(...):                          the transition function
        self._txmTable = BUSY twin of the next state
        stop the timers it leaves      (only where it leaves or enters one)
        result = [output(...), ...]    exception -> machineError("failed")
        start the timers it enters
        self._txmTable = next state
        run any queued inputs; return result

- **Re-entrancy.**  While a transition runs, the current table is the next
  state's *busy twin*: same name, but every input in it queues its call.  So
  an input called while another is running (from an output, or a hook an
  output calls) costs nothing to detect; it is queued and runs after the
  current transition has finished, in call order: transitions never
  interleave.  Automat runs it
  immediately, inside the output; the two agree whenever the re-entrant call
  is the last thing the transition does, which is how the shipped machines
  (and Automat's idiom of feeding a verdict back in) use it.
- **Self-loops run inline.**  A stream of one input (messages while
  ``receiving``) keeps a machine in one state, so each input function also
  carries its self-loop transitions inline, guarded by ``table is STATE``:
  one call fewer on the hot path.  Traced and busy tables are other
  objects, so they always take the lookup above.
- **Return values** are the transition's collector applied to the outputs'
  return values, as with Automat (a list by default).
- Inputs and outputs name their parameters (``*args`` and ``**kwargs`` are
  refused when the class is built), so every call binds by name.

Generated functions are code like any other: each is compiled under its own
file name, ``<txmachines Class.state.input>`` for a transition (``traced``
added on traced tables), ``<txmachines Class.input>`` for an input function,
registered in ``linecache``, so tracebacks and pdb show the generated source
(as attrs does for its generated methods).  The source is also in the
function's ``__source__``.
``tests/engine/test_compiler.py`` drives this dispatcher and Automat's own runtime
with the same random input sequences and requires identical results.
"""

from __future__ import annotations

import inspect
import linecache
from collections.abc import Callable, Mapping
from typing import Any

from .blueprint import Blueprint, TimerDecl, TransitionDecl
from .statetimers import (
    TimerAction,
    startTimer,
    stopTimer,
    timerActions,
)

__all__ = ["StateTable", "compileMachine", "compileRestart"]


class StateTable(dict[str, Callable[..., Any]]):
    """
    One state: input name -> transition function.  ``busy`` is its twin,
    current while a transition into this state runs its outputs.
    """

    __slots__ = ("name", "busy")

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.busy: StateTable = self

    def __repr__(self) -> str:
        return f"<StateTable {self.name}: {', '.join(self)}>"


def _exec(source: str, namespace: dict[str, Any], name: str, where: str) -> Any:
    """Define function ``name`` from ``source``, compiled as ``<txmachines where>``."""
    filename = _register(source, f"txmachines {where}")
    exec(compile(source, filename, "exec"), namespace)
    function = namespace[name]
    function.__source__ = source
    return function


def _register(source: str, label: str) -> str:
    """
    A file name for ``source``, registered in ``linecache`` so tracebacks show
    the lines; ``label``, numbered if another source already has it.
    """
    entry = (len(source), None, source.splitlines(True))
    filename, count = f"<{label}>", 1
    while True:
        old = linecache.cache.setdefault(filename, (*entry, filename))
        if old == (*entry, filename):
            return filename
        count += 1
        filename = f"<{label} #{count}>"


def _parameters(method: Callable[..., Any]) -> list[inspect.Parameter]:
    return list(inspect.signature(method).parameters.values())[1:]


def _signatureSource(method: Callable[..., Any]) -> tuple[str, str]:
    """``(params, forward)``: a def's parameter list and a call forwarding it."""
    params, forward, kwOnly = ["self"], ["self"], False
    for p in _parameters(method):
        if p.kind is p.KEYWORD_ONLY and not kwOnly:
            params.append("*")
            kwOnly = True
        params.append(p.name)
        forward.append(f"{p.name}={p.name}" if kwOnly else p.name)
    return ", ".join(params), ", ".join(forward)


def _define(
    source: str,
    namespace: dict[str, Any],
    name: str,
    method: Callable[..., Any],
    where: str,
) -> Any:
    """Generate ``name`` with ``method``'s defaults (the signatures match)."""
    function = _exec(source, namespace, name, where)
    function.__defaults__ = getattr(method, "__defaults__", None)
    function.__kwdefaults__ = getattr(method, "__kwdefaults__", None)
    return function


def _outputCalls(
    outputs: list[Callable[..., Any]], namespace: dict[str, Any], prefix: str = ""
) -> list[str]:
    """
    Source that calls each output with the parameters it declares, by name;
    the names it uses go into ``namespace``, each starting with ``prefix``.
    """
    calls = []
    for i, method in enumerate(outputs):
        output = f"{prefix}o{i}"
        namespace[output] = method
        args = ["self"] + [
            f"{p.name}={p.name}" if p.kind is p.KEYWORD_ONLY else p.name
            for p in _parameters(method)
        ]
        calls.append(f"{output}({', '.join(args)})")
    return calls


def _timerStatements(actions: list[TimerAction], prefix: str, starts: bool) -> str:
    """
    The statements (indented by eight spaces) that stop timers (``starts``
    false) or start them.
    """
    lines = []
    for a in actions:
        if (a.decl is not None) != starts:
            continue
        if a.decl is None:
            lines.append(f"        {prefix}TSTOP(self, {a.slot})\n")
        else:
            lines.append(
                f"        {prefix}TSTART(self, {a.slot}, {a.decl.after!r}, "
                f"{a.decl.fires!r}, {a.owner!r})\n"
            )
    return "".join(lines)


def _transitionBody(
    t: TransitionDecl,
    outputs: Mapping[str, Callable[..., Any]],
    tables: Mapping[str, StateTable],
    trace: Callable[..., None] | None,
    namespace: dict[str, Any],
    prefix: str = "",
    nextTable: str | None = None,
    timers: list[TimerAction] | None = None,
) -> str:
    """
    The statements of transition ``t`` (indented by four spaces), with the
    names they use added to ``namespace``, each starting with ``prefix``.
    ``nextTable`` names a local variable that already holds the next state's
    table (a self-loop's ``table``), read instead of a global.  ``timers``
    are the state timers it stops (before its outputs) and starts (after).
    """
    table = tables[t.enter]
    names = {"NEXT": table, "BUSY": table.busy, "COLLECT": t.collector}
    names["TRACE"] = trace
    if timers:
        names.update(TSTART=startTimer, TSTOP=stopTimer)
    calls = _outputCalls([outputs[o] for o in t.outputs], namespace, prefix)
    namespace.update({prefix + name: value for name, value in names.items()})
    NEXT = nextTable or f"{prefix}NEXT"
    values = f"[{', '.join(calls)}]"
    result = values if t.collector is list else f"{prefix}COLLECT({values})"
    body = (
        f"    {prefix}TRACE(self, {t.state!r}, {t.input!r}, {t.enter!r}, "
        f"{t.outputs!r})\n"
        if trace is not None
        else ""
    )
    if not calls and not timers:
        return body + f"    self._txmTable = {NEXT}\n    return {result}\n"
    return body + (
        f"    self._txmTable = {prefix}BUSY\n"
        "    try:\n"
        f"{_timerStatements(timers or [], prefix, starts=False)}"
        f"        result = {result}\n"
        f"{_timerStatements(timers or [], prefix, starts=True)}"
        "    except Exception:\n"
        f"        self._txmTable = {NEXT}\n"
        f"        return self._txmFail({t.input!r})\n"
        f"    self._txmTable = {NEXT}\n"
        "    if self._txmQueue is not None:\n"
        "        self._txmDrain()\n"
        "    return result\n"
    )


def _compileTransition(
    className: str,
    t: TransitionDecl,
    inputMethod: Callable[..., Any],
    outputs: Mapping[str, Callable[..., Any]],
    tables: Mapping[str, StateTable],
    trace: Callable[..., None] | None,
    timers: list[TimerAction],
) -> Callable[..., Any]:
    namespace: dict[str, Any] = {}
    body = _transitionBody(t, outputs, tables, trace, namespace, timers=timers)
    params, _ = _signatureSource(inputMethod)
    where = f"{className}.{t.state}.{t.input}" + (" traced" if trace else "")
    return _define(
        f"def transition({params}):\n{body}",
        namespace,
        "transition",
        inputMethod,
        where,
    )


def _compileInput(
    className: str,
    name: str,
    method: Callable[..., Any],
    inline: list[TransitionDecl],
    outputs: Mapping[str, Callable[..., Any]],
    tables: Mapping[str, StateTable],
) -> Callable[..., Any]:
    """
    The input function.  The transitions in ``inline`` (self-loops: how a
    stream of one input arrives) run in it directly when the machine is in
    their (untraced, idle) state, one call shorter; every other case looks up
    the current table.
    """
    params, forward = _signatureSource(method)
    namespace: dict[str, Any] = {}
    fastPaths = ""
    for i, t in enumerate(inline):
        namespace[f"S{i}"] = tables[t.state]
        body = _transitionBody(t, outputs, tables, None, namespace, f"s{i}_", "table")
        fastPaths += f"    if table is S{i}:\n" + "".join(
            f"    {line}\n" for line in body.splitlines()
        )
    source = (
        f"def {name}({params}):\n"
        f"    table = self._txmTable\n"
        f"{fastPaths}"
        f"    try:\n"
        f"        run = table[{name!r}]\n"
        f"    except KeyError:\n"
        f"        return self._txmReject({name!r})\n"
        f"    return run({forward})\n"
    )
    function = _define(source, namespace, name, method, f"{className}.{name}")
    function.__doc__ = method.__doc__
    function.__qualname__ = getattr(method, "__qualname__", name)
    function.__module__ = getattr(method, "__module__", None)
    function.__annotations__ = dict(getattr(method, "__annotations__", {}))
    function.__txmachinesInput__ = True
    return function


def _compileQueue(
    className: str, name: str, method: Callable[..., Any], namespace: dict[str, Any]
) -> Callable[..., Any]:
    """What an input does while the machine is busy: queue the call to
    ``namespace["INPUT"]`` (filled in once the input function exists)."""
    params, forward = _signatureSource(method)
    return _define(
        f"def queue({params}):\n    self._txmDefer(INPUT, {forward})\n",
        namespace,
        "queue",
        method,
        f"{className}.{name} queued",
    )


def compileMachine(
    className: str,
    blueprint: Blueprint,
    inputs: Mapping[str, Callable[..., Any]],
    outputs: Mapping[str, Callable[..., Any]],
    trace: Callable[..., None],
    slots: Mapping[str, tuple[int, TimerDecl]],
) -> tuple[dict[str, StateTable], dict[str, StateTable], dict[str, Callable[..., Any]]]:
    """
    For ``blueprint`` (of class ``className``), whose input and output names
    resolve to the methods in ``inputs`` and ``outputs``: its state tables,
    the same tables with every transition first calling ``trace(machine,
    state, input, enter, outputs)``, and its input functions. An instance is
    traced while its current table is one of the traced ones, so tracing
    costs nothing when it is off.  ``slots`` are its state timers
    (`statetimers.timerSlots`), started and stopped by the transitions that
    enter and leave their states.
    """
    queueNamespaces: dict[str, dict[str, Any]] = {}
    queues = {}
    for name in blueprint.inputs:
        queueNamespaces[name] = {}
        queues[name] = _compileQueue(
            className, name, inputs[name], queueNamespaces[name]
        )

    def build(tracer: Callable[..., None] | None) -> dict[str, StateTable]:
        tables = {name: StateTable(name) for name in blueprint.states}
        for table in tables.values():
            table.busy = StateTable(table.name)
            table.busy.update(queues)
        for t in blueprint.transitions.values():
            table = tables[t.state]
            timers = timerActions(blueprint, slots, t.state, t.enter)
            table[t.input] = _compileTransition(
                className, t, inputs[t.input], outputs, tables, tracer, timers
            )
        return tables

    plain, traced = build(None), build(trace)
    functions = {}
    for name in blueprint.inputs:
        selfLoops = [
            t
            for t in blueprint.transitions.values()
            if t.input == name and t.enter == t.state
        ]
        functions[name] = _compileInput(
            className, name, inputs[name], selfLoops, outputs, plain
        )
        queueNamespaces[name]["INPUT"] = functions[name]
    return plain, traced, functions


def compileRestart(
    className: str,
    timers: Mapping[str, tuple[str, str | float]],
    check: Callable[[Any, str, Any], Any],
    unknown: Callable[[Any, str], bool],
) -> Callable[..., bool]:
    """
    ``restartTimer(self, where)`` for a class whose state timers are
    ``timers`` (owner -> (the Timer's attribute, its length: an attribute
    name or a number)): one branch per owner, every name written out, since
    the idle timer comes here on every read.  ``check(machine, where,
    delay)`` raises for a length that is none; ``unknown(machine, where)``
    answers for a ``where`` without a timer.
    """
    lines = ["def restartTimer(self, where):"]
    for owner, (attribute, after) in timers.items():
        if isinstance(after, str):
            length = (
                f"self.{after}" if after.isidentifier() else f"getattr(self, {after!r})"
            )
        else:
            length = repr(after)
        lines += [
            f"    if where == {owner!r}:",
            f"        timer = self.{attribute}",
            f"        if timer is None or timer.label != {owner!r}:",
            "            return False",
            f"        delay = {length}",
            "        if delay is not None and not 0 <= delay < FOREVER:",
            f"            CHECK(self, {owner!r}, delay)",
            "        timer.restart(delay)",
            "        return True",
        ]
    lines.append("    return UNKNOWN(self, where)")
    namespace = {"FOREVER": float("inf"), "CHECK": check, "UNKNOWN": unknown}
    source = "\n".join(lines) + "\n"
    function: Callable[..., bool] = _exec(
        source, namespace, "restartTimer", f"{className}.restartTimer"
    )
    return function
