"""The pool model passes the reference and catches each broken pool with its rule."""

from __future__ import annotations

import pytest

from harness.models.pool import PoolModel
from harness.plugin import load_implementation
from harness.rules import Pattern, rules_for
from harness.search import PROFILES, search_model

POOL_RULES = {r.id for r in rules_for(Pattern.POOL)}


def test_reference_passes_every_pool_rule() -> None:
    outcome = search_model(
        PoolModel, load_implementation("reference.plugin:implementation"), PROFILES["ci"]
    )
    assert outcome.error is None
    assert outcome.failures == {}, {r: c.render() for r, c in outcome.failures.items()}
    assert outcome.exercised >= POOL_RULES


@pytest.mark.parametrize(
    ("mutant", "rule_id"),
    [
        ("results_never_closed", "POOL-RESULTS-CLOSED-ONCE"),
        ("first_worker_closes_results", "POOL-RESULTS-CLOSED-ONCE"),
        ("receiver_closes_results", "POOL-RESULTS-CLOSED-ONCE"),
        ("drops_failed_jobs", "POOL-EXACTLY-ONCE"),
        ("one_extra_worker", "POOL-CONCURRENCY"),
        ("serialized_workers", "POOL-CONCURRENCY"),
        ("keeps_starting_after_cancel", "POOL-NO-LEAK"),
        ("system_task_supervisor", "POOL-NO-LEAK"),
        ("cancel_waits_for_running_jobs", "POOL-CANCEL-PROMPT"),
        ("timeout_not_enforced", "POOL-TIMEOUT"),
        ("close_discards_queue", "POOL-DRAIN"),
        ("counts_errors_as_completed", "METRICS-CONSISTENT"),
    ],
)
def test_broken_pool_is_caught(mutant: str, rule_id: str) -> None:
    implementation = load_implementation(f"tests.harness.broken.pool:{mutant}")
    outcome = search_model(PoolModel, implementation, PROFILES["ci"])
    assert outcome.error is None
    assert rule_id in outcome.failures, f"found only {sorted(outcome.failures)}"
