"""Runs one stress scenario on trio's virtual clock and folds every event into the checkers.

The run is one ``trio.run`` on a guarded ``MockClock(autojump_threshold=0)`` (see
:mod:`harness.guards`), so a virtual hour takes as long as its events, a livelock or a runaway
clock is aborted, and every await into the implementation has a deadline. A pattern's
:class:`~harness.stress.drivers.base.Driver` offers the load and records the same events the
conformance model records; each event is folded into the pattern's checkers at once (the very
classes the model uses, configured with the same ``params``) and then dropped: only a small
ring of recent events is kept, for the report's context around a first violation. An observer
task records ``idle`` at every settled instant, as the models do, so the checkers' liveness
clauses apply.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import trio
import trio.testing

from harness.checkers.general import GuardChecker
from harness.checking import Checker, TraceChecker, Verdict, Violation
from harness.contract import Implementation
from harness.events import Event
from harness.guards import (
    Budgets,
    GuardedClock,
    TaskGuard,
    live_tasks,
    quiet_abandoned_run,
    seed_scheduler,
)
from harness.models.registry import model_for
from harness.plugin import ConfigError
from harness.rules import RULES
from harness.stress.metrics import Metrics
from harness.stress.scenario import Scenario

T = TypeVar("T")

#: Recent events kept for the report (the violations carry their own offending events).
RING: Final = 32
#: Read the implementation's counters (a ``metrics`` event) every this many idle instants.
METRICS_EVERY: Final = 64
#: Task steps without the system settling before the run counts as a livelock (NO-HANG).
MAX_STEPS_BETWEEN_IDLE: Final = 2_000_000


class StepFailed(Exception):
    """A call into the implementation hung or crashed (already recorded): stop this task."""


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

    @property
    def failed(self) -> bool:
        """Whether any rule failed."""
        return any(rule.verdict is Verdict.FAIL for rule in self.rules)


class Recorder:
    """Stamps events, folds them into the checkers, and wakes the idle observer."""

    def __init__(self, trace: TraceChecker | None, timed: bool = False) -> None:
        self.trace = trace
        #: Whether to time the checkers' folds (for the benchmark's checker share).
        self.timed = timed
        self.checker_seconds = 0.0
        self.recent: deque[Event] = deque(maxlen=RING)
        self.count = 0
        self.wake: trio.Event | None = None
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

    def record(self, kind: str, ident: Any = None, **data: Any) -> None:
        """Record one event at the current virtual instant."""
        event = Event(trio.current_time(), kind, ident, data)
        self.count += 1
        self.recent.append(event)
        if self.trace is not None:
            if self.timed:
                started = time.perf_counter()
                self.trace.feed(event)
                self.checker_seconds += time.perf_counter() - started
            else:
                self.trace.feed(event)
        wake = self.wake
        if wake is not None:
            self.wake = None
            wake.set()


class Context:
    """What a driver gets: the scenario, the implementation, the recorder, the metrics."""

    def __init__(
        self,
        scenario: Scenario,
        implementation: Implementation,
        recorder: Recorder,
        metrics: Metrics,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.scenario = scenario
        self.load = scenario.load
        self.params = dict(scenario.params)
        self.implementation = implementation
        self.record = recorder.record
        self.recorder = recorder
        self.metrics = metrics
        self.rng = random.Random(scenario.seed)
        self.deadline = scenario.load.deadline
        self.progress = progress
        self.issued = 0
        self.cancel_event = trio.Event()
        self.cancel_job: int | None = None
        self.cancel_time: float | None = None
        fraction = scenario.load.cancel_at
        if fraction == "random":
            fraction = self.rng.uniform(0.2, 0.8)
        if isinstance(fraction, float):
            if scenario.jobs is not None:
                self.cancel_job = max(1, math.ceil(fraction * scenario.jobs))
            else:
                assert scenario.seconds is not None
                self.cancel_time = fraction * scenario.seconds

    # -- the run's length --------------------------------------------------------------------
    def next_job(self) -> int | None:
        """The next job number, or None once the run is long enough (or cancelled)."""
        if self.cancel_event.is_set():
            return None
        seconds = self.scenario.seconds
        if seconds is not None and trio.current_time() >= seconds:
            return None
        if self.scenario.jobs is not None and self.issued >= self.scenario.jobs:
            return None
        self.issued += 1
        if self.cancel_job is not None and self.issued > self.cancel_job:
            self.cancel_event.set()
            return None
        if self.progress is not None and self.issued % 1024 == 0:
            self.progress(self.issued)
        return self.issued

    def expected_total(self) -> float | None:
        """The run's length in the unit progress counts (jobs), if known."""
        return float(self.scenario.jobs) if self.scenario.jobs is not None else None

    async def cancel_timer(self) -> None:
        """Set ``cancel_event`` at the scenario's cancel instant (time-based runs)."""
        if self.cancel_time is not None:
            await trio.sleep_until(self.cancel_time)
            self.cancel_event.set()

    # -- the load's shape -----------------------------------------------------------------
    def duration(self) -> float:
        """Draw one job duration."""
        d = self.load.duration
        if d.dist == "fixed":
            return d.value
        if d.dist == "uniform":
            return self.rng.uniform(d.low, d.high)
        return self.rng.expovariate(1.0 / d.mean) if d.mean > 0 else 0.0

    def chance(self, p: float) -> bool:
        """True with probability ``p``."""
        return p > 0 and self.rng.random() < p

    def pacer(self, producer: int) -> Callable[[], Awaitable[None]]:
        """An ``await pace()`` for producer number ``producer``: Poisson, bursts or flat out."""
        load = self.load
        share = load.producers
        if load.burst is not None:
            burst = load.burst
            per_tick = burst.size // share + (1 if producer < burst.size % share else 0)
            state = {"left": per_tick, "tick": 0}

            async def burst_pace() -> None:
                if state["left"] == 0:
                    state["tick"] += 1
                    state["left"] = per_tick
                    await trio.sleep_until(state["tick"] * burst.every)
                    if per_tick == 0:
                        return await burst_pace()
                state["left"] -= 1
                await trio.lowlevel.checkpoint()
                return None

            return burst_pace
        if load.rate is not None:
            each = load.rate / share

            async def poisson_pace() -> None:
                await trio.sleep(self.rng.expovariate(each))

            return poisson_pace
        return trio.lowlevel.checkpoint

    # -- calling into the implementation ------------------------------------------------------
    async def call(self, what: str, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Await ``fn(*args)`` under the deadline; a hang or crash is recorded, then StepFailed."""
        with trio.move_on_after(self.deadline) as scope:
            try:
                return await fn(*args)
            except (trio.Cancelled, StepFailed):
                raise
            except Exception as exc:
                self.record("crash", what, error=repr(exc)[:200])
                raise StepFailed(what) from exc
        assert scope.cancelled_caught
        self.record("hang", what, deadline=self.deadline)
        raise StepFailed(what)

    def call_sync(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a synchronous method of the implementation; a crash is recorded."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            self.record("crash", what, error=repr(exc)[:200])
            raise StepFailed(what) from exc


def make_checkers(scenario: Scenario) -> list[Checker]:
    """The pattern's checkers exactly as its conformance model builds them, plus the guards."""
    params = dict(scenario.params)
    return [*model_for(scenario.pattern).make_checkers(params), GuardChecker(params)]


def run_scenario(
    scenario: Scenario,
    implementation: Implementation,
    *,
    check: bool = True,
    progress: Callable[[int], None] | None = None,
    timed: bool = False,
) -> StressResult:
    """Run ``scenario`` against ``implementation``; never raises for what the implementation does.

    ``check`` off skips the checkers (to measure their cost); ``timed`` measures the time
    spent in them; ``progress`` is called with the number of jobs issued, now and then.
    """
    from harness.stress.drivers import driver_for

    if implementation.backend != "trio":
        raise ConfigError(
            f"stress supports the trio backend for now, not {implementation.backend!r}"
        )
    driver_cls = driver_for(scenario.pattern)
    if scenario.factory not in implementation.factories:
        raise ConfigError(
            f"scenario {scenario.name!r} needs factory {scenario.factory!r}, which "
            f"{implementation.name!r} does not provide"
        )
    driver_cls.validate(scenario)
    checkers = make_checkers(scenario) if check else []
    trace = TraceChecker(checkers) if check else None
    recorder = Recorder(trace, timed)
    metrics = Metrics()
    budget = (scenario.seconds or 0.0) + 100 * scenario.load.deadline + 3600.0
    # A stress instant may legitimately hold thousands of jobs (a burst, zero-length jobs), so
    # the livelock guard allows far more task steps between settled instants than a model.
    budgets = Budgets(
        call_deadline=scenario.load.deadline,
        max_virtual_time=1e12,
        max_steps_between_idle=MAX_STEPS_BETWEEN_IDLE,
    )
    clock = GuardedClock(budgets)
    guard = TaskGuard(clock)
    context = Context(scenario, implementation, recorder, metrics, progress)
    driver = driver_cls(context)
    aborted = False
    crashed: Exception | None = None

    async def observer() -> None:
        idles = 0
        while True:
            await trio.testing.wait_all_tasks_blocked()
            guard.settled()
            idles += 1
            with contextlib.suppress(StepFailed):
                driver.observe(idles % METRICS_EVERY == 0)
            recorder.record("idle")
            recorder.wake = trio.Event()
            await recorder.wake.wait()

    async def main() -> None:
        baseline = {id(task) for task in live_tasks()}
        recorder.record("params", None, **context.params)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(observer, name="stress-observer")
            nursery.start_soon(context.cancel_timer, name="stress-cancel-timer")
            with trio.move_on_after(budget) as scope:
                try:
                    await driver.run(nursery)
                except* StepFailed:
                    pass  # a hang or crash, already recorded
                except* Exception as group:
                    # Whatever else escaped came from the implementation: a verdict, not a bug.
                    recorder.record("crash", "run", error=repr(group.exceptions[0])[:200])
            if scope.cancelled_caught:
                recorder.record("hang", "run", reason=f"the run did not end within {budget:g}s")
            await trio.testing.wait_all_tasks_blocked()
            with contextlib.suppress(StepFailed):
                driver.observe(True)
            recorder.record("idle")
            nursery.cancel_scope.cancel()
        me = trio.lowlevel.current_task()
        leaked = [t.name for t in live_tasks() if id(t) not in baseline and t is not me]
        if leaked:
            recorder.record("leak", None, tasks=leaked[:10], count=len(leaked))
        recorder.record("end")

    # trio picks among runnable tasks at random: seeding it makes a run (and its figures, which
    # the baseline gate compares) a function of the scenario's seed.
    seed_scheduler(scenario.seed)
    started = time.perf_counter()
    try:
        trio.run(main, clock=clock.clock, instruments=[guard], strict_exception_groups=True)
    except trio.TrioInternalError:
        if clock.abort_reason is None:
            raise
        aborted = True
    except Exception as exc:
        # A helper task let the implementation's exception out: report it as a crash.
        clock.abort_reason = f"the run crashed: {exc!r}"[:200]
        crashed = exc
        aborted = True
    wall = time.perf_counter() - started
    last = recorder.recent[-1].t if recorder.recent else 0.0
    if aborted:
        verdict = (
            Event(last, "crash", "run", {"error": repr(crashed)[:200]})
            if crashed is not None
            else Event(last, "hang", "run", {"reason": clock.abort_reason})
        )
        for event in (
            verdict,
            Event(last, "end"),
        ):
            recorder.recent.append(event)
            if trace is not None:
                trace.feed(event)
        with quiet_abandoned_run():
            pass
    virtual = max(last, metrics.last_t)
    return StressResult(
        scenario=scenario,
        implementation=implementation,
        rules=_verdicts(checkers, recorder) if check else [],
        metrics=metrics.summary(virtual, driver.workers()),
        events=recorder.count,
        virtual_seconds=virtual,
        wall_seconds=wall,
        checked=check,
        checker_seconds=recorder.checker_seconds if timed else None,
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
