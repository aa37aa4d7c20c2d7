"""The queue model passes the reference and catches a broken queue with its rule."""

from __future__ import annotations

from harness.plugin import load_implementation
from harness.rules import Pattern, rules_for
from harness.search.engine import PROFILES, search_model
from harness.search.models.queue import QueueModel

QUEUE_RULES = {r.id for r in rules_for(Pattern.QUEUE)}


def test_reference_passes_every_queue_rule() -> None:
    outcome = search_model(
        QueueModel, load_implementation("reference.plugin:implementation"), PROFILES["quick"]
    )
    assert outcome.error is None
    assert outcome.failures == {}
    assert outcome.exercised >= QUEUE_RULES


def test_a_broken_queue_yields_a_minimal_replayable_counterexample() -> None:
    # Every mutant is checked through the CLI by tests/mutants/test_kill.py; this one checks
    # the shape of what the search hands back.
    implementation = load_implementation("tests.mutants.queue:lifo")
    outcome = search_model(QueueModel, implementation, PROFILES["quick"])
    assert outcome.error is None
    assert "QUEUE-FIFO" in outcome.failures, f"found only {sorted(outcome.failures)}"
    counterexample = outcome.failures["QUEUE-FIFO"]
    assert counterexample.steps, "a counterexample lists its steps"
    assert counterexample.blob, "a counterexample carries its replay blob"
    assert counterexample.evidence, "a counterexample shows the offending events"
