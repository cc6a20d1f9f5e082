"""
Registers ``twist txmachines``.  Kept to one line of work: Twisted imports
every plugin file whenever it looks for plugins, so the real module
(`protocols.twistplugin`) is imported only when the plugin is used.

No ``__init__.py`` here or in ``twisted/``: this directory is a portion of
Twisted's own ``twisted.plugins``, found by scanning ``sys.path``.
"""

from twisted.application.service import ServiceMaker

txmachines = ServiceMaker(
    "txmachines",
    "protocols.twistplugin",
    "Serve the echo or greeting protocol (txmachines state machines)",
    "txmachines",
)
