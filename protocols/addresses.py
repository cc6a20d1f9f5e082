"""Addresses as text: for log lines, and as the key of per-peer limits."""

from __future__ import annotations

from twisted.internet.interfaces import IAddress

__all__ = ["describeAddress", "peerKey"]


def describeAddress(addr: IAddress | None) -> str:
    """
    ``host:port`` for IPv4 addresses, ``[host]:port`` for IPv6 ones (as in
    a URL, so the port is not read as part of the address), ``-`` for none,
    else the address itself.
    """
    if addr is None:
        return "-"
    host, port = getattr(addr, "host", None), getattr(addr, "port", None)
    if host is None:
        return str(addr)
    if ":" in str(host):  # IPv6
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def peerKey(addr: IAddress | None) -> str:
    """What connections from the same peer share: the host, for IP addresses."""
    host = getattr(addr, "host", None)
    return host if isinstance(host, str) else repr(addr)
