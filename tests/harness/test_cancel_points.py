"""Cancellation where the harness used not to cancel: hand-made traces for four checkers.

A group's cancelled tasks that take time to clean up, a delivery cancelled while its effect
runs, a put or a get of a reorderer cancelled, a retrier cancelled at its entry. Each
violating trace is flagged and each legitimate one passes.
"""

from __future__ import annotations

from typing import Any

from harness.checkers.group import GroupChecker
from harness.checkers.idempotency import IdempotencyChecker
from harness.checkers.ordering import OrderingChecker
from harness.checkers.retry import RetryChecker
from harness.checking import Checker, TraceChecker
from harness.events import Event


def ev(t: float, kind: str, ident: Any = None, **data: Any) -> Event:
    return Event(t, kind, ident, data)


def flagged(checker: Checker, events: list[Event]) -> set[str]:
    trace = TraceChecker([checker])
    trace.feed_all(events)
    return {v.rule_id for v in trace.violations()}


# -- group: a cancelled task that takes time to clean up -------------------------------------
GROUP = {"pattern": "group", "factory": "first_error_group"}


def task_end(t: float, task: int, outcome: str, error: str | None = None) -> Event:
    return ev(t, "task_end", task, group=0, outcome=outcome, error=error)


def slow_cleanup(
    exit_at: float, *, cleanup_at: float = 1.0, extra: tuple[Event, ...] = ()
) -> list[Event]:
    """Task 0 raises at 1.0; task 1 is cancelled then and cleans up until 1.25."""
    return [
        ev(0.0, "group_begin", 0, tasks=2),
        ev(0.0, "task_begin", 0, group=0),
        ev(0.0, "task_begin", 1, group=0),
        task_end(1.0, 0, "raise", "e0"),
        ev(cleanup_at, "task_cleanup", 1, group=0, seconds=0.25),
        *extra,
        *([task_end(1.25, 1, "cancelled")] if exit_at >= 1.25 else []),
        ev(exit_at, "group_end", 0, outcome="error", error="e0"),
        *([task_end(1.25, 1, "cancelled")] if exit_at < 1.25 else []),
        ev(2.0, "idle"),
        ev(2.0, "end"),
    ]


def test_a_group_that_waits_for_a_slow_cleanup_passes() -> None:
    assert flagged(GroupChecker(GROUP), slow_cleanup(1.25)) == set()


def test_a_group_that_leaves_while_a_task_cleans_up_is_flagged() -> None:
    # Exits at the first error's instant, before the cancelled task's cleanup is over.
    assert flagged(GroupChecker(GROUP), slow_cleanup(1.0)) == {"GROUP-FIRST-ERROR"}


def test_a_cleanup_that_begins_after_the_first_error_is_flagged() -> None:
    # The cancellation reached the task late: it was still running at 1.1.
    events = slow_cleanup(1.25, cleanup_at=1.1)
    assert flagged(GroupChecker(GROUP), events) == {"GROUP-FIRST-ERROR"}


def test_a_settled_instant_during_a_cleanup_is_no_task_left_running() -> None:
    events = slow_cleanup(1.25, extra=(ev(1.1, "idle"),))
    assert flagged(GroupChecker(GROUP), events) == set()


def test_a_group_that_lingers_after_its_last_cleanup_is_flagged() -> None:
    assert flagged(GroupChecker(GROUP), slow_cleanup(1.5)) == {"GROUP-FIRST-ERROR"}


def outer_cancel_with_cleanup(exit_at: float) -> list[Event]:
    """The caller cancels the block at 0.5; task 0 cleans up until 0.75."""
    return [
        ev(0.0, "group_begin", 0, tasks=2),
        ev(0.0, "task_begin", 0, group=0),
        ev(0.0, "task_begin", 1, group=0),
        ev(0.5, "group_cancel", 0),
        ev(0.5, "task_cleanup", 0, group=0, seconds=0.25),
        task_end(0.5, 1, "cancelled"),
        task_end(0.75, 0, "cancelled"),
        ev(exit_at, "group_end", 0, outcome="cancelled", error=None),
    ]


def test_an_outer_cancellation_may_end_when_the_last_cleanup_does() -> None:
    assert flagged(GroupChecker(GROUP), outer_cancel_with_cleanup(0.75)) == set()


def test_an_outer_cancellation_that_ends_late_after_the_cleanups_is_flagged() -> None:
    assert flagged(GroupChecker(GROUP), outer_cancel_with_cleanup(0.9)) == {"GROUP-FIRST-ERROR"}


# -- idempotency: a delivery cancelled while its effect runs --------------------------------
SINK = {"pattern": "idempotency", "factory": "idempotent_sink", "keys": 1}


def cancelled_then(outcome: str) -> list[Event]:
    """Delivery 0 is cancelled during its effect; delivery 1 of the same key ends ``outcome``."""
    redelivery = [ev(0.2, "deliver", 0, delivery=1, value="a")]
    if outcome == "applied":
        redelivery += [
            ev(0.2, "effect_begin", 0, effect=1, value="a"),
            ev(0.3, "effect_end", 0, effect=1, ok=True, cancelled=False),
        ]
    return [
        ev(0.0, "deliver", 0, delivery=0, value="a"),
        ev(0.0, "effect_begin", 0, effect=0, value="a"),
        ev(0.05, "effect_end", 0, effect=0, ok=False, cancelled=True),
        ev(0.05, "apply_end", 0, delivery=0, outcome="cancelled"),
        *redelivery,
        ev(0.3, "apply_end", 0, delivery=1, outcome=outcome),
        ev(1.0, "end"),
    ]


