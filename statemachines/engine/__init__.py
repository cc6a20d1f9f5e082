"""
The engine: Automat ``MethodicalMachine`` declarations, per class, compiled.
It knows nothing of connections; `statemachines` builds the lifecycles on it.

========================  ===================================================
module                    job
========================  ===================================================
``machine``               `StateMachine`, the base class; `MachineError`;
                          `builtOf`: what was built, for testing tools
``declaring``             class bodies into blueprints: `inherited`
``decisions``             what else a class body decides: `rejects`,
                          `mustHandle`, state timers
``methodical``            `Machine`: the ``MethodicalMachine`` to declare with
``superstate``            `Superstate`: a composite state, in a class body
``blueprint``             `Blueprint`: a machine as plain, ordered data, and how
                          superstates flatten into one table per state
``liveness``              no state can be stuck: `mustHandle` checked
``statetimers``           `stateTimer`: timeouts that belong to a state
``building``              a blueprint into a class's running machine
``compiler``              state tables and generated input functions
``observers``             tracing and transition observers
``automatinternals``      the one reader of Automat's internals
``timer``                 `Timer`: cheap deadlines sharing one delayed call
``drawing``               DOT and Mermaid text from a machine
``summary``               summaries in prose (``a --input--> b``) checked
``coverage``              recording transitions; transition coverage
``trialcoverage``         ``trial --reporter=txmachines-coverage``
========================  ===================================================
"""

from .blueprint import ANY, Blueprint
from .decisions import mustHandle, rejects
from .declaring import inherited
from .machine import MachineError, StateMachine
from .methodical import Machine
from .statetimers import stateTimer
from .superstate import Superstate
from .timer import Timer

__all__ = [
    "ANY",
    "Blueprint",
    "Machine",
    "MachineError",
    "StateMachine",
    "Superstate",
    "Timer",
    "inherited",
    "mustHandle",
    "rejects",
    "stateTimer",
]
