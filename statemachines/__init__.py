"""
txmachines' state machines: protocol behaviour as Automat machines that do no
I/O.  Subclass one to make a new protocol.
"""

from .blueprint import ANY, Blueprint, MachineError
from .client import ClientMachine
from .echo import EchoMachine
from .echo_client import ClientStopped, EchoClientMachine
from .greeting import GreetingMachine, InvalidName, validateName
from .greeting_client import GreetingClientMachine, GreetingRefused
from .interfaces import Dialer, Link
from .lifecycle import ConnectionMachine
from .perclass import (
    StateMachine,
    automatState,
    inherited,
    onAutomatRuntime,
    rejects,
)

__all__ = [
    "ANY",
    "Blueprint",
    "ClientMachine",
    "ClientStopped",
    "ConnectionMachine",
    "Dialer",
    "EchoClientMachine",
    "EchoMachine",
    "GreetingClientMachine",
    "GreetingMachine",
    "GreetingRefused",
    "InvalidName",
    "Link",
    "MachineError",
    "StateMachine",
    "automatState",
    "inherited",
    "onAutomatRuntime",
    "rejects",
    "validateName",
]
