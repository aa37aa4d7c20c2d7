"""Hand-written traces for the retry checkers: each rule flagged, valid traces passed."""

from __future__ import annotations

from typing import Any

from harness.checkers.retry import RetryChecker, RetryMetricsChecker
from harness.checking import TraceChecker
from harness.events import Event

PARAMS = {"pattern": "retry", "factory": "retrier", "max_attempts": 3}


def ev(t: float, kind: str, ident: Any = None, **data: Any) -> Event:
    return Event(t, kind, ident, data)


def run(events: list[Event], params: dict[str, Any] = PARAMS) -> tuple[set[str], TraceChecker]:
    checker = TraceChecker([RetryChecker(params), RetryMetricsChecker(params)])
    checker.feed_all(events)
    return {v.rule_id for v in checker.violations()}, checker


def fail(t: float, n: int, *, retryable: bool = True, low: float = 0.1, high: float = 0.2) -> Event:
    return ev(
        t, "attempt_fail", 0, attempt=n, retryable=retryable, error=f"e{n}", low=low, high=high
    )


def exhausted(delays: tuple[float, float] = (0.15, 0.15)) -> list[Event]:
    """Three attempts of 1 s, each failing; the call raises the third error."""
    t2 = 1.0 + delays[0]
    t3 = t2 + 1.0 + delays[1]
    return [
        ev(0.0, "params", None, **PARAMS),
        ev(0.0, "call_begin", 0),
        ev(0.0, "attempt_begin", 0, attempt=1),
        fail(1.0, 1),
        ev(t2, "attempt_begin", 0, attempt=2),
        fail(t2 + 1.0, 2),
        ev(t3, "attempt_begin", 0, attempt=3),
        fail(t3 + 1.0, 3),
        ev(t3 + 1.0, "call_end", 0, outcome="error", value=None, error="e3"),
        ev(t3 + 1.0, "metrics", None, counters={"retries": 2}),
        ev(t3 + 1.0, "end"),
    ]


def test_exhausted_call_passes_and_exercises_everything_but_cancel() -> None:
    found, checker = run(exhausted())
    assert found == set()
    assert checker.exercised() == {
        "RETRY-MAX-ATTEMPTS",
        "RETRY-BACKOFF",
        "RETRY-LAST-ERROR",
        "METRICS-CONSISTENT",
    }


def test_success_after_retry_passes() -> None:
    events = [
        ev(0.0, "call_begin", 0),
        ev(0.0, "attempt_begin", 0, attempt=1),
        fail(0.5, 1),
        ev(0.6, "attempt_begin", 0, attempt=2),
        ev(0.7, "attempt_ok", 0, attempt=2, value="v"),
        ev(0.7, "call_end", 0, outcome="ok", value="v", error=None),
        ev(0.7, "metrics", None, counters={"retries": 1}),
    ]
    assert run(events)[0] == set()


def test_fourth_attempt_breaks_max_attempts() -> None:
    events = exhausted()[:-3]
    t = events[-1].t
    events += [
        ev(t + 0.15, "attempt_begin", 0, attempt=4),
        fail(t + 0.2, 4),
        ev(t + 0.2, "call_end", 0, outcome="error", value=None, error="e4"),
    ]
    assert run(events)[0] == {"RETRY-MAX-ATTEMPTS"}


def test_attempt_after_success_breaks_max_attempts() -> None:
    events = [
        ev(0.0, "call_begin", 0),
        ev(0.0, "attempt_begin", 0, attempt=1),
        ev(0.1, "attempt_ok", 0, attempt=1, value="v1"),
        ev(0.2, "attempt_begin", 0, attempt=2),
        ev(0.3, "attempt_ok", 0, attempt=2, value="v2"),
        ev(0.3, "call_end", 0, outcome="ok", value="v2", error=None),
    ]
    assert run(events)[0] == {"RETRY-MAX-ATTEMPTS"}


