"""
``trial --reporter=txmachines-coverage``: trial's usual (tree) output, then
the transition coverage of every machine class the run created — which
declared transitions no test took.

``TXMACHINES_COVERAGE_MODULES=pkg,other.mod`` limits the report to classes
defined under those modules.  The report needs the tests to run in trial's
own process, so not with ``-j``.  Machines run on their traced tables while
it records (see `coverage.TransitionCoverage`), so a run with
it also checks that tracing changes no behaviour.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.trial.reporter import TreeReporter

from .coverage import TransitionCoverage
from .machine import StateMachine

MODULES_VARIABLE = "TXMACHINES_COVERAGE_MODULES"


def includedBy(modules: str) -> Any:
    """A class filter for a comma-separated list of module prefixes."""
    prefixes = tuple(m.strip() for m in modules.split(",") if m.strip())

    def include(cls: type[StateMachine]) -> bool:
        module = cls.__module__
        return not prefixes or any(
            module == p or module.startswith(p + ".") for p in prefixes
        )

    return include


class TransitionCoverageReporter(TreeReporter):
    """`TreeReporter`, plus the transition coverage report at the end."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        modules = os.environ.get(MODULES_VARIABLE, "")
        scope = f" under {modules} ({MODULES_VARIABLE})" if modules.strip() else ""
        self.coverage = TransitionCoverage(includedBy(modules), scope)
        self.coverage.start()

    def done(self) -> None:
        self.coverage.stop()
        self._writeln(self._separator)
        self._writeln(self.coverage.report())
        super().done()
