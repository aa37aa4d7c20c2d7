"""The rate model passes the reference and catches a broken limiter with its rule."""

from __future__ import annotations

from harness.plugin import load_implementation
from harness.rules import Pattern, rules_for
from harness.search.engine import PROFILES, search_model
from harness.search.models.rate import RateModel

RATE_RULES = {r.id for r in rules_for(Pattern.RATE)}


def test_reference_passes_every_rate_rule() -> None:
    outcome = search_model(
        RateModel, load_implementation("reference.plugin:implementation"), PROFILES["quick"]
    )
    assert outcome.error is None
    assert outcome.failures == {}, "\n\n".join(c.render() for c in outcome.failures.values())
    assert outcome.exercised >= RATE_RULES


def test_a_broken_limiter_yields_a_minimal_replayable_counterexample() -> None:
    # Every mutant is checked through the CLI by tests/mutants/test_kill.py; this one checks
    # the shape of what the search hands back.
    implementation = load_implementation("tests.mutants.rate:uncapped_refill")
    outcome = search_model(RateModel, implementation, PROFILES["quick"])
    assert outcome.error is None
    assert "RATE-BOUND" in outcome.failures, f"found only {sorted(outcome.failures)}"
    counterexample = outcome.failures["RATE-BOUND"]
    assert counterexample.steps, "a counterexample lists its steps"
    assert counterexample.blob, "a counterexample carries its replay blob"
    assert counterexample.evidence, "a counterexample shows the offending events"