def test_attempt_after_non_retryable_error_breaks_max_attempts() -> None:
    events = [
        ev(0.0, "call_begin", 0),
        ev(0.0, "attempt_begin", 0, attempt=1),
        fail(0.1, 1, retryable=False),
        ev(0.25, "attempt_begin", 0, attempt=2),
        ev(0.3, "attempt_ok", 0, attempt=2, value="v2"),
        ev(0.3, "call_end", 0, outcome="ok", value="v2", error=None),
    ]
    assert run(events)[0] == {"RETRY-MAX-ATTEMPTS"}


def test_giving_up_early_breaks_max_attempts() -> None:
    events = [
        ev(0.0, "call_begin", 0),
        ev(0.0, "attempt_begin", 0, attempt=1),
        fail(0.1, 1),
        ev(0.1, "call_end", 0, outcome="error", value=None, error="e1"),
    ]
    assert run(events)[0] == {"RETRY-MAX-ATTEMPTS"}


def test_non_retryable_error_raised_at_once_passes() -> None:
    events = [
        ev(0.0, "call_begin", 0),
        ev(0.0, "attempt_begin", 0, attempt=1),
        fail(0.1, 1, retryable=False),
        ev(0.1, "call_end", 0, outcome="error", value=None, error="e1"),
    ]
    assert run(events)[0] == set()


def test_delay_above_high_breaks_backoff() -> None:
    assert run(exhausted(delays=(0.15, 0.5)))[0] == {"RETRY-BACKOFF"}


def test_delay_below_low_breaks_backoff() -> None:
    assert run(exhausted(delays=(0.05, 0.15)))[0] == {"RETRY-BACKOFF"}


def test_delay_on_its_bounds_passes() -> None:
    assert run(exhausted(delays=(0.1, 0.2)))[0] == set()


def test_cancel_during_backoff_passes() -> None:
    events = [
        ev(0.0, "call_begin", 0),
        ev(0.0, "attempt_begin", 0, attempt=1),
        fail(0.1, 1),
        ev(0.15, "cancel", 0),
        ev(0.15, "call_end", 0, outcome="cancelled", value=None, error=None),
        ev(0.15, "metrics", None, counters={"retries": 0}),
    ]
    found, checker = run(events)
    assert found == set()
    assert "RETRY-CANCEL" in checker.exercised()


def test_cancel_during_attempt_passes() -> None:
    events = [
        ev(0.0, "call_begin", 0),
        ev(0.0, "attempt_begin", 0, attempt=1),
        ev(0.05, "cancel", 0),
        ev(0.05, "attempt_cancelled", 0, attempt=1),
        ev(0.05, "call_end", 0, outcome="cancelled", value=None, error=None),
    ]
    assert run(events)[0] == set()


def test_attempt_after_cancel_breaks_cancel() -> None:
    events = [
        ev(0.0, "call_begin", 0),
        ev(0.0, "attempt_begin", 0, attempt=1),
        fail(0.1, 1),
        ev(0.15, "cancel", 0),
        ev(0.15, "attempt_begin", 0, attempt=2),
        ev(0.15, "attempt_cancelled", 0, attempt=2),
        ev(0.15, "call_end", 0, outcome="cancelled", value=None, error=None),
    ]
    assert run(events)[0] == {"RETRY-CANCEL"}


def test_cancelled_call_returning_none_breaks_cancel() -> None:
    events = [
        ev(0.0, "call_begin", 0),
        ev(0.0, "attempt_begin", 0, attempt=1),
        fail(0.1, 1),
        ev(0.15, "cancel", 0),
        ev(0.15, "call_end", 0, outcome="ok", value=None, error=None),
    ]
    assert run(events)[0] == {"RETRY-CANCEL"}


def test_cancel_losing_the_race_to_a_success_passes() -> None:
    events = [
        ev(0.0, "call_begin", 0),
        ev(0.0, "attempt_begin", 0, attempt=1),
        ev(0.1, "attempt_ok", 0, attempt=1, value="v"),
        ev(0.1, "cancel", 0),
        ev(0.1, "call_end", 0, outcome="ok", value="v", error=None),
    ]
    assert run(events)[0] == set()


