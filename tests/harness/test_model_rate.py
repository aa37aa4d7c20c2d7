"""The rate model passes the reference and catches each broken limiter with its rule."""

from __future__ import annotations

import pytest

from harness.models.rate import RateModel
from harness.plugin import load_implementation
from harness.rules import Pattern, rules_for
from harness.search import PROFILES, Profile, search_model

RATE_RULES = {r.id for r in rules_for(Pattern.RATE)}


def test_reference_passes_every_rate_rule() -> None:
    outcome = search_model(
        RateModel, load_implementation("reference.plugin:implementation"), PROFILES["ci"]
    )
    assert outcome.error is None
    assert outcome.failures == {}, "\n\n".join(c.render() for c in outcome.failures.values())
    assert outcome.exercised >= RATE_RULES


@pytest.mark.parametrize(
    ("mutant", "rule_id"),
    [
        ("uncapped_refill", "RATE-BOUND"),
        ("leaky_catch_up", "RATE-BOUND"),
        ("polling", "RATE-NO-OVERTHROTTLE"),
        ("barging_try_acquire", "RATE-NO-OVERTHROTTLE"),
        ("lifo_waiters", "RATE-NO-OVERTHROTTLE"),
        ("dead_waiter", "RATE-CANCEL-NO-LOSS"),
        ("cancel_consumes", "RATE-CANCEL-NO-LOSS"),
        ("strict_gate", "RATE-SHED-ONLY-WHEN-EMPTY"),
        ("uncounted_rejections", "METRICS-CONSISTENT"),
    ],
)
def test_broken_limiter_is_caught(mutant: str, rule_id: str) -> None:
    implementation = load_implementation(f"tests.harness.broken.rate:{mutant}")
    outcome = search_model(RateModel, implementation, Profile("mutant", 100, derandomize=True))
    assert outcome.error is None
    assert rule_id in outcome.failures, f"found only {sorted(outcome.failures)}"
    counterexample = outcome.failures[rule_id]
    assert counterexample.steps, "a counterexample lists its steps"
    assert counterexample.blob, "a counterexample carries its replay blob"
