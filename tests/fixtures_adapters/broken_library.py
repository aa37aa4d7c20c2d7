"""Stands for an installed library whose own import fails (a bad release, a missing C part)."""

raise ImportError("cannot import name '_speedups' from partially initialized module")
