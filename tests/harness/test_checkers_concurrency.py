"""Hand-written concurrency traces: each rule flags its violation, valid traces pass."""

from __future__ import annotations

from typing import Any

from harness.checkers.concurrency import ConcurrencyChecker
from harness.checking import TraceChecker
from harness.events import Event


def ev(t: float, kind: str, ident: Any = None, **data: Any) -> Event:
    return Event(t, kind, ident, data)


def limiter(limit: int, fifo: bool = True) -> list[Event]:
    params = {
        "pattern": "concurrency",
        "factory": "concurrency_limiter",
        "limit": limit,
        "fifo": fifo,
    }
    return [ev(0.0, "params", **params), ev(0.0, "created", form="acquire"), ev(0.0, "idle")]


def check(trace: list[Event]) -> tuple[set[str], set[str]]:
    checker = TraceChecker([ConcurrencyChecker(dict(trace[0].data))])
    checker.feed_all([*trace, ev(trace[-1].t, "end")])
    return {v.rule_id for v in checker.violations()}, checker.exercised()


def arrive(t: float, ident: int, granted: bool) -> list[Event]:
    """A task arrives (its acquire returns at once when ``granted``), then all settles."""
    grant = [ev(t, "grant", ident)] if granted else []
    return [ev(t, "acquire", ident), *grant, ev(t, "idle")]


def release(t: float, ident: int, *handed: int, cancelled: bool = False) -> list[Event]:
    """Holder ``ident`` releases; the waiters ``handed`` are granted; all settles."""
    return [
        ev(t, "release", ident, cancelled=cancelled),
        ev(t, "released", ident),
        *(ev(t, "grant", h) for h in handed),
        ev(t, "idle"),
    ]


# -- valid traces ---------------------------------------------------------------------------------
def test_a_line_served_first_come_first_served_passes() -> None:
    trace = limiter(2)
    trace += arrive(0.0, 0, True) + arrive(0.0, 1, True)
    trace += arrive(0.0, 2, False) + arrive(0.5, 3, False)
    trace += release(1.0, 0, 2) + release(2.0, 1, 3)
    trace += release(3.0, 2) + release(3.0, 3)
    violations, exercised = check(trace)
    assert violations == set()
    assert {"CONC-BOUND", "CONC-FIFO", "CONC-NO-IDLE-WAIT"} <= exercised
    assert "CONC-CANCEL-NO-LEAK" not in exercised
    assert "CONC-RELEASE-BY-HOLDER" not in exercised


def test_cancelled_waiters_and_holders_that_leave_cleanly_pass() -> None:
    trace = limiter(1)
    trace += arrive(0.0, 0, True) + arrive(0.0, 1, False) + arrive(0.0, 2, False)
    trace += [ev(1.0, "cancel", 1), ev(1.0, "acquire_cancelled", 1), ev(1.0, "idle")]
    trace += [ev(2.0, "cancel", 0), *release(2.0, 0, 2, cancelled=True)]
    trace += arrive(3.0, 3, False) + release(4.0, 2, 3) + release(5.0, 3)
    violations, exercised = check(trace)
    assert violations == set()
    assert "CONC-CANCEL-NO-LEAK" in exercised


def test_a_slot_handed_over_before_the_release_returns_is_not_over_the_bound() -> None:
    # The waiter is granted inside release(): between the release's two events.
    trace = limiter(1)
    trace += arrive(0.0, 0, True) + arrive(0.0, 1, False)
    trace += [ev(1.0, "release", 0), ev(1.0, "grant", 1), ev(1.0, "released", 0), ev(1.0, "idle")]
    violations, exercised = check(trace)
    assert violations == set()
    assert "CONC-BOUND" in exercised


def test_a_grant_recorded_after_a_later_one_at_the_same_instant_is_not_unfair() -> None:
    # Task 1 was handed a slot first but runs (and records its grant) after newcomer 2.
    trace = limiter(2)
    trace += arrive(0.0, 0, True) + arrive(0.0, 9, True) + arrive(0.0, 1, False)
    trace += [ev(1.0, "release", 0), ev(1.0, "released", 0), ev(1.0, "release", 9)]
    trace += [ev(1.0, "released", 9), ev(1.0, "acquire", 2), ev(1.0, "grant", 2)]
    trace += [ev(1.0, "grant", 1), ev(1.0, "idle")]
    violations, exercised = check(trace)
    assert violations == set()
    assert "CONC-FIFO" in exercised


