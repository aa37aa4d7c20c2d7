"""Boundary parameters: the models draw them, a declaration's ``supports`` leaves them out.

The meanings are on the patterns' pages (docs/patterns/retry.md, rate.md, pool.md):
``max_attempts`` 0 is refused and thousands of attempts are a long schedule, ``base`` and
``cap`` may be 0, ``job_timeout`` 0 is a deadline at the job's start, and a weight above the
burst is never admitted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checkers.retry import RetryChecker
from harness.checking import TraceChecker
from harness.conformance import RuleResult
from harness.contract import Implementation
from harness.events import Event
from harness.plugin import ConfigError, _validate, load_implementation
from harness.reports import ImplementationResult, to_json, to_markdown
from harness.search.model import ExampleOutcome, run_example
from harness.search.models.pool import PoolModel
from harness.search.models.rate import RateModel
from harness.search.models.retry import RetryModel
from reference.plugin import implementation as reference_declaration


def declaration(**extra: Any) -> dict[str, Any]:
    """The reference's declaration as a mapping, with ``extra`` fields."""
    ref = reference_declaration()
    return {
        "name": "ranged",
        "backend": ref.backend,
        "capabilities": ref.capabilities,
        "factories": ref.factories,
        "closed_errors": ref.closed_errors,
        "counters": ref.counters,
        **extra,
    }


def ranged(supports: dict[str, Any]) -> Implementation:
    return _validate("tests:ranged", declaration(supports=supports))


def outcomes(model: Any, implementation: Implementation, examples: int) -> list[ExampleOutcome]:
    """``examples`` derandomized examples of ``model``, each kept."""
    kept: list[ExampleOutcome] = []

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def collect(data: st.DataObject) -> None:
        kept.append(run_example(model, implementation, data))

    collect()
    return kept


# -- the declaration ----------------------------------------------------------------------------


def test_a_declared_range_is_stored_and_judges_values() -> None:
    implementation = ranged({"max_attempts": {"min": 1, "max": 1024}, "weight": {"max": "burst"}})
    assert implementation.supported("max_attempts", 4)
    assert not implementation.supported("max_attempts", 0)
    assert not implementation.supported("max_attempts", 1100)
    assert implementation.supported("weight", 3, {"burst": 3})
    assert not implementation.supported("weight", 4, {"burst": 3})
    assert implementation.supported("job_timeout", 0.0)  # not declared: the whole domain
    assert implementation.supported("max_attempts", None)
    assert implementation.excluded() == [
        "max_attempts < 1",
        "max_attempts > 1024",
        "weight > burst",
    ]
    assert load_implementation("reference.plugin:implementation").excluded() == []


