"""
The PROXY protocol header (HAProxy's, versions 1 and 2): who the client
behind a load balancer really is.

A balancer configured with ``send-proxy`` or ``send-proxy-v2`` opens each
backend connection with one header naming the client's address and port.
`ProxyHeader` reads it from the first bytes of a connection and hands back
what follows.  Spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt

`ProxyHeaderFactory` wraps a server's factory, as Twisted's
``protocols.haproxy`` does, so no protocol needs to know about PROXY: each
connection is first a `ProxyHeaderReader`, and only once its header has come
does the wrapped factory build the connection's adapter, for the client the
header names, so per-peer limits, logs and ``link.peer`` all see the client,
not the balancer.  Until then the connection is one of the wrapped factory's
``pending`` ones: it counts toward its connection limit (past it, closed at
once: nobody can be told anything, the client is not known yet) and is
aborted when the server stops.  No valid header within the factory's close
timeout: the connection is aborted, with a log line at a bounded rate.
Then the reader hands every later event straight to the adapter (they
shadow its own methods), so the reads of a proxied connection cost what a
direct connection's do.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Any, cast
from typing import Protocol as Protocol_

import attrs
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IHalfCloseableProtocol,
    IHandshakeListener,
    IReactorTime,
    ITCPTransport,
)
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure
from zope.interface import implementer

from statemachines.eventrate import EventRate

from .addresses import describeAddress, peerKey

__all__ = [
    "BadProxyHeader",
    "ProxiedAddresses",
    "ProxyHeader",
    "ProxyHeaderFactory",
    "ProxyHeaderReader",
]

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_MAX = 107  # the longest version 1 header, CRLF included
# The longest version 2 address block (TLVs included) taken: the spec allows
# 64 KiB, balancers send well under 1 KiB, and a connection holds what it
# sent of its header until the header ends.
V2_MAX_LENGTH = 4096


class BadProxyHeader(ValueError):
    """The connection does not start with a valid PROXY header."""


@attrs.frozen
class ProxiedAddresses:
    """The client (``source``) and the address it connected to; None: LOCAL."""

    source: IAddress | None
    destination: IAddress | None


def _address(host: str, port: int) -> IAddress:
    if ipaddress.ip_address(host).version == 4:
        return IPv4Address("TCP", host, port)
    return IPv6Address("TCP", host, port)


class ProxyHeader:
    """Reads one PROXY header (v1 or v2) from the start of a connection."""

    def __init__(self) -> None:
        self._buffer = b""

    @property
    def started(self) -> bool:
        """Whether any of the header has arrived."""
        return bool(self._buffer)

    def feed(self, data: bytes) -> tuple[ProxiedAddresses, bytes] | None:
        """
        The addresses and the bytes after the header once it is complete;
        None while more is needed; `BadProxyHeader` if it is not one.
        """
        buffer = self._buffer = self._buffer + data
        if buffer.startswith(b"PROXY "):
            return self._v1(buffer)
        if len(buffer) >= 12:
            if buffer[:12] == V2_SIGNATURE:
                return self._v2(buffer)
            raise BadProxyHeader("no PROXY header")
        if not (b"PROXY "[: len(buffer)] == buffer or V2_SIGNATURE.startswith(buffer)):
            raise BadProxyHeader("no PROXY header")
        return None

    def _v1(self, buffer: bytes) -> tuple[ProxiedAddresses, bytes] | None:
        end = buffer.find(b"\r\n")
        if end < 0 or end + 2 > V1_MAX:
            if len(buffer) >= V1_MAX:
                raise BadProxyHeader("PROXY v1 header too long")
            return None
        fields = buffer[:end].split(b" ")
        rest = buffer[end + 2 :]
        if fields[1:2] == [b"UNKNOWN"]:
            return ProxiedAddresses(None, None), rest
        if len(fields) != 6 or fields[1] not in (b"TCP4", b"TCP6"):
            raise BadProxyHeader("malformed PROXY v1 header")
        try:
            source = _address(fields[2].decode("ascii"), _port(fields[4]))
            destination = _address(fields[3].decode("ascii"), _port(fields[5]))
        except (ValueError, UnicodeDecodeError) as e:
            raise BadProxyHeader(f"malformed PROXY v1 header: {e}") from None
        wanted = IPv4Address if fields[1] == b"TCP4" else IPv6Address
        if not (isinstance(source, wanted) and isinstance(destination, wanted)):
            raise BadProxyHeader("PROXY v1 addresses do not match the protocol")
        if "%" in source.host:  # type: ignore[attr-defined]
            raise BadProxyHeader("PROXY v1 address with a scope")
        return ProxiedAddresses(source, destination), rest

    def _v2(self, buffer: bytes) -> tuple[ProxiedAddresses, bytes] | None:
        if len(buffer) < 16:
            return None
        versionCommand, family, length = struct.unpack("!BBH", buffer[12:16])
        if versionCommand >> 4 != 2 or versionCommand & 0xF not in (0, 1):
            raise BadProxyHeader("unsupported PROXY v2 version or command")
        if length > V2_MAX_LENGTH:
            raise BadProxyHeader(
                f"PROXY v2 header of {length} bytes (at most {V2_MAX_LENGTH} taken)"
            )
        if len(buffer) < 16 + length:
            return None
        body, rest = buffer[16 : 16 + length], buffer[16 + length :]
        if versionCommand & 0xF == 0:  # LOCAL: the balancer's own check
            return ProxiedAddresses(None, None), rest
        if family == 0x00:  # UNSPEC
            return ProxiedAddresses(None, None), rest
        if family not in _V2_FAMILIES:
            raise BadProxyHeader(f"unsupported PROXY v2 address family {family:#x}")
        name, layout = _V2_FAMILIES[family]
        size = struct.calcsize(layout)
        if length < size:
            raise BadProxyHeader(
                f"PROXY v2 header too short for its address family: {length} "
                f"bytes, {name} needs {size}"
            )
        src, dst, sport, dport = struct.unpack(layout, body[:size])
        _checkTLVs(body[size:])
        return (
            ProxiedAddresses(
                _address(str(ipaddress.ip_address(src)), sport),
                _address(str(ipaddress.ip_address(dst)), dport),
            ),
            rest,
        )


# The version 2 address families taken: their names, and their address
# blocks' layout (source, destination, source port, destination port).
_V2_FAMILIES = {
    0x11: ("TCP over IPv4", "!4s4sHH"),
    0x21: ("TCP over IPv6", "!16s16sHH"),
}


def _checkTLVs(tlvs: bytes) -> None:
    """
    What follows a version 2 address block: type-length-value records (a
    type byte, a 2-byte length, the value), each within the header, else
    `BadProxyHeader`.  Their contents are not used.
    """
    at = 0
    while at < len(tlvs):
        if len(tlvs) - at < 3:
            raise BadProxyHeader("PROXY v2 TLV cut short by the end of the header")
        (length,) = struct.unpack("!H", tlvs[at + 1 : at + 3])
        at += 3 + length
        if at > len(tlvs):
            raise BadProxyHeader(
                f"PROXY v2 TLV of {length} bytes runs past the end of the header"
            )


def _port(text: bytes) -> int:
    port = int(text)
    if not 0 <= port <= 65535 or not text.isdigit():
        raise ValueError(f"bad port {text!r}")
    return port


class Admitting(Protocol_):
    """What `ProxyHeaderFactory` wraps (`protocols.server.MachineServerFactory`)."""

    clock: IReactorTime
    closeTimeout: float
    pending: set[Any]  # accepted, not yet admitted: each has abortConnection()

    def full(self) -> bool:
        """Whether the connection limit is reached (pending ones included)."""

    def buildProtocol(self, addr: IAddress | None) -> Any:
        """The adapter (with its machine, or a refusal) for a client."""


class ProxyHeaderFactory(Factory):
    """A server factory whose connections each start with a PROXY header."""

    log = Logger()
    noisy = False

    def __init__(self, wrappedFactory: Admitting) -> None:
        self.wrappedFactory = wrappedFactory

    def doStart(self) -> None:
        if isinstance(self.wrappedFactory, Factory):
            self.wrappedFactory.doStart()
        super().doStart()

    def doStop(self) -> None:
        if isinstance(self.wrappedFactory, Factory):
            self.wrappedFactory.doStop()
        super().doStop()

    def buildProtocol(self, addr: IAddress | None) -> ProxyHeaderReader | None:
        wrapped = self.wrappedFactory
        if wrapped.full():
            EventRate.of(wrapped.clock).emit(
                self.log,
                LogLevel.info,
                "closed a connection from {peer} at once: too many connections",
                peer=peerKey(addr),
            )
            return None
        reader = ProxyHeaderReader(wrapped)
        wrapped.pending.add(reader)
        return reader


@implementer(IHalfCloseableProtocol, IHandshakeListener)
class ProxyHeaderReader(Protocol):
    """One connection until its PROXY header has come (see the module doc)."""

    log = Logger()

    def __init__(self, admitting: Admitting) -> None:
        self.admitting = admitting
        self.header: ProxyHeader | None = ProxyHeader()  # None once settled
        self.adapter: Any = None  # the connection's, once admitted
        self.deadline: IDelayedCall | None = None

    def connectionMade(self) -> None:
        self.deadline = self.admitting.clock.callLater(
            self.admitting.closeTimeout, self._noHeader, "none arrived in time"
        )

    def dataReceived(self, data: bytes) -> None:
        assert self.header is not None
        try:
            found = self.header.feed(data)
        except BadProxyHeader as e:
            self._noHeader(str(e))
            return
        if found is None:
            return
        addresses, rest = found
        self._settle()
        transport = self.transport
        assert transport is not None
        adapter = self.admitting.buildProtocol(addresses.source or transport.getPeer())
        adapter.proxied = addresses
        self.adapter = adapter
        # From now on the transport's events go straight to the adapter.
        self.dataReceived = adapter.dataReceived  # type: ignore[method-assign]
        self.connectionLost = adapter.connectionLost  # type: ignore[method-assign]
        self.readConnectionLost = adapter.readConnectionLost  # type: ignore[method-assign]
        self.writeConnectionLost = adapter.writeConnectionLost  # type: ignore[method-assign]
        self.handshakeCompleted = adapter.handshakeCompleted  # type: ignore[method-assign]
        adapter.makeConnection(transport)
        if rest and not getattr(transport, "disconnecting", False):
            adapter.dataReceived(rest)

    def _settle(self) -> None:
        """The header is read, or will never be: no longer pending, once."""
        if self.header is None:
            return
        self.header = None
        if self.deadline is not None and self.deadline.active():
            self.deadline.cancel()
        self.admitting.pending.discard(self)

    def _describe(self) -> str:
        return describeAddress(
            None if self.transport is None else self.transport.getPeer()
        )

    def _noHeader(self, why: str) -> None:
        self._settle()
        # A peer can make this happen on every connection: at a bounded rate.
        EventRate.of(self.admitting.clock).emit(
            self.log,
            LogLevel.info,
            "aborting a connection from {peer}: no valid PROXY header ({why})",
            peer=self._describe(),
            why=why,
        )
        self.abortConnection()

    def abortConnection(self) -> None:
        """Abort the connection (the server stops, or no header came)."""
        if self.adapter is not None:
            self.adapter.abortConnection()
        else:
            cast(ITCPTransport, self.transport).abortConnection()

    def readConnectionLost(self) -> None:
        if self.header is not None and not self.header.started:
            # Closed without sending a byte: a balancer's plain TCP health
            # check does that every few seconds (HAProxy's ``check`` on
            # another ``port``, say), so it is no news: logged at debug.
            self._settle()
            self.log.debug(
                "a connection from {peer} closed before sending anything",
                peer=self._describe(),
            )
            assert self.transport is not None
            self.transport.loseConnection()
        else:
            self._noHeader("the connection closed first")

    def writeConnectionLost(self) -> None:
        pass

    def handshakeCompleted(self) -> None:
        pass  # no TLS before the header (the listening endpoint is plain)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._settle()  # lost before a header admitted anyone
