"""The pool model passes the reference and catches a broken pool with its rule."""

from __future__ import annotations

from harness.plugin import load_implementation
from harness.rules import Pattern, rules_for
from harness.search.engine import PROFILES, search_model
from harness.search.models.pool import PoolModel

POOL_RULES = {r.id for r in rules_for(Pattern.POOL)}


def test_reference_passes_every_pool_rule() -> None:
    outcome = search_model(
        PoolModel, load_implementation("reference.plugin:implementation"), PROFILES["quick"]
    )
    assert outcome.error is None
    assert outcome.failures == {}, {r: c.render() for r, c in outcome.failures.items()}
    assert outcome.exercised >= POOL_RULES


def test_a_broken_pool_yields_a_minimal_replayable_counterexample() -> None:
    # Every mutant is checked through the CLI by tests/mutants/test_kill.py; this one checks
    # the shape of what the search hands back.
    implementation = load_implementation("tests.mutants.pool:drops_failed_jobs")
    outcome = search_model(PoolModel, implementation, PROFILES["quick"])
    assert outcome.error is None
    assert "POOL-EXACTLY-ONCE" in outcome.failures, f"found only {sorted(outcome.failures)}"
    counterexample = outcome.failures["POOL-EXACTLY-ONCE"]
    assert counterexample.steps, "a counterexample lists its steps"
    assert counterexample.blob, "a counterexample carries its replay blob"
    assert counterexample.evidence, "a counterexample shows the offending events"
