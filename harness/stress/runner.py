"""Runs one stress scenario on the implementation's backend, folding every event as it comes.

The run is one example of the implementation's backend (:mod:`harness.backends`): trio on its
guarded ``MockClock``, asyncio on looptime's virtual clock, threads on the real clock with a
time scale. So a virtual hour takes as long as its events, a livelock or a runaway clock is
aborted, and every await into the implementation has a deadline. The pattern's
:class:`~harness.stress.workloads.base.Workload` offers the load through the pattern's
:class:`~harness.drivers.Driver`, which records the very events the search's model records;
each event is folded into the pattern's checkers at once (the same classes, configured with
the same ``params``) and into the workload's metrics, then dropped: only a small ring of
recent events is kept, for the report's context around a first violation. An observer task
records ``idle`` at every settled instant, as the models do, so the checkers' liveness clauses
apply.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import anyio

from harness.backends import Runtime, backend_for
from harness.checking import Checker, TraceChecker, Verdict, Violation
from harness.contract import Implementation
from harness.drivers import Host, StepFailed, checkers_for
from harness.events import Event
from harness.guards import Budgets, quiet_abandoned_run
from harness.plugin import ConfigError
from harness.rules import RULES
from harness.stress.metrics import Metrics
from harness.stress.scenario import Scenario
from harness.stress.workloads import workload_for
from harness.stress.workloads.base import Context, Workload

#: Recent events kept for the report (the violations carry their own offending events).
RING: Final = 32
#: Read the implementation's counters (a ``metrics`` event) every this many idle instants.
METRICS_EVERY: Final = 64
#: Task steps at one virtual instant, without the system settling or new jobs being issued,
#: before the run counts as a livelock (NO-HANG).
MAX_STEPS_BETWEEN_IDLE: Final = 2_000_000
#: Task steps between settled instants (virtual time moving on or not, and no new job issued)
#: before the run counts as too busy to simulate (NO-HANG).
MAX_STEPS_UNSETTLED: Final = 200_000_000
#: A watchdog hears from the run every this many events.
HEARTBEAT_EVENTS: Final = 1024
#: Wall-clock seconds a whole run may take where the backend checks it (asyncio, threads).
WALL_BUDGET: Final = 3600.0


@dataclass
class RuleOutcome:
    """One rule's verdict over the whole run."""

    rule_id: str
    verdict: Verdict
    violations: int = 0
    first: list[dict[str, Any]] = field(default_factory=list)
    context: list[str] = field(default_factory=list)


@dataclass
class StressResult:
    """What one stress run produced."""

    scenario: Scenario
    implementation: Implementation
    rules: list[RuleOutcome]
    metrics: dict[str, Any]
    events: int
    virtual_seconds: float
    wall_seconds: float
    checked: bool
    #: Time spent folding events into the checkers (only when the run was timed).
    checker_seconds: float | None = None
    #: How the backend obtained the verdicts (its tolerances), or "".
    backend_note: str = ""

    @property
    def failed(self) -> bool:
        """Whether any rule failed."""
        return any(rule.verdict is Verdict.FAIL for rule in self.rules)


class Recorder:
    """Folds each event into the checkers and the workload's metrics, then drops it.

    Only a small ring of recent events is kept, for the report's context around a violation.
    """

    def __init__(
        self,
        trace: TraceChecker | None,
        timed: bool = False,
        heartbeat: Callable[[], None] | None = None,
    ) -> None:
        self.trace = trace
        self.heartbeat = heartbeat
        #: Whether to time the checkers' folds (for the benchmark's checker share).
        self.timed = timed
        self.checker_seconds = 0.0
        self.recent: deque[Event] = deque(maxlen=RING)
        self.count = 0
        #: The observer's wake-up: any event means the system moved.
        self.wake: anyio.Event | None = None
        #: The workload's metrics fold, set once the workload exists.
        self.measure: Callable[[Event], None] = _ignore
        #: The ring buffer as it was at each rule's first violation.
        self.context: dict[str, list[str]] = {}
        if trace is not None:
            for checker in trace.checkers:
                self._watch(checker)

    def _watch(self, checker: Checker) -> None:
        # Snapshot the recent events the moment a rule first breaks, at no per-event cost.
        violate = checker.violate

        def watched(rule_id: str, message: str, *events: Event) -> None:
            if rule_id not in self.context:
                self.context[rule_id] = [event.describe() for event in self.recent]
            violate(rule_id, message, *events)

        checker.violate = watched  # type: ignore[method-assign]

    def record(self, event: Event) -> None:
        """The host's sink: fold one event recorded during the run."""
        self.feed(event)
        self.measure(event)
        wake = self.wake
        if wake is not None:
            self.wake = None
            wake.set()

    def feed(self, event: Event) -> None:
        """Count the event, keep it in the ring, and fold it into the checkers."""
        self.count += 1
        if self.heartbeat is not None and not self.count % HEARTBEAT_EVENTS:
            self.heartbeat()
        self.recent.append(event)
        if self.trace is not None:
            if self.timed:
                started = time.perf_counter()
                self.trace.feed(event)
                self.checker_seconds += time.perf_counter() - started
            else:
                self.trace.feed(event)