def test_cancel_after_overdue_backoff_breaks_backoff() -> None:
    events = [
        ev(0.0, "call_begin", 0),
        ev(0.0, "attempt_begin", 0, attempt=1),
        fail(0.1, 1),
        ev(1.0, "cancel", 0),
        ev(1.0, "call_end", 0, outcome="cancelled", value=None, error=None),
    ]
    assert run(events)[0] == {"RETRY-BACKOFF"}


def test_first_error_raised_breaks_last_error() -> None:
    events = exhausted()
    events[8] = ev(events[8].t, "call_end", 0, outcome="error", value=None, error="e1")
    assert run(events)[0] == {"RETRY-LAST-ERROR"}


def test_foreign_error_breaks_last_error() -> None:
    events = exhausted()
    events[8] = ev(events[8].t, "call_end", 0, outcome="error", value=None, error="foreign")
    assert run(events)[0] == {"RETRY-LAST-ERROR"}


def test_value_without_success_breaks_last_error() -> None:
    events = exhausted()
    events[8] = ev(events[8].t, "call_end", 0, outcome="ok", value=None, error=None)
    assert run(events)[0] == {"RETRY-LAST-ERROR"}


def test_wrong_retries_counter_breaks_metrics() -> None:
    events = exhausted()
    events[9] = ev(events[9].t, "metrics", None, counters={"retries": 3})
    assert run(events)[0] == {"METRICS-CONSISTENT"}


def test_retry_counter_spans_calls() -> None:
    second = [
        ev(10.0, "call_begin", 1),
        ev(10.0, "attempt_begin", 1, attempt=1),
        ev(10.0, "attempt_fail", 1, attempt=1, retryable=True, error="x", low=0.0, high=1.0),
        ev(10.5, "attempt_begin", 1, attempt=2),
        ev(10.6, "attempt_ok", 1, attempt=2, value="v"),
        ev(10.6, "call_end", 1, outcome="ok", value="v", error=None),
        ev(10.6, "metrics", None, counters={"retries": 3}),
    ]
    assert run(exhausted()[:-1] + second)[0] == set()


SCHEDULE = {**PARAMS, "base": 0.1, "factor": 2.0, "cap": 0.3, "jitter": "equal"}


def declared(bounds: list[tuple[float, float]]) -> list[Event]:
    """A call of three failing attempts declaring ``bounds``, each delay at its upper bound."""
    events = [ev(0.0, "params", None, **SCHEDULE), ev(0.0, "call_begin", 0)]
    t = 0.0
    for n, (low, high) in enumerate(bounds, start=1):
        events += [ev(t, "attempt_begin", 0, attempt=n), fail(t + 1.0, n, low=low, high=high)]
        t += 1.0 + high
    return events


def test_bounds_of_the_built_schedule_pass() -> None:
    # d = min(0.3, 0.1 * 2**(n-1)) = 0.1, 0.2, 0.3; equal jitter declares [d/2, d].
    found, _ = run(declared([(0.05, 0.1), (0.1, 0.2), (0.15, 0.3)]), SCHEDULE)
    assert "RETRY-BACKOFF" not in found


def test_bounds_that_drift_from_the_built_schedule_are_flagged() -> None:
    # The second failure declares the first's bounds again: a schedule that never grows, with
    # every delay inside what the retrier itself declared.
    found, checker = run(declared([(0.05, 0.1), (0.05, 0.1)]), SCHEDULE)
    assert found == {"RETRY-BACKOFF"}
    (violation,) = checker.violations()
    assert "[0.1, 0.2]" in violation.message


def test_full_jitter_declared_as_no_jitter_is_flagged() -> None:
    params = {**SCHEDULE, "jitter": "full"}
    events = [ev(0.0, "params", None, **params), ev(0.0, "call_begin", 0)]
    events += [ev(0.0, "attempt_begin", 0, attempt=1), fail(1.0, 1, low=0.1, high=0.1)]
    found, _ = run(events, params)
    assert found == {"RETRY-BACKOFF"}