def test_a_cancelled_effect_leaves_its_key_to_a_later_delivery() -> None:
    checker = IdempotencyChecker(SINK)
    assert flagged(checker, cancelled_then("applied")) == set()
    assert checker.exercised == {"IDEMPOTENT-EFFECT"}


def test_a_key_left_marked_by_a_cancelled_effect_is_flagged() -> None:
    assert flagged(IdempotencyChecker(SINK), cancelled_then("duplicate")) == {"IDEMPOTENT-EFFECT"}


def test_a_call_cancelled_after_its_effect_succeeded_must_report_it() -> None:
    events = [
        ev(0.0, "deliver", 0, delivery=0, value="a"),
        ev(0.0, "effect_begin", 0, effect=0, value="a"),
        ev(0.1, "effect_end", 0, effect=0, ok=True, cancelled=False),
        ev(0.1, "apply_end", 0, delivery=0, outcome="cancelled"),
        ev(1.0, "end"),
    ]
    assert flagged(IdempotencyChecker(SINK), events) == {"IDEMPOTENT-EFFECT"}


# -- ordering: cancelled puts and gets --------------------------------------------------------
ORDER = {"pattern": "ordering", "factory": "reorderer", "window": 1}


def put_begin(t: float, seq: int) -> Event:
    return ev(t, "put_begin", seq, item=f"item-{seq}")


def emit(t: float, seq: int) -> list[Event]:
    return [ev(t, "emit", seq, item=f"item-{seq}"), ev(t, "get_begin")]


def cancelled_put(*later: Event) -> list[Event]:
    """Put 1 blocks beyond the window and is cancelled; then 0 is put and emitted."""
    return [
        ev(0.0, "get_begin"),
        put_begin(0.0, 1),
        ev(0.0, "idle"),
        ev(0.5, "put_cancel", 1),
        ev(0.5, "put_cancelled", 1),
        put_begin(0.5, 0),
        ev(0.5, "put_ok", 0),
        *emit(0.5, 0),
        *later,
        ev(0.5, "idle"),
        ev(1.0, "end"),
    ]


def test_a_cancelled_put_that_is_put_again_passes() -> None:
    checker = OrderingChecker(ORDER)
    events = cancelled_put(put_begin(0.5, 1), ev(0.5, "put_ok", 1), *emit(0.5, 1))
    assert flagged(checker, events) == set()
    assert checker.exercised == {"ORDER-RESTORED"}


def test_the_item_of_a_cancelled_put_coming_out_is_flagged() -> None:
    assert flagged(OrderingChecker(ORDER), cancelled_put(*emit(0.5, 1))) == {"ORDER-RESTORED"}


def test_an_item_taken_while_its_put_was_open_then_cancelled_is_flagged() -> None:
    events = [
        ev(0.0, "get_begin"),
        put_begin(0.0, 0),
        *emit(0.0, 0),
        ev(0.0, "put_cancel", 0),
        ev(0.0, "put_cancelled", 0),
        ev(0.0, "idle"),
    ]
    assert flagged(OrderingChecker(ORDER), events) == {"ORDER-RESTORED"}


def test_a_cancelled_get_takes_nothing() -> None:
    got = [ev(0.5, "get_cancel"), ev(0.5, "get_cancelled"), ev(0.5, "get_begin")]
    put = [put_begin(1.0, 0), ev(1.0, "put_ok", 0)]
    base = [ev(0.0, "get_begin"), *got, *put]
    assert flagged(OrderingChecker(ORDER), [*base, *emit(1.0, 0), ev(1.0, "idle")]) == set()
    # The item was taken by a get that then came out cancelled: it never arrives.
    assert flagged(OrderingChecker(ORDER), [*base, ev(1.0, "idle")]) == {"ORDER-RESTORED"}


# -- retry: a cancellation requested at the call's entry --------------------------------------
RETRY = {"pattern": "retry", "factory": "retrier", "max_attempts": 3}


def entry_cancel(*attempts: Event, outcome: str = "cancelled") -> list[Event]:
    return [
        ev(0.0, "call_begin", 0, cancel_at=None, how="entry"),
        ev(0.0, "cancel", 0),
        *attempts,
        ev(0.0, "call_end", 0, outcome=outcome, value=None, error=None),
    ]


def test_a_first_attempt_after_a_cancellation_at_entry_passes() -> None:
    events = entry_cancel(
        ev(0.0, "attempt_begin", 0, attempt=1), ev(0.0, "attempt_cancelled", 0, attempt=1)
    )
    assert flagged(RetryChecker(RETRY), events) == set()


def test_a_second_attempt_after_a_cancellation_at_entry_is_flagged() -> None:
    events = entry_cancel(
        ev(0.0, "attempt_begin", 0, attempt=1),
        ev(0.0, "attempt_cancelled", 0, attempt=1),
        ev(0.0, "attempt_begin", 0, attempt=2),
        ev(0.0, "attempt_cancelled", 0, attempt=2),
    )
    assert flagged(RetryChecker(RETRY), events) == {"RETRY-CANCEL"}


def test_a_refusal_of_max_attempts_zero_cancelled_at_entry_passes() -> None:
    params = {**RETRY, "max_attempts": 0}
    assert flagged(RetryChecker(params), entry_cancel(outcome="refused")) == set()


def test_a_first_attempt_after_a_cancellation_while_running_is_flagged() -> None:
    events = [
        ev(0.0, "call_begin", 0, cancel_at=0.0, how="once"),
        ev(0.0, "cancel", 0),
        ev(0.0, "attempt_begin", 0, attempt=1),
        ev(0.0, "attempt_cancelled", 0, attempt=1),
        ev(0.0, "call_end", 0, outcome="cancelled", value=None, error=None),
    ]
    assert flagged(RetryChecker(RETRY), events) == {"RETRY-CANCEL"}
