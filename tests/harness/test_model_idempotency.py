"""The idempotency model passes the reference and catches a broken sink with its rule."""

from __future__ import annotations

from harness.plugin import load_implementation
from harness.rules import Pattern, rules_for
from harness.search.engine import PROFILES, search_model
from harness.search.models.idempotency import IdempotencyModel

# This pattern has no shared counter to check, so METRICS-CONSISTENT is left out.
RULES = {r.id for r in rules_for(Pattern.IDEMPOTENCY)} - {"METRICS-CONSISTENT"}


def test_reference_passes_every_idempotency_rule() -> None:
    outcome = search_model(
        IdempotencyModel, load_implementation("reference.plugin:implementation"), PROFILES["quick"]
    )
    assert outcome.error is None
    assert outcome.failures == {}, {k: v.render() for k, v in outcome.failures.items()}
    assert outcome.exercised >= RULES


def test_a_broken_sink_yields_a_minimal_replayable_counterexample() -> None:
    # Every mutant is checked through the CLI by tests/mutants/test_kill.py; this one checks
    # the shape of what the search hands back.
    implementation = load_implementation("tests.mutants.idempotency:keyed_on_value")
    outcome = search_model(IdempotencyModel, implementation, PROFILES["quick"])
    assert outcome.error is None
    assert "IDEMPOTENT-EFFECT" in outcome.failures, f"found only {sorted(outcome.failures)}"
    counterexample = outcome.failures["IDEMPOTENT-EFFECT"]
    assert counterexample.steps, "a counterexample lists its steps"
    assert counterexample.blob, "a counterexample carries its replay blob"
    assert counterexample.evidence, "a counterexample shows the offending events"
