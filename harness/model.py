"""Async stateful models: one event-loop run per Hypothesis example, each step drawn on the fly.

A model drives one implementation of one pattern. For each example, :func:`run_example` asks
the implementation's backend (:mod:`harness.backends`) to run the example: ``trio.run`` on a
guarded virtual clock with the scheduler seeded from the example's data (so the interleaving
replays with it), an asyncio loop on looptime's virtual clock, or a real-clock loop driving
threads. The models and the :class:`Session` use anyio, so they run unchanged on each. The
model builds its object under test, then draws and performs operations one by one. After
each operation it waits until every task is blocked (the system has *settled* at this
instant), records an ``idle`` event, and stops early if a checker has already seen a
violation. Time passes only when an operation says so.

Every event goes to the model's checkers the moment it is recorded, so the same streaming folds
that check a stress run check each example, and the events of a failing example are its trace.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import anyio
import anyio.abc
from hypothesis import strategies as st

from harness.backends import Runtime, backend_for
from harness.checkers.general import GuardChecker
from harness.checking import Checker, TraceChecker, Violation
from harness.contract import Implementation
from harness.events import Event
from harness.guards import Budgets, quiet_abandoned_run
from harness.rules import RULES, Pattern, Rule

T = TypeVar("T")

#: The largest virtual pause an ``advance`` operation draws, in seconds.
MAX_ADVANCE = 5.0


class RuleViolation(AssertionError):
    """A rule broke in one example; Hypothesis shrinks it. Subclassed once per rule ID."""

    rule: ClassVar[Rule]

    def __init__(self, violation: Violation, steps: Sequence[str], trace: Sequence[Event]):
        self.violation = violation
        self.steps = list(steps)
        self.trace = list(trace)
        super().__init__(self.render())

    def render(self) -> str:
        """The counterexample as a person reads it: rule, statement, steps, evidence."""
        lines = [
            f"{self.violation.rule_id} violated: {self.violation.message}",
            f"  rule: {self.rule.statement}",
            "  steps:",
            *(f"    {i}. {step}" for i, step in enumerate(self.steps, start=1)),
            "  offending events:",
            *(f"    {event.describe()}" for event in self.violation.events),
        ]
        return "\n".join(lines)


_VIOLATION_TYPES: dict[str, type[RuleViolation]] = {}


def violation_type(rule_id: str) -> type[RuleViolation]:
    """One exception class per rule, so Hypothesis shrinks each rule's failure on its own."""
    cls = _VIOLATION_TYPES.get(rule_id)
    if cls is None:
        name = "Violation_" + rule_id.replace("-", "_")
        cls = type(name, (RuleViolation,), {"rule": RULES[rule_id], "__module__": __name__})
        _VIOLATION_TYPES[rule_id] = cls
    return cls


def receiver(stream: Any) -> Callable[[], Awaitable[Any]]:
    """How to take the next item of a result stream.

    Its ``receive`` when it has one (a trio or anyio stream), else its iterator's ``__anext__``.
    """
    receive: Callable[[], Awaitable[Any]] | None = getattr(stream, "receive", None)
    if callable(receive):
        return receive
    iterator: AsyncIterator[Any] = aiter(stream)
    return iterator.__anext__


class StepFailed(Exception):
    """An operation could not go on (a hang or crash is already recorded); stop the example."""


