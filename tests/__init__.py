"""
txmachines' tests, run with ``python -m twisted.trial tests``.

A module's tests are in the file named after it: ``statemachines/X.py`` in
``tests/test_X.py``, ``statemachines/engine/X.py`` in
``tests/engine/test_X.py``, ``protocols/X.py`` in ``tests/protocols/test_X.py``.
What spans modules has files of its own: ``test_end_to_end`` (real loopback
TCP and processes, TLS included), ``test_properties`` (Hypothesis against
models), ``test_lifecycle`` (every shipped machine's lifecycle),
``test_readme`` and ``test_tutorial`` (the documents' examples, executed), and
``test_codebase`` (the repository's own rules, which check this layout).
Shared fixtures: ``helpers``, ``sample_machines``, ``certificates``.  Every
test has a time limit (``timelimit``): one that loops forever fails instead
of hanging the suite.
"""

from .timelimit import install

install()
