"""The group model passes the reference and catches a broken implementation with its rule."""

from __future__ import annotations

from harness.plugin import load_implementation
from harness.rules import Pattern, rules_for
from harness.search.engine import PROFILES, search_model
from harness.search.models.group import GroupModel

# This pattern has no shared counter to check, so METRICS-CONSISTENT is left out.
RULES = {r.id for r in rules_for(Pattern.GROUP)} - {"METRICS-CONSISTENT"}


def test_reference_passes_every_group_rule() -> None:
    outcome = search_model(
        GroupModel, load_implementation("reference.plugin:implementation"), PROFILES["quick"]
    )
    assert outcome.error is None
    assert outcome.failures == {}, {k: v.render() for k, v in outcome.failures.items()}
    assert outcome.exercised >= RULES


def test_a_broken_group_yields_a_minimal_replayable_counterexample() -> None:
    # Every mutant is checked through the CLI by tests/mutants/test_kill.py; this one checks
    # the shape of what the search hands back.
    implementation = load_implementation("tests.mutants.group:keeps_last_error")
    outcome = search_model(GroupModel, implementation, PROFILES["quick"])
    assert outcome.error is None
    assert "GROUP-FIRST-ERROR" in outcome.failures, f"found only {sorted(outcome.failures)}"
    counterexample = outcome.failures["GROUP-FIRST-ERROR"]
    assert counterexample.steps, "a counterexample lists its steps"
    assert counterexample.blob, "a counterexample carries its replay blob"
    assert counterexample.evidence, "a counterexample shows the offending events"