class Session:
    """What one example shares: the data source, the runtime, the trace and its checkers."""

    def __init__(
        self,
        data: st.DataObject,
        implementation: Implementation,
        checkers: TraceChecker,
        budgets: Budgets,
        runtime: Runtime,
    ) -> None:
        self.data = data
        self.implementation = implementation
        self.checkers = checkers
        self.budgets = budgets
        self.runtime = runtime
        self.events: list[Event] = []
        self.steps: list[str] = []
        self.task_group: anyio.abc.TaskGroup | None = None
        self.model: Model | None = None

    # -- time ------------------------------------------------------------------------------
    def now(self) -> float:
        """The example's time in model seconds (virtual, or scaled real time on threads)."""
        return self.runtime.now()

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` model seconds (harness side: a handler's job, a canceller)."""
        await self.runtime.sleep(seconds)

    def move_on_after(self, seconds: float) -> anyio.CancelScope:
        """A deadline ``seconds`` model seconds from now, for a harness wait."""
        return self.runtime.move_on_after(seconds)

    def factory(self, name: str) -> Callable[..., Any]:
        """The implementation's factory ``name``, adapted to the async contract if needed."""
        return self.runtime.adapt(name, self.implementation.factories[name])

    # -- recording -------------------------------------------------------------------------
    def record(self, kind: str, ident: Any = None, **data: Any) -> Event:
        """Stamp an event with the example's time, keep it, and fold it into the checkers."""
        event = Event(self.now(), kind, ident, data)
        self.runtime.note_activity()
        self.events.append(event)
        self.checkers.feed(event)
        return event

    def step(self, description: str) -> None:
        """Log an operation for the counterexample (``put(3)``, ``advance(0.5)``)."""
        self.steps.append(f"t={self.now():.6g} {description}")

    def draw(self, strategy: st.SearchStrategy[T], label: str | None = None) -> T:
        """Draw a value for this example (shrinks and replays with it)."""
        return self.data.draw(strategy, label=label)

    def failed(self) -> bool:
        """Whether a checker has seen a violation already."""
        return any(checker.violations for checker in self.checkers.checkers)

    # -- calling into the implementation ----------------------------------------------------
    async def call(self, what: str, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Await ``fn(*args)`` under the call deadline; a hang or crash becomes a verdict."""
        with self.move_on_after(self.budgets.call_deadline) as scope:
            try:
                return await fn(*args)
            except (anyio.get_cancelled_exc_class(), StepFailed):
                raise
            except Exception as exc:
                self.record("crash", what, error=repr(exc))
                raise StepFailed(what) from exc
        assert scope.cancelled_caught
        self.record("hang", what, deadline=self.budgets.call_deadline)
        raise StepFailed(what)

    def call_sync(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a synchronous method of the implementation; a crash becomes a verdict."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            self.record("crash", what, error=repr(exc))
            raise StepFailed(what) from exc

    def spawn(self, fn: Callable[[], Awaitable[None]], name: str) -> None:
        """Run a harness helper task (a blocked put, a reader) beside the operations."""
        assert self.task_group is not None
        self.task_group.start_soon(self._guarded(fn), name=name)

    def _guarded(
        self, fn: Callable[[], Awaitable[None]]
    ) -> Callable[[], Coroutine[Any, Any, None]]:
        async def run() -> None:
            with contextlib.suppress(StepFailed):  # already recorded as a hang or crash
                await fn()

        return run

    async def settle(self) -> None:
        """Wait until every task is blocked, then record ``idle`` at this virtual instant.

        The model's ``observe`` runs first, so its readings belong to the settled state.
        """
        await self.runtime.wait_all_tasks_blocked()
        self.runtime.settled()
        if self.model is not None:
            await self.model.observe()
        self.record("idle")

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` of model time pass (timers fire, sleepers wake)."""
        self.step(f"advance({seconds:g})")
        await self.sleep(seconds)


class Model:
    """Base of the models: subclasses set ``pattern``, build the object, list operations.

    ``operations`` maps a name to an async method that draws its own arguments from
    ``self.session``, performs one action on the object under test and records what it saw.
    """

    pattern: ClassVar[Pattern]
    max_steps: ClassVar[int] = 25
    #: The factory names this model can drive; it draws among those the implementation has.
    factories: ClassVar[tuple[str, ...]] = ()
    #: How often each operation is drawn relative to the others (default 1 each): rare
    #: closes and cancels keep examples interesting for longer.
    weights: ClassVar[dict[str, int]] = {}

    def __init__(self, session: Session) -> None:
        self.session = session
        self.implementation = session.implementation

    @classmethod
    def applicable(cls, implementation: Implementation) -> bool:
        """Whether the implementation provides anything this model can drive.

        A pattern the implementation's backend cannot drive is not applicable either.
        """
        if cls.pattern in backend_for(implementation.backend).unsupported:
            return False
        return any(name in implementation.factories for name in cls.factories)

    @classmethod
    def make_checkers(cls, params: dict[str, Any]) -> list[Checker]:
        """The checkers of this pattern, configured by the run's ``params``."""
        raise NotImplementedError

    @classmethod
    def draw_params(cls, data: st.DataObject, implementation: Implementation) -> dict[str, Any]:
        """Draw the run's parameters (capacity, workers, ...); recorded as the ``params`` event.

        Parameters are JSON scalars, so a trace file carries them in its first event.
        """
        raise NotImplementedError

    async def setup(self, params: dict[str, Any]) -> None:
        """Build the object under test (through the session's guarded calls)."""
        raise NotImplementedError

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """The operations an example draws from."""
        raise NotImplementedError

    async def teardown(self) -> None:
        """Close or cancel the object and wait for it, under deadlines."""

    async def observe(self) -> None:
        """Record the object's own gauges and counters; called at every settled instant."""

    async def advance(self) -> None:
        """Operation: let a drawn amount of virtual time pass."""
        seconds = self.session.draw(
            st.sampled_from([0.0, 0.001, 0.01, 0.1, 0.5, 1.0, MAX_ADVANCE]), label="advance"
        )
        await self.session.advance(seconds)


