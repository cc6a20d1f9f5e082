"""
``MODULE:NAME`` on the command line: a class or callable in a user's module.

The current directory is importable, as with ``python -m``, so a module next
to where the command runs is found.  Whatever is wrong with a target is a
`TargetError` whose text is one line saying what.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

__all__ = ["TargetError", "loadClass", "loadObject"]


class TargetError(ValueError):
    """A target that names nothing usable; ``str()`` says what, in one line."""


def loadObject(spec: str) -> object:
    """``package.module:Name`` (or ``Outer.Inner``) to the object it names."""
    moduleName, sep, attribute = spec.partition(":")
    if not sep or not attribute or not moduleName:
        raise TargetError(f"{spec!r} is not of the form package.module:Name")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, "")
    try:
        value: object = importlib.import_module(moduleName)
    except ImportError as e:
        raise TargetError(f"cannot import {moduleName!r}: {e}") from None
    except Exception as e:
        raise TargetError(
            f"importing {moduleName!r} raised {type(e).__name__}: {e}"
        ) from None
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise TargetError(f"{moduleName!r} has no {attribute!r}") from None
    return value


def loadClass(spec: str) -> type:
    """As `loadObject`, for a class."""
    value = loadObject(spec)
    if not isinstance(value, type):
        raise TargetError(f"{spec!r} is not a class")
    return value