def test_a_refused_stray_release_that_adds_no_slot_passes() -> None:
    trace = limiter(1)
    trace += arrive(0.0, 0, True)
    trace += [ev(0.0, "stray_release", 0), ev(0.0, "stray_refused", 0, error="RuntimeError()")]
    trace += [ev(0.0, "idle"), *arrive(0.0, 1, False), *release(1.0, 0, 1)]
    violations, exercised = check(trace)
    assert violations == set()
    assert "CONC-RELEASE-BY-HOLDER" in exercised


def test_a_waiter_during_a_release_in_flight_is_not_judged_idle() -> None:
    # An async release() still running at the settled instant: its slot is not free yet.
    trace = limiter(1)
    trace += arrive(0.0, 0, True) + arrive(0.0, 1, False)
    trace += [ev(1.0, "release", 0), ev(1.0, "idle")]
    assert check(trace)[0] == set()


def test_after_a_failed_acquire_idle_waits_are_not_judged() -> None:
    trace = limiter(1)
    trace += [ev(0.0, "acquire", 0), ev(60.0, "acquire_failed", 0), ev(60.0, "idle")]
    trace += arrive(60.0, 1, False)
    assert check(trace)[0] == set()


# -- CONC-BOUND -----------------------------------------------------------------------------------
def test_more_holders_than_the_limit_break_the_bound() -> None:
    trace = limiter(2)
    trace += arrive(0.0, 0, True) + arrive(0.0, 1, True) + arrive(0.0, 2, True)
    violations, _ = check(trace)
    assert violations == {"CONC-BOUND"}


def test_a_grant_while_the_releasing_holder_is_still_counted_breaks_the_bound() -> None:
    # The holder had not begun to release when the waiter was granted.
    trace = limiter(1)
    trace += arrive(0.0, 0, True) + arrive(0.0, 1, False)
    trace += [ev(1.0, "grant", 1), ev(1.0, "release", 0), ev(1.0, "released", 0), ev(1.0, "idle")]
    assert check(trace)[0] == {"CONC-BOUND"}


# -- CONC-RELEASE-BY-HOLDER -----------------------------------------------------------------------
def test_an_extra_slot_after_a_stray_release_is_the_stray_releases_fault() -> None:
    trace = limiter(1)
    trace += arrive(0.0, 0, True)
    trace += [ev(0.0, "stray_release", 0), ev(0.0, "stray_returned", 0), ev(0.0, "idle")]
    trace += arrive(0.0, 1, True)
    violations, exercised = check(trace)
    assert violations == {"CONC-RELEASE-BY-HOLDER"}
    assert "CONC-RELEASE-BY-HOLDER" in exercised


def test_a_stray_release_that_raised_but_still_added_a_slot_breaks_it_too() -> None:
    trace = limiter(2)
    trace += arrive(0.0, 0, True) + arrive(0.0, 1, True)
    trace += [ev(0.0, "stray_release", 0), ev(0.0, "stray_refused", 0, error="ValueError()")]
    trace += [ev(0.0, "idle"), *arrive(0.0, 2, True)]
    assert check(trace)[0] == {"CONC-RELEASE-BY-HOLDER"}


# -- CONC-CANCEL-NO-LEAK --------------------------------------------------------------------------
def test_a_cancelled_waiter_still_waiting_once_settled_breaks_it() -> None:
    trace = limiter(1)
    trace += arrive(0.0, 0, True) + arrive(0.0, 1, False)
    trace += [ev(1.0, "cancel", 1), ev(1.0, "idle")]
    violations, exercised = check(trace)
    assert violations == {"CONC-CANCEL-NO-LEAK"}
    assert "CONC-CANCEL-NO-LEAK" in exercised


def test_a_cancelled_waiter_granted_later_breaks_it() -> None:
    trace = limiter(1)
    trace += arrive(0.0, 0, True) + arrive(0.0, 1, False)
    trace += [ev(1.0, "cancel", 1)]
    trace += release(2.0, 0, 1)
    assert "CONC-CANCEL-NO-LEAK" in check(trace)[0]


