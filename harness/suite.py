"""The conformance suite as pytest items: one test per pattern model (collected by path).

``poolcheck check`` runs this file under pytest (pytest-xdist spreads the models over the
cores). Each test searches one model, saves its :class:`~harness.conformance.PatternRun` for the
report, and fails with the first counterexample when a rule breaks.
"""

from __future__ import annotations

import pytest

from harness.models.registry import patterns
from harness.pytest_plugin import ConformanceContext
from harness.rules import Pattern


@pytest.mark.parametrize("pattern", [str(p) for p in patterns()])
def test_pattern(pattern: str, poolcheck: ConformanceContext) -> None:
    """Search the model of ``pattern``; fail on any counterexample or harness error."""
    if not poolcheck.selected(Pattern(pattern)):
        pytest.skip(f"pattern {pattern} not selected")
    run = poolcheck.run(Pattern(pattern))
    if not run.applicable:
        pytest.skip(f"{poolcheck.implementation.name} provides no factory for {pattern}")
    if run.error:
        pytest.fail(f"harness error while searching {pattern}: {run.error}", pytrace=False)
    if run.failures:
        texts = []
        for rule_id, ce in run.failures.items():
            steps = "\n".join(f"  {i}. {s}" for i, s in enumerate(ce["steps"], start=1))
            texts.append(f"{rule_id}: {ce['message']}\n{steps}\n  replay: {ce['replay']}")
        pytest.fail("\n\n".join(texts), pytrace=False)
