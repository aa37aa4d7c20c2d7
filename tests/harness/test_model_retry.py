"""The retry model passes the reference and catches each broken implementation with its rule."""

from __future__ import annotations

import pytest

from harness.models.retry import RetryModel
from harness.plugin import load_implementation
from harness.rules import Pattern, rules_for
from harness.search import PROFILES, search_model

RULES = {r.id for r in rules_for(Pattern.RETRY)}


def test_reference_passes_every_retry_rule() -> None:
    outcome = search_model(
        RetryModel, load_implementation("reference.plugin:implementation"), PROFILES["ci"]
    )
    assert outcome.error is None
    assert outcome.failures == {}, {k: v.render() for k, v in outcome.failures.items()}
    assert outcome.exercised >= RULES


@pytest.mark.parametrize(
    ("mutant", "rule_id"),
    [
        ("retries_after_success", "RETRY-MAX-ATTEMPTS"),
        ("one_attempt_too_many", "RETRY-MAX-ATTEMPTS"),
        ("retries_everything", "RETRY-MAX-ATTEMPTS"),
        ("ignores_cap", "RETRY-BACKOFF"),
        ("equal_jitter_from_zero", "RETRY-BACKOFF"),
        ("cancel_continues", "RETRY-CANCEL"),
        ("cancel_returns_none", "RETRY-CANCEL"),
        ("raises_first_error", "RETRY-LAST-ERROR"),
        ("counts_retry_before_sleep", "METRICS-CONSISTENT"),
    ],
)
def test_broken_retry_is_caught(mutant: str, rule_id: str) -> None:
    implementation = load_implementation(f"tests.harness.broken.retry:{mutant}")
    outcome = search_model(RetryModel, implementation, PROFILES["ci"])
    assert outcome.error is None
    assert rule_id in outcome.failures, f"found only {sorted(outcome.failures)}"
    counterexample = outcome.failures[rule_id]
    assert counterexample.steps, "a counterexample lists its steps"
    assert counterexample.blob, "a counterexample carries its replay blob"