def test_a_slot_kept_by_a_cancelled_holder_breaks_it() -> None:
    trace = limiter(1)
    trace += arrive(0.0, 0, True) + arrive(0.0, 1, False)
    trace += [ev(1.0, "cancel", 0), *release(1.0, 0, cancelled=True)]
    assert check(trace)[0] == {"CONC-CANCEL-NO-LEAK"}


def test_a_slot_handed_to_a_cancelled_waiter_ahead_breaks_it() -> None:
    trace = limiter(1)
    trace += arrive(0.0, 0, True) + arrive(0.0, 1, False) + arrive(0.0, 2, False)
    trace += [ev(1.0, "cancel", 1), ev(1.0, "acquire_cancelled", 1), ev(1.0, "idle")]
    trace += release(2.0, 0)
    assert check(trace)[0] == {"CONC-CANCEL-NO-LEAK"}


# -- CONC-NO-IDLE-WAIT ----------------------------------------------------------------------------
def test_a_waiter_beside_a_free_slot_once_settled_breaks_it() -> None:
    trace = limiter(2)
    trace += arrive(0.0, 0, True) + arrive(0.0, 1, True) + arrive(0.0, 2, False)
    trace += release(1.0, 0)
    violations, exercised = check(trace)
    assert violations == {"CONC-NO-IDLE-WAIT"}
    assert "CONC-NO-IDLE-WAIT" in exercised


def test_a_cancelled_waiter_behind_the_stuck_one_does_not_excuse_it() -> None:
    def trace(fifo: bool) -> list[Event]:
        events = limiter(1, fifo)
        events += arrive(0.0, 0, True) + arrive(0.0, 1, False) + arrive(0.0, 2, False)
        events += [ev(1.0, "cancel", 2), ev(1.0, "acquire_cancelled", 2), ev(1.0, "idle")]
        return events + release(2.0, 0)

    # Under FIFO the slot was the stuck waiter's, whatever happened to the one behind it.
    assert check(trace(fifo=True))[0] == {"CONC-NO-IDLE-WAIT"}
    # Without FIFO the slot may have been handed to the cancelled task instead.
    assert check(trace(fifo=False))[0] == {"CONC-CANCEL-NO-LEAK"}


# -- CONC-FIFO ------------------------------------------------------------------------------------
def test_a_later_waiter_served_first_breaks_fifo() -> None:
    trace = limiter(1)
    trace += arrive(0.0, 0, True) + arrive(0.0, 1, False) + arrive(0.0, 2, False)
    trace += release(1.0, 0, 2)
    violations, exercised = check(trace)
    assert violations == {"CONC-FIFO"}
    assert "CONC-FIFO" in exercised


def test_a_newcomer_barging_past_the_line_breaks_fifo() -> None:
    trace = limiter(2)
    trace += arrive(0.0, 0, True) + arrive(0.0, 1, True) + arrive(0.0, 2, False)
    trace += [ev(1.0, "release", 0), ev(1.0, "released", 0)]
    trace += [ev(1.0, "acquire", 3), ev(1.0, "grant", 3), ev(1.0, "idle")]
    assert check(trace)[0] == {"CONC-FIFO"}


def test_without_the_fifo_capability_order_is_not_judged() -> None:
    trace = limiter(1, fifo=False)
    trace += arrive(0.0, 0, True) + arrive(0.0, 1, False) + arrive(0.0, 2, False)
    trace += release(1.0, 0, 2)
    violations, exercised = check(trace)
    assert violations == set()
    assert "CONC-FIFO" not in exercised


def test_the_params_event_can_promise_fifo_to_a_checker_built_without_it() -> None:
    # A stress run builds its checkers from the scenario, then records the declaration's fifo.
    trace = limiter(1)
    trace += arrive(0.0, 0, True) + arrive(0.0, 1, False) + arrive(0.0, 2, False)
    trace += release(1.0, 0, 2)
    built = {k: v for k, v in trace[0].data.items() if k != "fifo"}
    checker = TraceChecker([ConcurrencyChecker(built)])
    checker.feed_all(trace)
    assert {v.rule_id for v in checker.violations()} == {"CONC-FIFO"}
