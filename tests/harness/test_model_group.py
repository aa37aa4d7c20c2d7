"""The group model passes the reference and catches each broken implementation with its rule."""

from __future__ import annotations

import pytest

from harness.models.group import GroupModel
from harness.plugin import load_implementation
from harness.rules import Pattern, rules_for
from harness.search import PROFILES, search_model

# This pattern has no shared counter to check, so METRICS-CONSISTENT is left out.
RULES = {r.id for r in rules_for(Pattern.GROUP)} - {"METRICS-CONSISTENT"}


def test_reference_passes_every_group_rule() -> None:
    outcome = search_model(
        GroupModel, load_implementation("reference.plugin:implementation"), PROFILES["ci"]
    )
    assert outcome.error is None
    assert outcome.failures == {}, {k: v.render() for k, v in outcome.failures.items()}
    assert outcome.exercised >= RULES


@pytest.mark.parametrize(
    ("mutant", "rule_id"),
    [
        ("keeps_last_error", "GROUP-FIRST-ERROR"),
        ("no_cancel", "GROUP-FIRST-ERROR"),
        ("shielded_tasks", "GROUP-FIRST-ERROR"),
        ("cancels_on_success", "GROUP-FIRST-ERROR"),
    ],
)
def test_broken_group_is_caught(mutant: str, rule_id: str) -> None:
    implementation = load_implementation(f"tests.harness.broken.group:{mutant}")
    outcome = search_model(GroupModel, implementation, PROFILES["ci"])
    assert outcome.error is None
    assert rule_id in outcome.failures, f"found only {sorted(outcome.failures)}"
    counterexample = outcome.failures[rule_id]
    assert counterexample.steps, "a counterexample lists its steps"
    assert counterexample.blob, "a counterexample carries its replay blob"
