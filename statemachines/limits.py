"""
The numbers a user gives the machines and servers, checked the same way in
code and on the command line.

- A *timeout* is a finite number of seconds; where it may be switched off,
  ``None`` and ``0`` both mean off.  Negative, NaN or infinite values are
  refused.
- A *limit* is a whole number; where it may be lifted, ``None`` and ``0``
  both mean no limit.  Negative values are refused.

A *size* on the command line is a number of bytes, optionally with a unit:
``64MiB``, ``16k`` (K, M, G: powers of 1024, with or without ``iB``/``B``).

Each check raises ``ValueError`` naming what it checked; the command line
turns that into a usage error naming the option.
"""

from __future__ import annotations

import math
import re

__all__ = ["byteSize", "limit", "optionalLimit", "optionalTimeout", "timeout"]

_SIZE = re.compile(r"\s*(\d+)\s*(?:([kmg])(?:i?b)?|b)?\s*", re.IGNORECASE)
_UNITS = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def byteSize(text: str) -> int:
    """``"64MiB"``, ``"16k"``, ``"512"`` to bytes; ValueError otherwise."""
    found = _SIZE.fullmatch(text)
    if found is None:
        raise ValueError(f"{text!r} is not a size (say 512, 16KiB or 64MiB)")
    number, unit = found.groups()
    return int(number) * _UNITS[unit.lower() if unit else None]


def timeout(name: str, seconds: float) -> float:
    """A timeout that must run: finite and greater than zero."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        raise ValueError(f"{name} must be a number of seconds, not {seconds!r}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{name} must be a finite number of seconds above 0")
    return float(seconds)


def optionalTimeout(name: str, seconds: float | None) -> float | None:
    """A timeout that may be off (``None`` or ``0``): None, or as `timeout`."""
    if seconds is None or seconds == 0:
        return None
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
        if not math.isfinite(seconds):
            raise ValueError(f"{name} must be a finite number of seconds (0: off)")
        if seconds < 0:
            raise ValueError(f"{name} must not be negative (0 turns it off)")
    return timeout(name, seconds)


def limit(name: str, count: int) -> int:
    """A whole number of at least 1."""
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError(f"{name} must be a whole number of at least 1")
    return count


def optionalLimit(name: str, count: int | None) -> int | None:
    """A limit that may be lifted (``None`` or ``0``): None, or as `limit`."""
    if count is None or count == 0:
        return None
    if isinstance(count, int) and count < 0:
        raise ValueError(f"{name} must not be negative (0 lifts it)")
    return limit(name, count)
