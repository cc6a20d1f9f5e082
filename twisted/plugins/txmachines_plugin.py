"""
Registers ``twist txmachines`` and ``trial --reporter=txmachines-coverage``.
Kept light: Twisted imports every plugin file whenever it looks for plugins,
so the real modules (`protocols.twistplugin`, `statemachines.engine.trialcoverage`)
are imported only when used.

No ``__init__.py`` here or in ``twisted/``: this directory is a portion of
Twisted's own ``twisted.plugins``, found by scanning ``sys.path``.
"""

from twisted.application.service import ServiceMaker
from twisted.plugin import IPlugin
from twisted.trial.itrial import IReporter
from zope.interface import implementer

txmachines = ServiceMaker(
    "txmachines",
    "protocols.twistplugin",
    "Serve echo, greeting, smtp or your own machine (txmachines state machines)",
    "txmachines",
)


@implementer(IPlugin, IReporter)
class _Reporter:
    """What trial needs to know of a reporter, without importing it yet."""

    def __init__(self, **attributes: str) -> None:
        self.__dict__.update(attributes)


transitionCoverage = _Reporter(
    name="txmachines transition coverage",
    module="statemachines.engine.trialcoverage",
    description="tree output, then which declared transitions no test took",
    longOpt="txmachines-coverage",
    shortOpt="",
    klass="TransitionCoverageReporter",
)
