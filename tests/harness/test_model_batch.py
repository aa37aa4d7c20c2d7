"""The batch model passes the reference and catches each broken batcher with its rule."""

from __future__ import annotations

import pytest

from harness.models.batch import BatchModel
from harness.plugin import load_implementation
from harness.rules import Pattern, rules_for
from harness.search import PROFILES, search_model

BATCH_RULES = {r.id for r in rules_for(Pattern.BATCH)}


def test_reference_passes_every_batch_rule() -> None:
    outcome = search_model(
        BatchModel, load_implementation("reference.plugin:implementation"), PROFILES["ci"]
    )
    assert outcome.error is None
    assert outcome.failures == {}, {k: v.render() for k, v in outcome.failures.items()}
    assert outcome.exercised >= BATCH_RULES


@pytest.mark.parametrize(
    ("mutant", "rule_id"),
    [
        ("never_flushes_on_age", "BATCH-BOUNDS"),
        ("flushes_at_double_age", "BATCH-BOUNDS"),
        ("flushes_early", "BATCH-BOUNDS"),
        ("drops_partial_at_close", "BATCH-BOUNDS"),
        ("oversize", "BATCH-BOUNDS"),
        ("miscounted_items", "METRICS-CONSISTENT"),
    ],
)
def test_broken_batcher_is_caught(mutant: str, rule_id: str) -> None:
    implementation = load_implementation(f"tests.harness.broken.batch:{mutant}")
    outcome = search_model(BatchModel, implementation, PROFILES["ci"])
    assert outcome.error is None
    assert rule_id in outcome.failures, f"found only {sorted(outcome.failures)}"
    counterexample = outcome.failures[rule_id]
    assert counterexample.steps, "a counterexample lists its steps"
    assert counterexample.blob, "a counterexample carries its replay blob"
