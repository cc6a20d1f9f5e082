"""
txmachines' state machines: protocol behaviour as Automat machines that do no
I/O.  Subclass one to make a new protocol.

=====================  ======================================================
module                 what
=====================  ======================================================
``engine``             per-class machines, compiled (knows no connections)
``transport``          the transport's inputs, `Link`, the error policy
``connection``         `ConnectionMachine`: a server connection's lifecycle
``client``             `ClientMachine`: connect, reconnect, stop
``dialing``            `Dialer`; `DialingMachine`: dial, retry, give up
``retry``              failed attempts in a row, the retry policy
``replies``            the reply a client awaits, under a deadline
``waiters``            ``whenConnected`` and ``whenStopped``
``echo``               echo, server and client
``greeting``           greeting, server and client
``smtp``               an SMTP receiver (RFC 5321) into a `Mailbox`
``framing``            `Framer`: bytes to messages and back; the framings
``limits``             timeouts and limits, checked alike everywhere
``eventrate``          per-connection log events at a bounded rate
``testing``            helpers for testing machines
=====================  ======================================================
"""

from .client import ClientMachine
from .connection import ConnectionMachine
from .dialing import Dialer
from .echo import ClientStopped, EchoClientMachine, EchoMachine
from .engine import (
    ANY,
    Blueprint,
    Machine,
    MachineError,
    StateMachine,
    Superstate,
    inherited,
    mustHandle,
    rejects,
    stateTimer,
)
from .framing import (
    FixedLengthFramer,
    FrameError,
    Framer,
    Int32Framer,
    LineFramer,
    NetstringFramer,
    RawFramer,
)
from .greeting import (
    GreetingClientMachine,
    GreetingMachine,
    GreetingRefused,
    InvalidName,
    validateName,
)
from .smtp import Envelope, Mailbox, SMTPMachine
from .transport import NO_LINK, Link, TransportMachine

__all__ = [
    "ANY",
    "NO_LINK",
    "Blueprint",
    "ClientMachine",
    "ClientStopped",
    "ConnectionMachine",
    "Dialer",
    "EchoClientMachine",
    "EchoMachine",
    "Envelope",
    "FixedLengthFramer",
    "FrameError",
    "Framer",
    "GreetingClientMachine",
    "GreetingMachine",
    "GreetingRefused",
    "InvalidName",
    "Int32Framer",
    "LineFramer",
    "Link",
    "Machine",
    "Mailbox",
    "MachineError",
    "NetstringFramer",
    "RawFramer",
    "SMTPMachine",
    "StateMachine",
    "Superstate",
    "TransportMachine",
    "inherited",
    "mustHandle",
    "rejects",
    "stateTimer",
    "validateName",
]
