"""Hand-written rate traces: each rule's checker flags its violation and passes valid traces."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checkers.rate import RateChecker
from harness.checking import TraceChecker
from harness.events import Event


def ev(t: float, kind: str, ident: Any = None, **data: Any) -> Event:
    return Event(t, kind, ident, data)


def token(rate: float, burst: int, factory: str = "token_bucket") -> list[Event]:
    params = {"pattern": "rate", "factory": factory, "rate": rate, "burst": burst}
    return [ev(0.0, "params", **params), ev(0.0, "created"), ev(0.0, "idle")]


def leaky(interval: float) -> list[Event]:
    params = {"pattern": "rate", "factory": "leaky_bucket", "interval": interval}
    return [ev(0.0, "params", **params), ev(0.0, "created"), ev(0.0, "idle")]


def check(trace: list[Event]) -> tuple[set[str], set[str]]:
    params = dict(trace[0].data)
    checker = TraceChecker([RateChecker(params)])
    checker.feed_all([*trace, ev(trace[-1].t, "end")])
    return {v.rule_id for v in checker.violations()}, checker.exercised()


def waiter_admitted(t0: float, t1: float, ident: int, weight: int = 1) -> list[Event]:
    return [
        ev(t0, "acquire", ident, weight=weight),
        ev(t0, "idle"),
        ev(t1, "admit", ident, weight=weight, via="acquire"),
        ev(t1, "idle"),
    ]


# -- valid traces ---------------------------------------------------------------------------------
def test_token_bucket_on_awkward_float_steps_passes() -> None:
    # rate 3, burst 1, time advanced by repeated 1/3 s steps: every instant is off by a few ulps.
    trace = token(3.0, 1)
    t = 0.0
    trace += [ev(t, "admit", "p0", weight=1, via="try_acquire"), ev(t, "idle")]
    for k in range(1, 30):
        trace += [ev(t, "acquire", k, weight=1), ev(t, "idle")]
        t += 1 / 3
        trace += [ev(t, "admit", k, weight=1, via="acquire"), ev(t, "idle")]
    trace += [ev(t, "refuse", "p1", weight=1, via="try_acquire"), ev(t, "idle")]
    trace += [ev(t, "metrics", counters={"admissions": 30})]
    violations, exercised = check(trace)
    assert violations == set()
    assert {"RATE-BOUND", "RATE-NO-OVERTHROTTLE", "METRICS-CONSISTENT"} <= exercised


def test_weighted_fifo_with_cancellation_passes() -> None:
    # rate 1, burst 3: empty the bucket, queue a heavy and a light waiter, cancel the heavy one
    # at t=1: the light one then goes at once (it had its token since t=1).
    trace = token(1.0, 3)
    trace += [ev(0.0, "admit", "p0", weight=3, via="try_acquire"), ev(0.0, "idle")]
    trace += [ev(0.0, "acquire", 1, weight=3), ev(0.0, "idle")]
    trace += [ev(0.0, "acquire", 2, weight=1), ev(0.0, "idle")]
    trace += [ev(0.5, "idle"), ev(0.5, "refuse", "p1", weight=1, via="try_acquire")]
    trace += [ev(1.0, "idle"), ev(1.0, "cancel", 1), ev(1.0, "acquire_cancelled", 1)]
    trace += [ev(1.0, "admit", 2, weight=1, via="acquire"), ev(1.0, "idle")]
    trace += [ev(1.0, "acquire", 3, weight=2), ev(1.0, "idle")]
    trace += [ev(3.0, "admit", 3, weight=2, via="acquire"), ev(3.0, "idle")]
    trace += [ev(10.0, "idle")] + [
        ev(10.0, "admit", f"p{k}", weight=1, via="try_acquire") for k in range(2, 5)
    ]
    violations, exercised = check(trace)
    assert violations == set()
    assert "RATE-CANCEL-NO-LOSS" in exercised


def test_leaky_bucket_on_third_intervals_passes() -> None:
    trace = leaky(1 / 3)
    t = 0.0
    trace += [ev(t, "admit", "p0", weight=1, via="try_acquire"), ev(t, "idle")]
    for k in range(1, 4):
        trace += [ev(t, "acquire", k, weight=1), ev(t, "idle")]
    for k in range(1, 4):
        t += 1 / 3
        trace += [ev(t, "admit", k, weight=1, via="acquire")]
    trace += [ev(t, "idle"), ev(t, "refuse", "p1", weight=1, via="try_acquire")]
    violations, exercised = check(trace)
    assert violations == set()
    assert {"RATE-BOUND", "RATE-NO-OVERTHROTTLE"} <= exercised


def test_gate_sheds_only_when_empty_passes() -> None:
    trace = token(0.5, 2, factory="shedding_gate")
    trace += [ev(0.0, "admit", f"p{k}", weight=1, via="try_admit") for k in range(2)]
    trace += [ev(0.0, "refuse", "p2", weight=1, via="try_admit"), ev(1.9, "idle")]
    trace += [ev(1.9, "refuse", "p3", weight=1, via="try_admit")]
    trace += [ev(2.0, "admit", "p4", weight=1, via="try_admit"), ev(2.0, "idle")]
    trace += [ev(2.0, "metrics", counters={"admissions": 3, "rejections": 2})]
    violations, exercised = check(trace)
    assert violations == set()
    assert {"RATE-SHED-ONLY-WHEN-EMPTY", "METRICS-CONSISTENT", "RATE-BOUND"} <= exercised


# -- violating traces -----------------------------------------------------------------------------
def only(trace: list[Event], rule_id: str) -> None:
    violations, exercised = check(trace)
    assert violations == {rule_id}
    assert rule_id in exercised


def test_more_than_burst_at_once_breaks_the_bound() -> None:
    trace = token(1.0, 2)
    trace += [ev(0.0, "admit", f"p{k}", weight=1, via="try_acquire") for k in range(3)]
    only(trace, "RATE-BOUND")


def test_refill_above_burst_breaks_the_bound() -> None:
    # After 10 s idle the bucket holds at most burst=2, never 10.
    trace = [*token(1.0, 2), ev(10.0, "idle")]
    trace += [ev(10.0, "admit", f"p{k}", weight=1, via="try_acquire") for k in range(3)]
    only(trace, "RATE-BOUND")


def test_leaky_admissions_too_close_break_the_bound() -> None:
    trace = leaky(0.5)
    trace += [ev(0.0, "admit", "p0", weight=1, via="try_acquire"), ev(0.0, "idle")]
    trace += [ev(0.0, "acquire", 1, weight=1), ev(0.0, "idle")]
    trace += [ev(0.4, "admit", 1, weight=1, via="acquire")]
    only(trace, "RATE-BOUND")


def test_head_waiter_still_waiting_with_tokens_is_overthrottled() -> None:
    trace = token(2.0, 1)
    trace += [ev(0.0, "admit", "p0", weight=1, via="try_acquire"), ev(0.0, "idle")]
    trace += [ev(0.0, "acquire", 1, weight=1), ev(0.0, "idle"), ev(0.6, "idle")]
    only(trace, "RATE-NO-OVERTHROTTLE")


def test_late_admission_is_overthrottled() -> None:
    trace = token(2.0, 1)
    trace += [ev(0.0, "admit", "p0", weight=1, via="try_acquire"), ev(0.0, "idle")]
    trace += waiter_admitted(0.0, 0.55, 1)
    only(trace, "RATE-NO-OVERTHROTTLE")


def test_leaky_late_admission_is_overthrottled() -> None:
    trace = leaky(1.0)
    trace += [ev(0.0, "admit", "p0", weight=1, via="try_acquire"), ev(0.0, "idle")]
    trace += waiter_admitted(0.0, 1.25, 1)
    only(trace, "RATE-NO-OVERTHROTTLE")


def test_later_waiter_admitted_first_is_not_fifo() -> None:
    trace = token(1.0, 1)
    trace += [ev(0.0, "admit", "p0", weight=1, via="try_acquire"), ev(0.0, "idle")]
    trace += [ev(0.0, "acquire", 1, weight=1), ev(0.0, "idle")]
    trace += [ev(0.0, "acquire", 2, weight=1), ev(0.0, "idle")]
    trace += [ev(1.0, "admit", 2, weight=1, via="acquire"), ev(2.0, "admit", 1, weight=1)]
    only(trace, "RATE-NO-OVERTHROTTLE")


def test_try_acquire_barging_past_a_waiter_is_flagged() -> None:
    trace = token(1.0, 3)
    trace += [ev(0.0, "admit", "p0", weight=2, via="try_acquire"), ev(0.0, "idle")]
    trace += [ev(0.0, "acquire", 1, weight=3), ev(0.0, "idle")]
    trace += [ev(0.0, "admit", "p1", weight=1, via="try_acquire"), ev(0.0, "idle")]
    only(trace, "RATE-NO-OVERTHROTTLE")


def test_try_acquire_refused_with_tokens_is_overthrottled() -> None:
    trace = [*token(1.0, 1), ev(0.0, "refuse", "p0", weight=1, via="try_acquire")]
    only(trace, "RATE-NO-OVERTHROTTLE")


def test_gate_rejecting_with_exactly_enough_tokens_sheds_wrongly() -> None:
    trace = [*token(1.0, 1, factory="shedding_gate"), ev(0.0, "refuse", "p0", via="try_admit")]
    only(trace, "RATE-SHED-ONLY-WHEN-EMPTY")


def test_waiter_behind_cancelled_one_held_up_loses_tokens() -> None:
    # A cancelled reservation keeps its token: the waiter behind it goes 1 s late.
    trace = token(1.0, 1)
    trace += [ev(0.0, "admit", "p0", weight=1, via="try_acquire"), ev(0.0, "idle")]
    trace += [ev(0.0, "acquire", 1, weight=1), ev(0.0, "idle")]
    trace += [ev(0.0, "acquire", 2, weight=1), ev(0.0, "idle")]
    trace += [ev(0.5, "idle"), ev(0.5, "cancel", 1), ev(0.5, "acquire_cancelled", 1)]
    trace += [ev(0.5, "idle"), ev(2.0, "admit", 2, weight=1, via="acquire"), ev(2.0, "idle")]
    only(trace, "RATE-CANCEL-NO-LOSS")


def test_dead_cancelled_waiter_blocking_the_line_is_a_loss() -> None:
    trace = token(1.0, 1)
    trace += [ev(0.0, "admit", "p0", weight=1, via="try_acquire"), ev(0.0, "idle")]
    trace += [ev(0.0, "acquire", 1, weight=1), ev(0.0, "idle")]
    trace += [ev(0.0, "acquire", 2, weight=1), ev(0.0, "idle")]
    trace += [ev(0.0, "cancel", 1), ev(0.0, "acquire_cancelled", 1), ev(0.0, "idle")]
    trace += [ev(5.0, "idle")]
    only(trace, "RATE-CANCEL-NO-LOSS")


def test_swallowed_cancellation_is_a_loss() -> None:
    trace = token(1.0, 1)
    trace += [ev(0.0, "admit", "p0", weight=1, via="try_acquire"), ev(0.0, "idle")]
    trace += [ev(0.0, "acquire", 1, weight=1), ev(0.0, "idle")]
    trace += [ev(0.5, "cancel", 1), ev(0.5, "idle")]
    trace += [ev(1.0, "admit", 1, weight=1, via="acquire"), ev(1.0, "idle")]
    only(trace, "RATE-CANCEL-NO-LOSS")


@pytest.mark.parametrize(
    ("counters", "factory"),
    [
        ({"admissions": 1, "rejections": 0}, "shedding_gate"),
        ({"admissions": 1}, "shedding_gate"),
        ({"admissions": 2, "rejections": 1}, "shedding_gate"),
        ({"admissions": 0}, "token_bucket"),
    ],
)
def test_counters_disagreeing_with_the_trace(counters: dict[str, int], factory: str) -> None:
    via = "try_admit" if factory == "shedding_gate" else "try_acquire"
    trace = token(1.0, 1, factory=factory)
    trace += [ev(0.0, "admit", "p0", weight=1, via=via)]
    trace += [ev(0.0, "refuse", "p1", weight=1, via=via), ev(0.0, "idle")]
    trace += [ev(0.0, "metrics", counters=counters)]
    only(trace, "METRICS-CONSISTENT")


def test_json_round_trip_keeps_the_verdict() -> None:
    trace = token(1.0, 2)
    trace += [ev(0.0, "admit", f"p{k}", weight=1, via="try_acquire") for k in range(3)]
    from harness.events import read_jsonl

    lines = [e.to_json() for e in trace]
    assert check(list(read_jsonl(lines)))[0] == {"RATE-BOUND"}
