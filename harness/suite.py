"""Anchor of the conformance run: ``poolcheck check`` points pytest here.

It holds no tests of its own: the poolcheck pytest plug-in adds one item per rule for the
implementation named by ``--poolcheck-impl`` (see :mod:`harness.pytest_plugin`).
"""
