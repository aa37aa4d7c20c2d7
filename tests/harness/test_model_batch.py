"""The batch model passes the reference and catches a broken batcher with its rule."""

from __future__ import annotations

from harness.plugin import load_implementation
from harness.rules import Pattern, rules_for
from harness.search.engine import PROFILES, search_model
from harness.search.models.batch import BatchModel

BATCH_RULES = {r.id for r in rules_for(Pattern.BATCH)}


def test_reference_passes_every_batch_rule() -> None:
    outcome = search_model(
        BatchModel, load_implementation("reference.plugin:implementation"), PROFILES["quick"]
    )
    assert outcome.error is None
    assert outcome.failures == {}, {k: v.render() for k, v in outcome.failures.items()}
    assert outcome.exercised >= BATCH_RULES


def test_a_broken_batcher_yields_a_minimal_replayable_counterexample() -> None:
    # Every mutant is checked through the CLI by tests/mutants/test_kill.py; this one checks
    # the shape of what the search hands back.
    implementation = load_implementation("tests.mutants.batch:oversize")
    outcome = search_model(BatchModel, implementation, PROFILES["quick"])
    assert outcome.error is None
    assert "BATCH-BOUNDS" in outcome.failures, f"found only {sorted(outcome.failures)}"
    counterexample = outcome.failures["BATCH-BOUNDS"]
    assert counterexample.steps, "a counterexample lists its steps"
    assert counterexample.blob, "a counterexample carries its replay blob"
    assert counterexample.evidence, "a counterexample shows the offending events"
