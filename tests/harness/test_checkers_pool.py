"""Hand-written pool traces: each rule's checker flags its violation and passes valid runs."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checkers.pool import PoolChecker, PoolMetricsChecker
from harness.checking import TraceChecker
from harness.events import Event

PARAMS: dict[str, Any] = {
    "pattern": "pool",
    "factory": "worker_pool",
    "workers": 2,
    "jobs_buffer": 1,
    "results_buffer": 0,
    "job_timeout": 1.5,
}


def ev(t: float, kind: str, ident: Any = None, **data: Any) -> Event:
    return Event(t, kind, ident, data)


def run(events: list[Event], **params: Any) -> tuple[set[str], set[str]]:
    merged = {**PARAMS, **params}
    checker = TraceChecker([PoolChecker(merged), PoolMetricsChecker(merged)])
    checker.feed_all([ev(0, "params", None, **merged), *events])
    return {v.rule_id for v in checker.violations()}, checker.exercised()


def submit(t: float, ident: int, duration: float = 1.0, raises: bool = False) -> list[Event]:
    return [
        ev(t, "submit", ident, duration=duration, raises=raises, blocking=True),
        ev(t, "accepted", ident),
    ]


def job(start: float, ident: int, duration: float, outcome: str = "ok") -> list[Event]:
    return [
        ev(start, "job_start", ident, duration=duration, raises=outcome == "error"),
        ev(start + duration, "job_end", ident, outcome=outcome),
    ]


# -- valid traces ---------------------------------------------------------------------------

DRAIN_RUN = [
    ev(0, "entered"),
    ev(0, "idle"),
    *submit(0, 1, 1.0),
    ev(0, "job_start", 1, duration=1.0, raises=False),
    # job 2 starts before its submitter records the acceptance: a legitimate race
    ev(0, "submit", 2, duration=0.5, raises=True, blocking=True),
    ev(0, "job_start", 2, duration=0.5, raises=True),
    ev(0, "accepted", 2),
    *submit(0, 3, 2.0),  # waits: both workers busy
    ev(0, "metrics", None, jobs_submitted=3),
    ev(0, "idle"),
    ev(0.5, "job_end", 2, outcome="error"),
    ev(0.5, "result", 2, status="error"),
    ev(0.5, "job_start", 3, duration=2.0, raises=False),
    ev(0.5, "idle"),
    ev(1.0, "job_end", 1, outcome="ok"),
    ev(1.0, "result", 1, status="ok"),
    ev(1.0, "close"),
    ev(1.0, "idle"),
    ev(1.0, "leave", None, mode="drain"),
    # job 3 outlives the 1.5 s timeout: stopped exactly at 0.5 + 1.5
    ev(2.0, "job_end", 3, outcome="cancelled"),
    ev(2.0, "result", 3, status="timeout"),
    ev(2.0, "exit"),
    ev(2.0, "results_end", None, how="EndOfChannel"),
    ev(2.0, "metrics", None, jobs_submitted=3, jobs_completed=1, jobs_failed=1, jobs_timed_out=1),
    ev(2.0, "idle"),
    ev(2.0, "end"),
]

CANCEL_RUN = [
    ev(0, "entered"),
    *submit(0, 1, 2.0),
    ev(0, "job_start", 1, duration=2.0, raises=False),
    *submit(0, 2, 2.0),
    ev(0, "job_start", 2, duration=2.0, raises=False),
    *submit(0, 3, 1.0),  # queued
    ev(0, "idle"),
    ev(0.5, "cancel"),
    ev(0.5, "job_end", 1, outcome="cancelled"),
    ev(0.5, "job_end", 2, outcome="cancelled"),
    ev(0.5, "results_end", None, how="EndOfChannel"),
    ev(0.5, "metrics", None, jobs_submitted=3, jobs_cancelled=3),
    ev(0.5, "idle"),
    ev(0.5, "submit", 4, duration=0.0, raises=False, blocking=False),
    ev(0.5, "submit_closed", 4),
    ev(0.5, "idle"),
    ev(0.5, "leave", None, mode="cancel"),
    ev(0.5, "undelivered", 1, status="cancelled"),
    ev(0.5, "undelivered", 2, status="cancelled"),
    ev(0.5, "undelivered", 3, status="cancelled"),
    ev(0.5, "exit"),
    ev(0.5, "metrics", None, jobs_submitted=3, jobs_cancelled=3),
    ev(0.5, "idle"),
    ev(0.5, "end"),
]


@pytest.mark.parametrize("trace", [DRAIN_RUN, CANCEL_RUN], ids=["drain", "cancel"])
def test_valid_runs_pass(trace: list[Event]) -> None:
    violations, exercised = run(trace)
    assert violations == set()
    assert "POOL-EXACTLY-ONCE" in exercised
    assert "METRICS-CONSISTENT" in exercised


def test_full_buffer_refusal_and_no_timeout_pass() -> None:
    trace = [
        ev(0, "entered"),
        *submit(0, 1, 1.0),
        ev(0, "job_start", 1, duration=1.0, raises=False),
        *submit(0, 2, 0.0),  # queued: the one-slot jobs buffer is full
        ev(0, "submit", 3, duration=0.0, raises=False, blocking=False),
        ev(0, "submit_full", 3),
        ev(0, "idle"),
        ev(1.0, "job_end", 1, outcome="ok"),
        ev(1.0, "result", 1, status="ok"),
        *job(1.0, 2, 0.0),
        ev(1.0, "result", 2, status="ok"),
        ev(1.0, "close"),
        ev(1.0, "results_end"),
        ev(1.0, "idle"),
        ev(1.0, "leave", None, mode="drain"),
        ev(1.0, "exit"),
        ev(1.0, "idle"),
    ]
    violations, _ = run(trace, workers=1, job_timeout=None)
    assert violations == set()


# -- one violating trace per rule -----------------------------------------------------------


def test_exactly_once_flags_a_lost_job() -> None:
    trace = [
        ev(0, "entered"),
        *submit(0, 1, 0.5),
        *job(0, 1, 0.5, "error"),
        ev(0.5, "idle"),  # finished, no result
    ]
    violations, _ = run(trace)
    assert violations == {"POOL-EXACTLY-ONCE"}


def test_exactly_once_flags_a_job_run_twice() -> None:
    trace = [
        ev(0, "entered"),
        *submit(0, 1, 0.5),
        *job(0, 1, 0.5),
        ev(0.5, "result", 1, status="ok"),
        ev(0.5, "job_start", 1, duration=0.5, raises=False),
    ]
    violations, _ = run(trace)
    assert violations == {"POOL-EXACTLY-ONCE"}


def test_exactly_once_flags_a_missing_outcome_at_exit() -> None:
    trace = [
        ev(0, "entered"),
        *submit(0, 1, 0.5),
        ev(0, "cancel"),
        ev(0, "results_end"),
        ev(0, "leave", None, mode="cancel"),
        ev(0, "exit"),  # job 1 neither ran nor is undelivered
        ev(0, "idle"),
    ]
    violations, _ = run(trace)
    assert violations == {"POOL-EXACTLY-ONCE"}


def test_results_closed_once_flags_an_end_while_a_job_runs() -> None:
    trace = [
        ev(0, "entered"),
        *submit(0, 1, 1.0),
        ev(0, "job_start", 1, duration=1.0, raises=False),
        ev(0, "close"),
        ev(0, "results_end", None, how="EndOfChannel"),
    ]
    violations, _ = run(trace)
    assert violations == {"POOL-RESULTS-CLOSED-ONCE"}


def test_results_closed_once_flags_results_that_never_end() -> None:
    trace = [ev(0, "entered"), ev(0, "idle"), ev(0, "close"), ev(0, "idle")]
    violations, _ = run(trace)
    assert violations == {"POOL-RESULTS-CLOSED-ONCE"}


def test_concurrency_flags_too_many_running() -> None:
    trace = [ev(0, "entered")]
    for ident in (1, 2, 3):
        trace += [*submit(0, ident, 1.0), ev(0, "job_start", ident, duration=1.0, raises=False)]
    violations, _ = run(trace)
    assert violations == {"POOL-CONCURRENCY"}


def test_concurrency_flags_an_idle_worker_while_jobs_wait() -> None:
    trace = [
        ev(0, "entered"),
        *submit(0, 1, 1.0),
        ev(0, "job_start", 1, duration=1.0, raises=False),
        *submit(0, 2, 1.0),
        ev(0, "idle"),  # two workers, job 2 waits
    ]
    violations, _ = run(trace)
    assert violations == {"POOL-CONCURRENCY"}


def test_no_leak_flags_a_start_after_cancel() -> None:
    trace = [
        ev(0, "entered"),
        *submit(0, 1, 1.0),
        ev(0, "cancel"),
        ev(0, "job_start", 1, duration=1.0, raises=False),
    ]
    violations, _ = run(trace)
    assert violations == {"POOL-NO-LEAK"}


def test_no_leak_flags_leaked_tasks() -> None:
    trace = [ev(0, "entered"), ev(0, "leak", None, tasks=["worker"], count=1)]
    violations, _ = run(trace)
    assert violations == {"POOL-NO-LEAK"}


def test_cancel_prompt_flags_a_job_still_running_after_cancel() -> None:
    trace = [
        ev(0, "entered"),
        *submit(0, 1, 1.0),
        ev(0, "job_start", 1, duration=1.0, raises=False),
        ev(0, "cancel"),
        ev(0, "idle"),
    ]
    violations, _ = run(trace)
    assert violations == {"POOL-CANCEL-PROMPT"}


def test_cancel_prompt_flags_a_late_exit() -> None:
    trace = [
        ev(0, "entered"),
        ev(0, "cancel"),
        ev(0, "results_end"),
        ev(0, "leave", None, mode="cancel"),
        ev(2.0, "exit"),
    ]
    violations, _ = run(trace)
    assert violations == {"POOL-CANCEL-PROMPT"}


def test_timeout_flags_a_job_past_its_timeout() -> None:
    trace = [ev(0, "entered"), *submit(0, 1, 2.0), *job(0, 1, 2.0, "ok")]
    violations, _ = run(trace)
    assert violations == {"POOL-TIMEOUT"}


def test_timeout_flags_a_false_timeout() -> None:
    trace = [
        ev(0, "entered"),
        *submit(0, 1, 1.0),
        ev(0, "job_start", 1, duration=1.0, raises=False),
        ev(1.0, "job_end", 1, outcome="ok"),
        ev(1.0, "result", 1, status="timeout"),
    ]
    violations, _ = run(trace)
    assert violations == {"POOL-TIMEOUT"}


def test_timeout_flags_a_running_job_at_idle() -> None:
    trace = [
        ev(0, "entered"),
        *submit(0, 1, 2.0),
        ev(0, "job_start", 1, duration=2.0, raises=False),
        ev(1.75, "idle"),
    ]
    violations, _ = run(trace)
    assert violations == {"POOL-TIMEOUT"}


def test_drain_flags_queued_jobs_discarded_on_close() -> None:
    trace = [
        ev(0, "entered"),
        *submit(0, 1, 1.0),
        ev(0, "job_start", 1, duration=1.0, raises=False),
        *submit(0, 2, 1.0),
        *submit(0, 3, 1.0),
        ev(0, "job_start", 2, duration=1.0, raises=False),
        ev(0, "idle"),
        ev(0, "close"),
        ev(1.0, "job_end", 1, outcome="ok"),
        ev(1.0, "result", 1, status="ok"),
        ev(1.0, "job_end", 2, outcome="ok"),
        ev(1.0, "result", 2, status="ok"),
        ev(1.0, "results_end"),
        ev(1.0, "idle"),  # job 3 waits, no worker busy
    ]
    violations, _ = run(trace)
    assert violations == {"POOL-DRAIN"}


def test_metrics_flags_counter_drift() -> None:
    trace = [
        ev(0, "entered"),
        *submit(0, 1, 0.5),
        *job(0, 1, 0.5, "error"),
        ev(0.5, "result", 1, status="error"),
        ev(0.5, "metrics", None, jobs_submitted=1, jobs_completed=1, jobs_failed=1),
        ev(0.5, "idle"),
    ]
    violations, _ = run(trace)
    assert violations == {"METRICS-CONSISTENT"}


def test_finished_jobs_are_forgotten_so_memory_stays_flat() -> None:
    checker = PoolChecker(PARAMS)
    checker.done.limit = 8
    trace = TraceChecker([checker])
    trace.feed_all([ev(0, "params", None, **PARAMS), ev(0, "entered")])
    for ident in range(1, 101):
        t = float(ident)
        trace.feed_all(
            [
                *submit(t, ident, 0.0),
                ev(t, "job_start", ident, duration=0.0, raises=False),
                ev(t, "job_end", ident, outcome="ok"),
                ev(t, "result", ident, status="ok"),
                ev(t, "idle"),
            ]
        )
    assert len(checker.done) == 8
    assert not checker.jobs
    assert checker.violations == []
    # A duplicate outcome of a long-forgotten job is still an EXACTLY-ONCE violation.
    trace.feed(ev(101.0, "result", 1, status="ok"))
    assert {v.rule_id for v in checker.violations} == {"POOL-EXACTLY-ONCE"}


@pytest.mark.parametrize("status", ["error", "ok"])
def test_timeout_flags_a_timed_out_job_reported_with_another_status(status: str) -> None:
    trace = [
        ev(0, "entered"),
        *submit(0, 1, 2.0),
        ev(0, "job_start", 1, duration=2.0, raises=False),
        ev(1.5, "job_end", 1, outcome="cancelled"),
        ev(1.5, "result", 1, status=status),
    ]
    violations, _ = run(trace)
    assert violations == {"POOL-TIMEOUT"}


def finished(status: str, **payload: Any) -> list[Event]:
    return [
        ev(0, "entered"),
        *submit(0, 1, 1.0, raises=status == "error"),
        ev(0, "job_start", 1, duration=1.0, raises=status == "error"),
        ev(1.0, "job_end", 1, outcome=status, **({"returned": 1} if status == "ok" else {})),
        ev(1.0, "result", 1, status=status, **payload),
    ]


@pytest.mark.parametrize(
    ("status", "payload", "flagged"),
    [
        ("ok", {"value": 1}, False),
        ("ok", {"value": None}, True),
        ("ok", {"value": 2}, True),
        ("ok", {}, False),  # a result without a value attribute: nothing to compare
        ("error", {"error": "JobFailed(1)"}, False),
        ("error", {"error": None}, True),
    ],
)
def test_exactly_once_checks_the_value_or_error_a_result_carries(
    status: str, payload: dict[str, Any], flagged: bool
) -> None:
    violations, _ = run(finished(status, **payload))
    assert ("POOL-EXACTLY-ONCE" in violations) is flagged, violations


# -- POOL-BACKPRESSURE ----------------------------------------------------------------------


def _busy_worker(duration: float = 2.0) -> list[Event]:
    """One worker entered and running job 1, so nothing queued can start yet."""
    return [
        ev(0, "entered"),
        ev(0, "idle"),
        *submit(0, 1, duration),
        ev(0, "job_start", 1, duration=duration, raises=False),
        ev(0, "idle"),
    ]


def nowait(t: float, ident: int, accepted: bool = True) -> list[Event]:
    return [
        ev(t, "submit", ident, duration=1.0, raises=False, blocking=False),
        ev(t, "accepted" if accepted else "submit_full", ident),
    ]


def test_backpressure_flags_more_queued_jobs_than_the_buffer_holds() -> None:
    # The pool: one worker, a one-slot buffer, and every submit_nowait accepted.
    trace = [*_busy_worker()]
    for ident in range(2, 6):
        trace += [*nowait(0, ident), ev(0, "idle")]
    violations, _ = run(trace, workers=1, jobs_buffer=1)
    assert violations == {"POOL-BACKPRESSURE"}


def test_backpressure_flags_a_refusal_while_the_buffer_has_room() -> None:
    trace = [*_busy_worker(), *nowait(0, 2, accepted=False)]
    violations, _ = run(trace, workers=1, jobs_buffer=1)
    assert violations == {"POOL-BACKPRESSURE"}


def test_backpressure_flags_a_submit_waiting_while_the_buffer_has_room() -> None:
    trace = [
        *_busy_worker(),
        *nowait(0, 2),  # queued: one of the two slots is taken
        ev(0, "submit", 3, duration=1.0, raises=False, blocking=True),
        ev(0, "idle"),  # ... and submit(3) still waits
    ]
    violations, _ = run(trace, workers=1, jobs_buffer=2)
    assert violations == {"POOL-BACKPRESSURE"}


def test_backpressure_flags_a_submit_waiting_beside_a_free_worker() -> None:
    trace = [
        ev(0, "entered"),
        ev(0, "idle"),
        ev(0, "submit", 1, duration=1.0, raises=False, blocking=True),
        ev(0, "idle"),  # nothing queued, both workers free, and the submit still waits
    ]
    violations, _ = run(trace, workers=2, jobs_buffer=1)
    assert violations == {"POOL-BACKPRESSURE"}


def test_backpressure_passes_a_full_buffer_that_pushes_back() -> None:
    trace = [
        *_busy_worker(),
        *nowait(0, 2),  # fills the one-slot buffer
        ev(0, "idle"),
        *nowait(0, 3, accepted=False),  # refused: full
        ev(0, "submit", 4, duration=1.0, raises=False, blocking=True),
        ev(0, "idle"),  # submit(4) waits: full
        # Job 1 ends, the worker takes job 2, and the buffer lets submit(4) in; a
        # submit_nowait in the same instant is refused, before submit(4) has returned.
        *job(0, 1, 2.0)[1:],
        ev(2.0, "result", 1, status="ok"),
        ev(2.0, "job_start", 2, duration=1.0, raises=False),
        *nowait(2.0, 5, accepted=False),
        ev(2.0, "accepted", 4),
        ev(2.0, "idle"),
    ]
    violations, exercised = run(trace, workers=1, jobs_buffer=1, job_timeout=None)
    assert violations == set()
    assert "POOL-BACKPRESSURE" in exercised


def test_backpressure_allows_a_job_a_free_worker_has_not_started_yet() -> None:
    trace = [
        ev(0, "entered"),
        ev(0, "idle"),
        # The free worker is handed job 1 and job 2 fills the buffer, all in one instant;
        # the worker records job 1's start only after job 3 is refused.
        *nowait(0, 1),
        *nowait(0, 2),
        *nowait(0, 3, accepted=False),
        ev(0, "job_start", 1, duration=1.0, raises=False),
        ev(0, "idle"),
    ]
    violations, exercised = run(trace, workers=1, jobs_buffer=1)
    assert violations == set()
    assert "POOL-BACKPRESSURE" in exercised


def test_backpressure_is_not_judged_when_declared_a_deviation() -> None:
    trace = [*_busy_worker()]
    for ident in range(2, 6):
        trace += [*nowait(0, ident), ev(0, "idle")]
    violations, exercised = run(trace, workers=1, jobs_buffer=1, deviations=["POOL-BACKPRESSURE"])
    assert violations == set()
    assert "POOL-BACKPRESSURE" not in exercised