@dataclass
class ExampleOutcome:
    """What one example showed: its violations, which rules it exercised, its trace."""

    violations: list[Violation]
    exercised: set[str]
    steps: list[str]
    events: list[Event]
    params: dict[str, Any] = field(default_factory=dict)


def run_example(
    model_cls: type[Model],
    implementation: Implementation,
    data: st.DataObject,
    budgets: Budgets | None = None,
) -> ExampleOutcome:
    """Run one example of ``model_cls`` against ``implementation``; never raises a rule."""
    budgets = budgets or Budgets()
    backend = backend_for(implementation.backend)
    seed = data.draw(st.integers(min_value=0, max_value=2**32 - 1), label="scheduler seed")
    holder: dict[str, Any] = {}

    async def main(runtime: Runtime) -> None:
        baseline = runtime.census()
        params = model_cls.draw_params(data, implementation)
        checkers = TraceChecker([*model_cls.make_checkers(params), GuardChecker(params)])
        session = Session(data, implementation, checkers, budgets, runtime)
        holder["session"] = session
        model = model_cls(session)
        session.model = model
        session.record("params", None, **params)
        async with anyio.create_task_group() as task_group:
            session.task_group = task_group
            try:
                await model.setup(params)
                await session.settle()
                steps = session.draw(st.integers(1, model_cls.max_steps), label="steps")
                names = [
                    name
                    for name in sorted(model.operations())
                    for _ in range(model_cls.weights.get(name, 1))
                ]
                for _ in range(steps):
                    name = session.draw(st.sampled_from(names), label="operation")
                    await model.operations()[name]()
                    await session.settle()
                    if session.failed():
                        break
                await model.teardown()
                await session.settle()
            except* StepFailed:
                pass
            task_group.cancel_scope.cancel()
        leaked = await runtime.leftovers(baseline)
        if leaked:
            session.record("leak", None, tasks=leaked[:10], count=len(leaked))
        session.record("end")

    abort_reason = backend.run(main, budgets, seed)
    if abort_reason is not None:
        session = holder.get("session")
        if session is None:
            raise RuntimeError(f"the run aborted before it started: {abort_reason}")
        last = session.events[-1].t if session.events else 0.0
        for event in (
            Event(last, "hang", "run", {"reason": abort_reason}),
            Event(last, "end"),
        ):
            session.events.append(event)
            session.checkers.feed(event)
    session = holder.pop("session")
    waived = backend.waived
    outcome = ExampleOutcome(
        violations=[v for v in session.checkers.violations() if v.rule_id not in waived],
        exercised=session.checkers.exercised() - waived.keys(),
        steps=session.steps,
        events=session.events,
        params=dict(session.events[0].data) if session.events else {},
    )
    if abort_reason is not None:
        # The aborted run's tasks are orphans now; collect them quietly, here, once.
        del session
        with quiet_abandoned_run():
            pass
    return outcome


def check_example(
    model_cls: type[Model],
    implementation: Implementation,
    data: st.DataObject,
    budgets: Budgets | None = None,
) -> ExampleOutcome:
    """Run one example and raise the first violation as its rule's :class:`RuleViolation`."""
    outcome = run_example(model_cls, implementation, data, budgets)
    if outcome.violations:
        # A lost item also skews the counters; name the root rule rather than its echo.
        first = min(outcome.violations, key=lambda v: v.rule_id == "METRICS-CONSISTENT")
        raise violation_type(first.rule_id)(first, outcome.steps, outcome.events)
    return outcome
