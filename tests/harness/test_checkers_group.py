"""Hand-written traces for the group checker: violations flagged, valid traces passed."""

from __future__ import annotations

from typing import Any

from harness.checkers.group import GroupChecker
from harness.checking import TraceChecker
from harness.events import Event

PARAMS = {"pattern": "group", "factory": "first_error_group"}


def ev(t: float, kind: str, ident: Any = None, **data: Any) -> Event:
    return Event(t, kind, ident, data)


def run(events: list[Event]) -> tuple[set[str], TraceChecker]:
    checker = TraceChecker([GroupChecker(PARAMS)])
    checker.feed_all(events)
    return {v.rule_id for v in checker.violations()}, checker


def begin(n: int) -> list[Event]:
    return [ev(0.0, "group_begin", 0, tasks=n)] + [
        ev(0.0, "task_begin", i, group=0) for i in range(n)
    ]


def end(t: float, i: int, outcome: str, error: str | None = None) -> Event:
    return ev(t, "task_end", i, group=0, outcome=outcome, error=error)


def first_error() -> list[Event]:
    """Task 1 fails at 1.0; task 0 is cancelled then; task 2 raises from its cleanup then."""
    return [
        *begin(3),
        end(1.0, 1, "raise", "e1"),
        end(1.0, 0, "cancelled"),
        end(1.0, 2, "raise", "e2"),
        ev(1.0, "group_end", 0, outcome="error", error="e1"),
        ev(1.0, "idle"),
        ev(2.0, "end"),
    ]


def test_first_error_trace_passes_and_exercises_the_rule() -> None:
    found, checker = run(first_error())
    assert found == set()
    assert checker.exercised() == {"GROUP-FIRST-ERROR"}


def test_clean_group_passes() -> None:
    events = [
        *begin(2),
        end(0.5, 0, "ok"),
        end(2.0, 1, "ok"),
        ev(2.0, "group_end", 0, outcome="ok", error=None),
        ev(2.0, "end"),
    ]
    assert run(events)[0] == set()


def test_later_error_raised_is_flagged() -> None:
    events = first_error()
    events[-3] = ev(1.0, "group_end", 0, outcome="error", error="e2")
    assert run(events)[0] == {"GROUP-FIRST-ERROR"}


def eg(*leaves: str) -> Event:
    return ev(1.0, "group_end", 0, outcome="exception_group", error="EG(...)", leaves=list(leaves))


def test_an_exception_group_holding_the_first_error_and_its_siblings_errors_passes() -> None:
    # asyncio.TaskGroup and trio nurseries raise every error their tasks raised, wrapped.
    for leaves in (["e1"], ["e1", "e2"], ["e2", "e1"]):
        events = first_error()
        events[-3] = eg(*leaves)
        assert run(events)[0] == set(), leaves


def test_an_exception_group_without_the_first_error_is_flagged() -> None:
    events = first_error()
    events[-3] = eg("e2")
    assert run(events)[0] == {"GROUP-FIRST-ERROR"}


def test_an_exception_group_with_a_foreign_exception_is_flagged() -> None:
    events = first_error()
    events[-3] = eg("e1", "foreign")
    assert run(events)[0] == {"GROUP-FIRST-ERROR"}


def test_an_exception_group_with_no_leaves_recorded_is_flagged() -> None:
    events = first_error()
    events[-3] = ev(1.0, "group_end", 0, outcome="exception_group", error="EG(...)")
    assert run(events)[0] == {"GROUP-FIRST-ERROR"}


def test_an_exception_group_when_no_task_failed_is_flagged() -> None:
    events = [*begin(1), end(1.0, 0, "ok"), eg("e9")]
    assert run(events)[0] == {"GROUP-FIRST-ERROR"}


def test_sibling_running_past_the_first_error_is_flagged() -> None:
    events = [
        *begin(2),
        end(1.0, 1, "raise", "e1"),
        end(2.0, 0, "ok"),
        ev(2.0, "group_end", 0, outcome="error", error="e1"),
    ]
    assert run(events)[0] == {"GROUP-FIRST-ERROR"}


def test_late_cancellation_is_flagged() -> None:
    events = [
        *begin(2),
        end(1.0, 1, "raise", "e1"),
        end(1.001, 0, "cancelled"),
        ev(1.001, "group_end", 0, outcome="error", error="e1"),
    ]
    assert run(events)[0] == {"GROUP-FIRST-ERROR"}


def test_sibling_still_running_at_idle_is_flagged() -> None:
    events = [*begin(2), end(1.0, 1, "raise", "e1"), ev(1.5, "idle")]
    assert run(events)[0] == {"GROUP-FIRST-ERROR"}


def test_success_before_every_task_is_flagged() -> None:
    events = [
        *begin(2),
        end(0.5, 0, "ok"),
        end(0.5, 1, "cancelled"),
        ev(0.5, "group_end", 0, outcome="ok", error=None),
    ]
    assert run(events)[0] == {"GROUP-FIRST-ERROR"}


def test_task_outliving_the_block_is_flagged() -> None:
    events = [
        *begin(2),
        end(0.5, 0, "ok"),
        ev(0.5, "group_end", 0, outcome="ok", error=None),
        end(1.0, 1, "ok"),
    ]
    assert run(events)[0] == {"GROUP-FIRST-ERROR"}


def test_error_without_a_failing_task_is_flagged() -> None:
    events = [
        *begin(1),
        end(0.5, 0, "ok"),
        ev(0.5, "group_end", 0, outcome="error", error="foreign"),
    ]
    assert run(events)[0] == {"GROUP-FIRST-ERROR"}


def outer_cancel(group_end_t: float, outcome: str, late_task: bool = False) -> list[Event]:
    """Two tasks; the caller cancels the block at 0.5."""
    return [
        *begin(2),
        ev(0.5, "group_cancel", 0),
        end(0.5, 0, "cancelled"),
        end(0.8 if late_task else 0.5, 1, "cancelled"),
        ev(group_end_t, "group_end", 0, outcome=outcome, error=None),
    ]


def test_outer_cancellation_that_stops_everything_at_once_passes() -> None:
    violations, _ = run(outer_cancel(0.5, "cancelled"))
    assert violations == set()


def test_outer_cancellation_a_task_ignores_is_flagged() -> None:
    violations, _ = run(outer_cancel(0.8, "cancelled", late_task=True))
    assert violations == {"GROUP-FIRST-ERROR"}


def test_outer_cancellation_swallowed_by_the_group_is_flagged() -> None:
    violations, _ = run(outer_cancel(0.5, "ok"))
    assert violations == {"GROUP-FIRST-ERROR"}


def test_a_late_exit_after_outer_cancellation_is_flagged() -> None:
    violations, _ = run(outer_cancel(0.7, "cancelled"))
    assert violations == {"GROUP-FIRST-ERROR"}


def test_cancelled_without_an_outer_cancellation_is_flagged() -> None:
    events = [*begin(1), end(0.5, 0, "cancelled"), ev(0.5, "group_end", 0, outcome="cancelled")]
    violations, _ = run(events)
    assert violations == {"GROUP-FIRST-ERROR"}


def test_an_error_raised_during_outer_cancellation_may_leave_the_block() -> None:
    events = [
        *begin(2),
        ev(0.5, "group_cancel", 0),
        end(0.5, 0, "raise", "cleanup"),
        end(0.5, 1, "cancelled"),
    ]
    for outcome, error in (("error", "cleanup"), ("cancelled", None)):
        closing = ev(0.5, "group_end", 0, outcome=outcome, error=error)
        violations, _ = run([*events, closing])
        assert violations == set(), outcome