def _ignore(event: Event) -> None:
    del event


def why_not_runnable(scenario: Scenario, implementation: Implementation) -> str | None:
    """Why ``implementation`` cannot run ``scenario`` (a missing factory, ...), or None."""
    if scenario.backend is not None and scenario.backend != implementation.backend:
        return (
            f"written for the {scenario.backend} backend, and {implementation.name!r} runs on "
            f"{implementation.backend}"
        )
    unsupported = backend_for(implementation.backend).unsupported.get(scenario.pattern)
    if unsupported is not None:
        return unsupported
    if scenario.factory not in implementation.factories:
        return f"needs factory {scenario.factory!r}, which {implementation.name!r} does not provide"
    return None


def run_scenario(
    scenario: Scenario,
    implementation: Implementation,
    *,
    check: bool = True,
    progress: Callable[[int], None] | None = None,
    timed: bool = False,
    heartbeat: Callable[[], None] | None = None,
) -> StressResult:
    """Run ``scenario`` against ``implementation``; never raises for what the implementation does.

    ``check`` off skips the checkers (to measure their cost); ``timed`` measures the time
    spent in them; ``progress`` is called with the number of jobs issued, now and then;
    ``heartbeat`` every :data:`HEARTBEAT_EVENTS` events (a watchdog's).
    """
    reason = why_not_runnable(scenario, implementation)
    if reason is not None:
        raise ConfigError(f"scenario {scenario.name!r}: {reason}")
    backend = backend_for(implementation.backend)
    workload_cls = workload_for(scenario.pattern)
    workload_cls.validate(scenario)
    checkers = checkers_for(scenario.pattern, scenario.params) if check else []
    recorder = Recorder(TraceChecker(checkers) if check else None, timed, heartbeat)
    metrics = Metrics()
    # Twice the run's expected span: a paced run of a million jobs at a slow rate is long.
    budget = 2 * (scenario.span or 0.0) + 100 * scenario.load.deadline + 3600.0
    # A stress instant may legitimately hold thousands of jobs (a burst, zero-length jobs), so
    # the livelock guard allows far more task steps at one instant than a model.
    budgets = Budgets(
        call_deadline=scenario.load.deadline,
        max_virtual_time=1e12,
        max_steps_between_idle=MAX_STEPS_BETWEEN_IDLE,
        max_steps_unsettled=MAX_STEPS_UNSETTLED,
        wall_budget=WALL_BUDGET,
    )
    holder: dict[str, Workload] = {}

    async def main(runtime: Runtime) -> None:
        host = Host(implementation, runtime, budgets, recorder.record)

        def issued(count: int) -> None:
            # Flat-out producers keep the system busy at one instant, never settled, for the
            # whole load: that is progress, not a livelock. A job count bounds it, so each
            # batch of new jobs restarts the guard's count; past the last job a spin is
            # caught as before. (A run of ``seconds`` has no such bound.)
            if scenario.jobs is not None:
                runtime.settled()
            if progress is not None:
                progress(count)

        workload = workload_cls(Context(scenario, host, metrics, issued))
        holder["workload"] = workload
        recorder.measure = workload.measure
        baseline = runtime.census()

        # Only one task may wait for the system to settle: two such waiters would each see
        # the other running (on asyncio, yielding) and wait forever.
        observing = anyio.CancelScope()

        async def observer() -> None:
            idles = 0
            with observing:
                while True:
                    await runtime.wait_all_tasks_blocked()
                    runtime.settled()
                    idles += 1
                    with contextlib.suppress(StepFailed):
                        await workload.observe(idles % METRICS_EVERY == 0)
                    host.record("idle")
                    recorder.wake = anyio.Event()
                    await recorder.wake.wait()

        host.record("params", None, **workload.ctx.params)
        async with anyio.create_task_group() as task_group:
            host.task_group = task_group
            task_group.start_soon(observer, name="stress-observer")
            task_group.start_soon(workload.ctx.cancel_timer, name="stress-cancel-timer")
            with host.move_on_after(budget) as scope:
                try:
                    await workload.run()
                except* StepFailed:
                    pass  # a hang or crash, already recorded
                except* Exception as group:
                    # Whatever else escaped came from the implementation: a verdict, not a bug.
                    host.record("crash", "run", error=repr(group.exceptions[0])[:200])
            if scope.cancelled_caught:
                host.record("hang", "run", reason=f"the run did not end within {budget:g}s")
            observing.cancel()
            await runtime.wait_all_tasks_blocked()
            runtime.settled()
            with contextlib.suppress(StepFailed):
                await workload.observe(True)
            host.record("idle")
            task_group.cancel_scope.cancel()
        leaked = await runtime.leftovers(baseline)
        if leaked:
            host.record("leak", None, tasks=leaked[:10], count=len(leaked))
        host.record("end")

    started = time.perf_counter()
    try:
        abort_reason = backend.run(main, budgets, scenario.seed)
    except Exception as exc:
        # A helper task let the implementation's exception out: report it as a crash.
        abort_reason = f"the run crashed: {exc!r}"[:200]
    wall = time.perf_counter() - started
    last = recorder.recent[-1].t if recorder.recent else 0.0
    workload = holder.pop("workload", None)
    workers = workload.workers() if workload is not None else None
    if abort_reason is not None:
        kind, data = (
            ("crash", {"error": abort_reason})
            if abort_reason.startswith("the run crashed")
            else ("hang", {"reason": abort_reason})
        )
        for event in (Event(last, kind, "run", data), Event(last, "end")):
            recorder.feed(event)
        # Drop every way back to the aborted run (the workload holds the host, its task
        # groups and the implementation; the observer waits on ``wake``) so that its objects
        # are collected here, quietly, not at some later collection that prints their
        # complaints (trio's ``Nursery.__del__``) or runs inside a later run.
        del workload
        recorder.measure = _ignore
        recorder.wake = None
        with quiet_abandoned_run():
            pass
    virtual = max(last, metrics.last_t)
    return StressResult(
        scenario=scenario,
        implementation=implementation,
        rules=_verdicts(checkers, recorder) if check else [],
        metrics=metrics.summary(virtual, workers),
        events=recorder.count,
        virtual_seconds=virtual,
        wall_seconds=wall,
        checked=check,
        checker_seconds=recorder.checker_seconds if timed else None,
        backend_note=backend.note,
    )