@pytest.mark.parametrize(
    ("supports", "message"),
    [
        ([("max_attempts", 1)], "must map parameters"),
        ({"capacity": {"min": 1}}, "no boundary values"),
        ({"max_attempts": {"least": 1}}, "a range"),
        ({"max_attempts": {}}, "a range"),
        ({"max_attempts": {"min": "1"}}, "is no parameter"),
        ({"max_attempts": {"min": True}}, "must be a number"),
        ({"max_attempts": {"max": float("inf")}}, "finite"),
        ({"max_attempts": {"min": 2}}, "leave out ordinary values"),
        ({"base": {"min": 0.1}}, "leave out ordinary values"),
        ({"weight": {"max": 3}}, "leave out ordinary values"),
        ({"weight": {"max": "rate"}}, "leave out ordinary values"),
    ],
)
def test_a_bad_range_is_a_configuration_error(supports: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ranged(supports)


def test_the_reports_say_which_values_were_left_out() -> None:
    implementation = ranged({"max_attempts": {"max": 1024}})
    result = ImplementationResult(implementation, runs=[], results=list[RuleResult]())
    assert "Note on `ranged`: not drawn, by its declared ranges: max_attempts > 1024." in (
        to_markdown([result], "ci", 1.0)
    )
    assert to_json([result], "ci", 1.0)["implementations"][0]["excluded"] == ["max_attempts > 1024"]


# -- the models draw the boundaries, and never a value declared out ------------------------------


def retry_params(found: list[ExampleOutcome]) -> list[dict[str, Any]]:
    return [outcome.params for outcome in found]


def test_the_retry_model_draws_zero_long_schedules_and_zero_delays() -> None:
    found = outcomes(RetryModel, load_implementation("reference.plugin:implementation"), 300)
    params = retry_params(found)
    attempts = {p["max_attempts"] for p in params}
    assert 0 in attempts
    assert attempts & {1100, 5000}  # past 2.0**(n-1)'s overflow
    assert any(p["base"] == 0 for p in params)
    assert any(p["cap"] == 0 for p in params)
    assert any(p["cap"] < p["base"] for p in params)
    refused = [e for o in found for e in o.events if e.get("outcome") == "refused"]
    assert refused, "max_attempts=0 calls end refused"
    # A long script ran past its drawn steps (how far depends on the drawn cancels; the kill
    # test's long-schedule mutants show it reaching the overflow under the ci profile).
    longest = max(e.get("attempt") or 0 for o in found for e in o.events)
    assert longest > 100
    assert all(not o.violations for o in found), [o.violations[:1] for o in found if o.violations]


def test_the_retry_model_keeps_inside_a_declared_range() -> None:
    implementation = ranged({"max_attempts": {"min": 1, "max": 1024}})
    params = retry_params(outcomes(RetryModel, implementation, 200))
    assert all(1 <= p["max_attempts"] <= 1024 for p in params)
    assert any(p["max_attempts"] == 700 for p in params)  # the long schedule that fits
    # Without a base of 0 or 1e-4 no long schedule fits the call deadline: none is drawn.
    no_zero = retry_params(outcomes(RetryModel, ranged({"base": {"min": 0.05}}), 100))
    assert all(p["base"] >= 0.05 for p in no_zero)
    assert all(p["max_attempts"] <= 4 for p in no_zero)


def kinds(found: list[ExampleOutcome], kind: str) -> list[Event]:
    return [event for outcome in found for event in outcome.events if event.kind == kind]


def test_the_rate_model_draws_a_weight_above_the_burst_unless_declared_out() -> None:
    reference = outcomes(RateModel, load_implementation("reference.plugin:implementation"), 150)
    refused = kinds(reference, "over_burst")
    assert {e.get("via") for e in refused} >= {"acquire", "try_admit"}
    assert all(not o.violations for o in reference)
    assert all(
        e.get("weight") <= o.params["burst"]
        for o in outcomes(RateModel, ranged({"weight": {"max": "burst"}}), 150)
        if "burst" in o.params
        for e in o.events
        if e.kind in ("acquire", "admit", "refuse")
    )


def test_the_pool_model_draws_a_zero_job_timeout() -> None:
    found = outcomes(PoolModel, load_implementation("reference.plugin:implementation"), 150)
    zero = [o for o in found if o.params.get("job_timeout") == 0]
    assert any(kinds(zero, "submit"))
    assert all(not o.violations for o in found)
    declared = outcomes(PoolModel, ranged({"job_timeout": {"min": 0.001}}), 100)
    assert all(o.params.get("job_timeout") != 0 for o in declared)


# -- the retry checker's max_attempts=0 ----------------------------------------------------------


def judge(*events: Event) -> set[str]:
    params = {"pattern": "retry", "factory": "retrier", "max_attempts": 0}
    checker = TraceChecker([RetryChecker(params)])
    checker.feed_all([Event(0.0, "params", None, params), *events])
    return {v.rule_id for v in checker.violations()}


def call(outcome: str, *attempts: Event, **end: Any) -> list[Event]:
    ending = {"value": None, "error": None, **end}
    return [
        Event(0.0, "call_begin", 0, {}),
        *attempts,
        Event(0.0, "call_end", 0, {"outcome": outcome, **ending}),
    ]


BEGIN = Event(0.0, "attempt_begin", 0, {"attempt": 1})
FAILED = Event(
    0.0, "attempt_fail", 0, {"attempt": 1, "retryable": True, "error": "e", "low": 0, "high": 0}
)
CASES: list[tuple[str, Callable[[], list[Event]], set[str]]] = [
    ("refused", lambda: call("refused", error="ValueError('max_attempts')"), set()),
    ("returned without an attempt", lambda: call("ok", value=1), {"RETRY-MAX-ATTEMPTS"}),
    ("one attempt", lambda: call("error", BEGIN, FAILED, error="e"), {"RETRY-MAX-ATTEMPTS"}),
]


@pytest.mark.parametrize(("name", "events", "rules"), CASES, ids=[c[0] for c in CASES])
def test_max_attempts_zero_must_be_refused(
    name: str, events: Callable[[], list[Event]], rules: set[str]
) -> None:
    assert judge(*events()) == rules
