"""
The PROXY protocol header (HAProxy's, versions 1 and 2): who the client
behind a load balancer really is.

A balancer configured with ``send-proxy`` or ``send-proxy-v2`` opens each
backend connection with one header naming the client's address and port.
`ProxyHeader` reads it from the first bytes of a connection and hands back
what follows.  A server listening with ``--listen haproxy:...`` reads the
header *before* it admits the connection (`protocols.server`), so per-peer
limits, logs and ``link.peer`` all see the client, not the balancer.
Spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
"""

from __future__ import annotations

import ipaddress
import struct

import attrs
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IAddress

__all__ = ["BadProxyHeader", "ProxiedAddresses", "ProxyHeader"]

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
        if family == 0x11 and length >= 12:  # TCP over IPv4
            src, dst, sport, dport = struct.unpack("!4s4sHH", body[:12])
        elif family == 0x21 and length >= 36:  # TCP over IPv6
            src, dst, sport, dport = struct.unpack("!16s16sHH", body[:36])
        elif family == 0x00:  # UNSPEC
            return ProxiedAddresses(None, None), rest
        else:
            raise BadProxyHeader(f"unsupported PROXY v2 address family {family:#x}")
        return (
            ProxiedAddresses(
                _address(str(ipaddress.ip_address(src)), sport),
                _address(str(ipaddress.ip_address(dst)), dport),
            ),
            rest,
        )


def _port(text: bytes) -> int:
    port = int(text)
    if not 0 <= port <= 65535 or not text.isdigit():
        raise ValueError(f"bad port {text!r}")
    return port
