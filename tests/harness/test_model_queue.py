"""The queue model passes the reference and catches each broken queue with its rule."""

from __future__ import annotations

import pytest

from harness.models.queue import QueueModel
from harness.plugin import load_implementation
from harness.rules import Pattern, rules_for
from harness.search import PROFILES, search_model

QUEUE_RULES = {r.id for r in rules_for(Pattern.QUEUE)}


def test_reference_passes_every_queue_rule() -> None:
    outcome = search_model(
        QueueModel, load_implementation("reference.plugin:implementation"), PROFILES["ci"]
    )
    assert outcome.error is None
    assert outcome.failures == {}
    assert outcome.exercised >= QUEUE_RULES


@pytest.mark.parametrize(
    ("mutant", "rule_id"),
    [
        ("off_by_one_bound", "QUEUE-BOUND"),
        ("eagerly_full", "QUEUE-BACKPRESSURE"),
        ("lifo", "QUEUE-FIFO"),
        ("cancel_loses_item", "QUEUE-CONSERVATION"),
        ("put_after_close", "QUEUE-CLOSE"),
        ("evicts_newest", "QUEUE-DROP-POLICY"),
        ("uncounted_drops", "METRICS-CONSISTENT"),
    ],
)
def test_broken_queue_is_caught(mutant: str, rule_id: str) -> None:
    implementation = load_implementation(f"tests.harness.broken.queue:{mutant}")
    outcome = search_model(QueueModel, implementation, PROFILES["ci"])
    assert outcome.error is None
    assert rule_id in outcome.failures, f"found only {sorted(outcome.failures)}"
    counterexample = outcome.failures[rule_id]
    assert counterexample.steps, "a counterexample lists its steps"
    assert counterexample.blob, "a counterexample carries its replay blob"
