"""The retry model passes the reference and catches a broken implementation with its rule."""

from __future__ import annotations

from harness.plugin import load_implementation
from harness.rules import Pattern, rules_for
from harness.search.engine import PROFILES, search_model
from harness.search.models.retry import RetryModel

RULES = {r.id for r in rules_for(Pattern.RETRY)}


def test_reference_passes_every_retry_rule() -> None:
    outcome = search_model(
        RetryModel, load_implementation("reference.plugin:implementation"), PROFILES["quick"]
    )
    assert outcome.error is None
    assert outcome.failures == {}, {k: v.render() for k, v in outcome.failures.items()}
    assert outcome.exercised >= RULES


def test_a_broken_retrier_yields_a_minimal_replayable_counterexample() -> None:
    # Every mutant is checked through the CLI by tests/mutants/test_kill.py; this one checks
    # the shape of what the search hands back.
    implementation = load_implementation("tests.mutants.retry:raises_first_error")
    outcome = search_model(RetryModel, implementation, PROFILES["quick"])
    assert outcome.error is None
    assert "RETRY-LAST-ERROR" in outcome.failures, f"found only {sorted(outcome.failures)}"
    counterexample = outcome.failures["RETRY-LAST-ERROR"]
    assert counterexample.steps, "a counterexample lists its steps"
    assert counterexample.blob, "a counterexample carries its replay blob"
    assert counterexample.evidence, "a counterexample shows the offending events"
