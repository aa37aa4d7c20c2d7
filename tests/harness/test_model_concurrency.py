"""The concurrency model passes the reference and catches a broken limiter with its rule."""

from __future__ import annotations

from typing import Any

from harness.plugin import load_implementation
from harness.rules import Pattern, rules_for
from harness.search.engine import PROFILES, search_model
from harness.search.models.concurrency import ConcurrencyModel

CONC_RULES = {r.id for r in rules_for(Pattern.CONCURRENCY)}


def test_reference_passes_every_concurrency_rule() -> None:
    outcome = search_model(
        ConcurrencyModel, load_implementation("reference.plugin:implementation"), PROFILES["quick"]
    )
    assert outcome.error is None
    assert outcome.failures == {}, "\n\n".join(c.render() for c in outcome.failures.values())
    # Every rule of the pattern is judged (the reference declares fifo and strict_release);
    # METRICS-CONSISTENT has no concurrency counters to compare.
    assert outcome.exercised >= CONC_RULES - {"METRICS-CONSISTENT"}


def test_a_limiter_without_release_is_driven_through_async_with() -> None:
    # Every mutant is checked through the CLI by tests/mutants/test_kill.py; this one checks
    # that an object offering only ``async with`` is driven, and what the search hands back.
    implementation = load_implementation("tests.mutants.concurrency:release_on_clean_exit")
    outcome = search_model(ConcurrencyModel, implementation, PROFILES["quick"])
    assert outcome.error is None
    assert "CONC-CANCEL-NO-LEAK" in outcome.failures, f"found only {sorted(outcome.failures)}"
    counterexample = outcome.failures["CONC-CANCEL-NO-LEAK"]
    assert any("cancel holder #" in step for step in counterexample.steps)
    assert counterexample.blob, "a counterexample carries its replay blob"
    assert counterexample.evidence, "a counterexample shows the offending events"
    assert "release" in outcome.lacking


class _Neither:
    """Has ``acquire`` but no ``release``, and no ``async with``: no form to drive."""

    async def acquire(self) -> None:
        pass


def neither_form() -> dict[str, Any]:
    """A declaration whose limiter can be driven in neither form."""
    return {
        "name": "neither",
        "backend": "trio",
        "factories": {"concurrency_limiter": lambda *, limit: _Neither()},
    }


def test_an_object_with_neither_form_is_a_crash_that_says_so() -> None:
    implementation = load_implementation(f"{__name__}:neither_form")
    outcome = search_model(ConcurrencyModel, implementation, PROFILES["quick"])
    assert outcome.error is None
    assert set(outcome.failures) == {"NO-CRASH"}
    message = outcome.failures["NO-CRASH"].message
    assert "concurrency_limiter() raised nothing, but returned" in message
    assert "not a concurrency limiter" in message
