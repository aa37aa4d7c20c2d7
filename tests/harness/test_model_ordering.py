"""The ordering model passes the reference and catches a broken reorder stage."""

from __future__ import annotations

from harness.plugin import load_implementation
from harness.rules import Pattern, rules_for
from harness.search.engine import PROFILES, search_model
from harness.search.models.ordering import OrderingModel

ORDERING_RULES = {r.id for r in rules_for(Pattern.ORDERING)} - {"METRICS-CONSISTENT"}


def test_reference_passes_every_ordering_rule() -> None:
    outcome = search_model(
        OrderingModel, load_implementation("reference.plugin:implementation"), PROFILES["quick"]
    )
    assert outcome.error is None
    assert outcome.failures == {}, {k: v.render() for k, v in outcome.failures.items()}
    # The reorder contract has no counters: METRICS-CONSISTENT stays unknown for this pattern.
    assert outcome.exercised >= ORDERING_RULES


def test_a_broken_reorderer_yields_a_minimal_replayable_counterexample() -> None:
    # Every mutant is checked through the CLI by tests/mutants/test_kill.py; this one checks
    # the shape of what the search hands back.
    implementation = load_implementation("tests.mutants.ordering:emits_early")
    outcome = search_model(OrderingModel, implementation, PROFILES["quick"])
    assert outcome.error is None
    assert "ORDER-RESTORED" in outcome.failures, f"found only {sorted(outcome.failures)}"
    counterexample = outcome.failures["ORDER-RESTORED"]
    assert counterexample.steps, "a counterexample lists its steps"
    assert counterexample.blob, "a counterexample carries its replay blob"
    assert counterexample.evidence, "a counterexample shows the offending events"
