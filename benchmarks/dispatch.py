"""
Per-event dispatch cost: one input, one output that takes the input's
argument, on the same self-looping machine, through

- a plain method call (the floor),
- txmachines' compiled dispatcher,
- Automat's MethodicalMachine (bound input looked up each time, and cached),
- Automat's TypeMachine.

Rounds alternate between the contenders; medians are printed.

    python benchmarks/dispatch.py [--rounds 7] [--events 200000]
"""

from __future__ import annotations

import argparse
import statistics
import timeit
from typing import Protocol

from automat import MethodicalMachine, TypeMachineBuilder

from statemachines import StateMachine


class Plain:
    def messageReceived(self, message: bytes) -> bytes:
        return message


def receiver(base: type) -> type:
    """The benchmark's machine, declared with a MethodicalMachine, on ``base``."""

    class Receiver(base):  # type: ignore[valid-type, misc]
        _machine = MethodicalMachine()

        @_machine.state(initial=True)
        def receiving(self) -> None:
            "Receiving."

        @_machine.input()
        def messageReceived(self, message: bytes) -> None:
            "A message."

        @_machine.output()
        def _message(self, message: bytes) -> bytes:
            return message

        receiving.upon(messageReceived, enter=receiving, outputs=[_message])

    return Receiver


Compiled = receiver(StateMachine)  # txmachines' compiled dispatcher
Methodical = receiver(object)  # Automat's own runtime


class Receiver(Protocol):
    def messageReceived(self, message: bytes) -> bytes:
        "A message."


class Core:
    pass


def typeMachine() -> Receiver:
    builder = TypeMachineBuilder(Receiver, Core)
    receiving = builder.state("receiving")

    @receiving.upon(Receiver.messageReceived).loop()
    def message(receiver: Receiver, core: Core, message: bytes) -> bytes:
        return message

    return builder.build()(Core())


def contenders() -> dict[str, str]:
    return {
        "plain method call": "plain.messageReceived(b'x')",
        "txmachines compiled": "compiled.messageReceived(b'x')",
        "Automat MethodicalMachine": "methodical.messageReceived(b'x')",
        "Automat MethodicalMachine, input cached": "cached(b'x')",
        "Automat TypeMachine": "typed.messageReceived(b'x')",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    methodical = Methodical()
    namespace = {
        "plain": Plain(),
        "compiled": Compiled(),
        "methodical": methodical,
        "cached": methodical.messageReceived,
        "typed": typeMachine(),
    }
    for statement in contenders().values():  # all must work, and warm up
        eval(statement, namespace)
    results: dict[str, list[float]] = {name: [] for name in contenders()}
    for _ in range(args.rounds):
        for name, statement in contenders().items():
            seconds = timeit.timeit(statement, globals=namespace, number=args.events)
            results[name].append(seconds / args.events * 1e6)
    compiled = statistics.median(results["txmachines compiled"])
    print(f"per-event dispatch, median of {args.rounds} rounds x {args.events} events")
    for name, samples in results.items():
        median = statistics.median(samples)
        print(
            f"  {name:42s} {median:7.3f} us   {median / compiled:6.2f}x the time "
            "of compiled"
        )


if __name__ == "__main__":
    main()