def stopped_result(
    scenario: Scenario, implementation: Implementation, message: str, wall_seconds: float
) -> StressResult:
    """The result of a run stopped from outside (the watchdog): NO-HANG, the rest unknown."""
    rules = [
        RuleOutcome(rule_id, Verdict.UNKNOWN)
        for checker in checkers_for(scenario.pattern, scenario.params)
        for rule_id in checker.rules
        if rule_id != "NO-HANG"
    ]
    hang = RuleOutcome("NO-HANG", Verdict.FAIL, 1, [{"message": message, "events": []}])
    order = list(RULES)
    return StressResult(
        scenario=scenario,
        implementation=implementation,
        rules=sorted([*rules, hang], key=lambda o: order.index(o.rule_id)),
        metrics=Metrics().summary(0.0, None),
        events=0,
        virtual_seconds=0.0,
        wall_seconds=wall_seconds,
        checked=True,
        backend_note=backend_for(implementation.backend).note,
    )


def _verdicts(checkers: list[Checker], recorder: Recorder) -> list[RuleOutcome]:
    """Fail with a violation; pass if the run gave the rule something to check; else unknown."""
    decided: dict[str, RuleOutcome] = {}
    for checker in checkers:
        for rule_id in checker.rules:
            outcome = decided.setdefault(rule_id, RuleOutcome(rule_id, Verdict.UNKNOWN))
            if rule_id in checker.exercised and outcome.verdict is Verdict.UNKNOWN:
                outcome.verdict = Verdict.PASS
    for checker in checkers:
        kept = {violation.rule_id for violation in checker.violations}
        for violation in checker.violations:
            outcome = decided[violation.rule_id]
            if outcome.verdict is not Verdict.FAIL:
                outcome.verdict = Verdict.FAIL
                outcome.first = [_violation_json(violation)]
                outcome.context = recorder.context.get(violation.rule_id, [])
            elif len(outcome.first) < 3:
                outcome.first.append(_violation_json(violation))
        # A checker keeps its first few violations verbatim and counts them all; the count is
        # per checker, so it is exact for a rule only when that rule is all the checker broke.
        for rule_id in kept:
            decided[rule_id].violations += (
                checker.violation_count
                if len(kept) == 1
                else sum(v.rule_id == rule_id for v in checker.violations)
            )
    order = list(RULES)
    return sorted(decided.values(), key=lambda o: order.index(o.rule_id))


def _violation_json(violation: Violation) -> dict[str, Any]:
    return {
        "message": violation.message,
        "events": [event.describe() for event in violation.events],
    }
