"""The mutant catalog: deliberately broken implementations the harness must catch.

Each module holds the mutants of one pattern (``general`` those of the pattern-independent
rules). A mutant is a declaration callable, loaded through the plug-in path exactly as a
user's implementation is (``tests.mutants.queue:lifo``), registered with :func:`mutant` together
with the rule IDs it must violate. ``test_kill.py`` runs each through the CLI and
``python -m tests.mutants.report`` writes ``reports/mutants.md``.
"""
