"""
The compiled dispatcher: a class's machine as tables and generated functions.

Theory of operation
===================

Automat's runtime pays, on every input, for building a closure, scanning the
transition list, and filtering arguments for each output.  Everything it
works out per call is fixed once the class exists, so this module works it
out once, when `statemachines.perclass` builds the class:

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

Calling an input::

    if busy: queue the call and return None         (re-entrancy, see below)
    run = current_table[input]       KeyError -> machineError("rejected")
    busy = True; result = run(...)   exception -> machineError("failed")
    busy = False; run queued inputs; return result

- **Re-entrancy.**  An input called while another is running (from an output,
  or a hook an output calls) is queued and runs after the current transition
  has finished, in call order: transitions never interleave.  Automat runs it
  immediately, inside the output; the two agree whenever the re-entrant call
  is the last thing the transition does, which is how the shipped machines
  (and Automat's idiom of feeding a verdict back in) use it.
- **Return values** are the transition's collector applied to the outputs'
  return values, as with Automat (a list by default).
- Inputs that declare ``*args`` or ``**kwargs`` take a generic path that
  filters arguments exactly as Automat does.

The generated source of any input or transition is in its ``__source__``.
``tests/test_compiled.py`` drives this dispatcher and Automat's own runtime
with the same random input sequences and requires identical results.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from automat._methodical import _filterArgs, _getArgSpec

from .blueprint import Blueprint, TransitionDecl

__all__ = ["StateTable", "compileMachine"]


class StateTable(dict[str, Callable[..., Any]]):
    """One state: input name -> transition function.  Knows its own name."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def __repr__(self) -> str:
        return f"<StateTable {self.name}: {', '.join(self)}>"


def _exec(source: str, namespace: dict[str, Any], name: str) -> Any:
    exec(compile(source, f"<txmachines {name}>", "exec"), namespace)
    function = namespace[name]
    function.__source__ = source
    return function


def _parameters(method: Callable[..., Any]) -> list[inspect.Parameter]:
    return list(inspect.signature(method).parameters.values())[1:]


def _isSimple(method: Callable[..., Any]) -> bool:
    """No ``*args``/``**kwargs``: Python's binding can do the filtering."""
    return all(
        p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in _parameters(method)
    )


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


def _copyDefaults(target: Any, method: Callable[..., Any]) -> None:
    target.__defaults__ = getattr(method, "__defaults__", None)
    target.__kwdefaults__ = getattr(method, "__kwdefaults__", None)


def _compileTransition(
    t: TransitionDecl,
    inputMethod: Callable[..., Any],
    outputs: Mapping[str, Callable[..., Any]],
    tables: Mapping[str, StateTable],
) -> Callable[..., Any]:
    namespace: dict[str, Any] = {"NEXT": tables[t.enter], "COLLECT": t.collector}
    calls = []
    if _isSimple(inputMethod):
        params, _ = _signatureSource(inputMethod)
        for i, name in enumerate(t.outputs):
            method = outputs[name]
            namespace[f"o{i}"] = method
            args = ["self"]
            for p in _parameters(method):
                args.append(
                    p.name
                    if p.kind is p.POSITIONAL_OR_KEYWORD
                    else f"{p.name}={p.name}"
                )
            calls.append(f"o{i}({', '.join(args)})")
    else:
        # Automat's own filtering, for inputs with *args or **kwargs.
        params = "self, *args, **kwargs"
        namespace["FILTER"] = _filterArgs
        namespace["INPUT_SPEC"] = _getArgSpec(inputMethod)
        lines = ["    values = []"]
        for i, name in enumerate(t.outputs):
            namespace[f"o{i}"] = outputs[name]
            namespace[f"spec{i}"] = _getArgSpec(outputs[name])
            lines.append(f"    a, k = FILTER(args, kwargs, INPUT_SPEC, spec{i})")
            lines.append(f"    values.append(o{i}(self, *a, **k))")
        source = (
            f"def transition({params}):\n"
            f"    self._txmTable = NEXT\n"
            + "\n".join(lines)
            + "\n    return COLLECT(values)\n"
        )
        return _exec(source, namespace, "transition")
    values = f"[{', '.join(calls)}]"
    result = values if t.collector is list else f"COLLECT({values})"
    source = (
        f"def transition({params}):\n    self._txmTable = NEXT\n    return {result}\n"
    )
    function = _exec(source, namespace, "transition")
    if _isSimple(inputMethod):
        _copyDefaults(function, inputMethod)
    return function


def _compileInput(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    simple = _isSimple(method)
    if simple:
        params, forward = _signatureSource(method)
        positional = [
            p.name for p in _parameters(method) if p.kind is not p.KEYWORD_ONLY
        ]
        keyword = [p.name for p in _parameters(method) if p.kind is p.KEYWORD_ONLY]
        queued = "(" + "".join(f"{p}, " for p in positional) + "), "
        queued += (
            "{" + ", ".join(f"{k!r}: {k}" for k in keyword) + "}" if keyword else "None"
        )
        prelude = ""
    else:
        params = forward = "self, *args, **kwargs"
        queued = "args, kwargs"
        # Bind the way Automat does, so that a wrong call raises TypeError here.
        prelude = "    METHOD(self, *args, **kwargs)\n"
    source = (
        f"def {name}({params}):\n"
        f"{prelude}"
        f"    if self._txmBusy:\n"
        f"        return self._txmDefer({name}, {queued})\n"
        f"    try:\n"
        f"        run = self._txmTable[{name!r}]\n"
        f"    except KeyError:\n"
        f"        return self._txmReject({name!r})\n"
        f"    self._txmBusy = True\n"
        f"    try:\n"
        f"        result = run({forward})\n"
        f"    except Exception:\n"
        f"        self._txmBusy = False\n"
        f"        return self._txmFail({name!r})\n"
        f"    self._txmBusy = False\n"
        f"    if self._txmQueue is not None:\n"
        f"        self._txmDrain()\n"
        f"    return result\n"
    )
    function = _exec(source, {"METHOD": method}, name)
    if simple:
        _copyDefaults(function, method)
    function.__doc__ = method.__doc__
    function.__qualname__ = getattr(method, "__qualname__", name)
    function.__module__ = getattr(method, "__module__", None)
    function.__annotations__ = dict(getattr(method, "__annotations__", {}))
    function.__txmachinesInput__ = True
    return function


def compileMachine(
    blueprint: Blueprint,
    inputs: Mapping[str, Callable[..., Any]],
    outputs: Mapping[str, Callable[..., Any]],
) -> tuple[dict[str, StateTable], dict[str, Callable[..., Any]]]:
    """
    The state tables and input functions for ``blueprint``, whose input and
    output names resolve to the methods in ``inputs`` and ``outputs``.
    """
    tables = {name: StateTable(name) for name in blueprint.states}
    for t in blueprint.transitions.values():
        tables[t.state][t.input] = _compileTransition(
            t, inputs[t.input], outputs, tables
        )
    functions = {name: _compileInput(name, inputs[name]) for name in blueprint.inputs}
    return tables, functions
