"""Async stateful models: one event-loop run per Hypothesis example, each step drawn on the fly.

A model chooses the operations that the pattern's driver (:mod:`harness.drivers`) performs on
one implementation. For each example, :func:`run_example` asks
the implementation's backend (:mod:`harness.backends`) to run the example: ``trio.run`` on a
guarded virtual clock with the scheduler seeded from the example's data (so the interleaving
replays with it), an asyncio loop on looptime's virtual clock, or a real-clock loop driving
threads. The models and the :class:`Session` use anyio, so they run unchanged on each. The
model builds its object under test, then draws and performs operations one by one (now and
then a same-instant batch of two or three: :mod:`harness.search.batches`). After each
operation it waits until every task is blocked (the system has *settled* at this instant),
records an ``idle`` event, and stops early if a checker has already seen a violation. Time
passes only when an operation says so.

Every event goes to the model's checkers the moment it is recorded, so the same streaming folds
that check a stress run check each example, and the events of a failing example are its trace.

Whatever the implementation does wrong in an example is a verdict of that example, never an
error of the harness: an exception in a call is a ``crash`` (see
:meth:`~harness.drivers.Host.blame`), and so is a failure of its own work that nobody is told
about, caught while the example runs: a thread of its own that dies (``threading.excepthook``)
or a task of its own whose exception is never retrieved (the loop's exception handler, see
:meth:`~harness.backends.Runtime.background_faults`). Those arrive from anywhere, so they are
queued and recorded by the harness's own task: at the next settled instant on virtual time, at
the end of the example on the real clock (where the instant a thread dies varies from run to
run, and an example must replay the same). A ``SystemExit`` or ``KeyboardInterrupt`` the
implementation raises ends the example as a crash; the user's own Ctrl-C still stops the search
(:func:`~harness.plugin.watching_user_signals`).
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, NoReturn, TypeVar

import anyio
from hypothesis import strategies as st

from harness.backends import Runtime, backend_for
from harness.checking import TraceChecker, Violation
from harness.contract import Implementation
from harness.drivers import Host, StepFailed, checkers_for, driver_for
from harness.drivers.host import exception_leaves
from harness.events import Event
from harness.guards import Budgets, quiet_abandoned_run
from harness.plugin import user_signalled, watching_user_signals
from harness.rules import RULES, Pattern, Rule
from harness.search import batches

T = TypeVar("T")

#: The largest virtual pause an ``advance`` operation draws, in seconds.
MAX_ADVANCE = 5.0

#: Why a model leaves its object's ``close()`` (or ``cancel()``) out of same-instant batches.
CLOSING = (
    "recorded when called and judged done from then on: a call begun while an async close() "
    "still runs (a helper task of an earlier part) could rightly be served"
)


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


class Draws(st.DataObject):
    """An example's data source that draws straight from Hypothesis's choice sequence.

    ``DataObject.draw`` wraps every draw in bookkeeping this harness never reads: a check that
    the strategy left the global ``random`` alone (two ``random.getstate()`` copies per draw),
    a printable note of every value for Hypothesis's own failure report (our counterexample
    is the steps and the trace), and a record for the explain phase (switched off, see
    :func:`harness.search.engine._settings`). A model example draws tens of values: skipping
    it saves about a sixth of an example. Drawing from the underlying ``ConjectureData`` makes
    exactly the same choices, so examples generate, shrink and replay as before.
    """

    def __init__(self, data: st.DataObject) -> None:
        super().__init__(data.conjecture_data)
        self._draw = data.conjecture_data.draw

    def draw(self, strategy: st.SearchStrategy[T], label: Any = None) -> T:
        """Draw a value of ``strategy`` (``label`` names it for a reader, nothing else)."""
        if type(strategy) is _SampledFrom:
            strategy = _known_sample(strategy)
        return self._draw(strategy)


try:  # Hypothesis's own class; without it (another version) every sample is its own
    from hypothesis.strategies._internal.strategies import SampledFromStrategy as _SampledFrom
except ImportError:  # pragma: no cover
    _SampledFrom = None  # type: ignore[assignment,misc]

#: Validated ``sampled_from`` strategies by their elements (see :func:`_known_sample`).
_SAMPLES: dict[tuple[tuple[type, ...], tuple[object, ...]], st.SearchStrategy[Any]] = {}
#: The element types whose ``repr`` tells equal values from different ones.
_PLAIN: Final = frozenset({str, int, float, bool, type(None)})
#: How many :data:`_SAMPLES` keeps before starting afresh (job ids make many distinct ones).
_MAX_SAMPLES: Final = 4096


def _known_sample(strategy: Any) -> Any:
    """An earlier ``sampled_from`` of the same plain elements, if any, instead of ``strategy``.

    Models build ``st.sampled_from([...])`` at every draw, and Hypothesis validates each new
    strategy and works out its label on its first draw: more than the draw itself. A plain
    sample (no ``map`` or ``filter``) of the same elements, each of the same type and
    ``repr``, draws exactly the same way, so the first one validated serves them all.
    """
    elements = getattr(strategy, "elements", None)
    if not isinstance(elements, Sequence) or getattr(strategy, "_transformations", True):
        return strategy
    kinds = tuple(map(type, elements))
    if not _PLAIN.issuperset(kinds):
        return strategy
    # Equal ints and strings of equal types are the same value; floats are told apart by
    # their repr (0.0 == -0.0, and a NaN is not equal to itself).
    key = (kinds, tuple(map(repr, elements)) if float in kinds else tuple(elements))
    known = _SAMPLES.get(key)
    if known is None:
        if len(_SAMPLES) >= _MAX_SAMPLES:
            _SAMPLES.clear()
        known = _SAMPLES[key] = strategy
    return known


def fast_draws(data: st.DataObject) -> st.DataObject:
    """``data`` as :class:`Draws` when it is Hypothesis's own, else ``data`` unchanged."""
    if isinstance(data, Draws) or getattr(data, "conjecture_data", None) is None:
        return data
    return Draws(data)


class Session(Host):
    """What one example shares: the data source and steps, beside the host's services.

    The trace is kept (``events``): a failing example's events are its counterexample.
    """

    def __init__(
        self,
        data: st.DataObject,
        implementation: Implementation,
        checkers: TraceChecker,
        budgets: Budgets,
        runtime: Runtime,
    ) -> None:
        super().__init__(implementation, runtime, budgets, self._keep)
        self.data = data
        self.checkers = checkers
        # Every event goes through here: the checkers' dispatch table, looked up once.
        self._handlers = checkers.table
        self.events: list[Event] = []
        self.steps: list[str] = []
        self.model: Model | None = None
        #: A draw that would break replay, refused (kept: it may have been raised inside a call).
        self.misdraw: str | None = None

    def _keep(self, event: Event) -> None:
        self.events.append(event)
        for handler in self._handlers.get(event.kind, ()):
            handler(event)

    def step(self, description: str) -> None:
        """Log an operation for the counterexample (``put(3)``, ``advance(0.5)``).

        Inside a part of a same-instant batch it goes to the batch's one line.
        """
        part = batches.current()
        if part is not None:
            part.log(description)
            return
        self.steps.append(f"t={self.now():.6g} {description}")

    def current_step(self) -> str:
        """The operation under way (``put_nowait(3)``), to name a fault found outside a call."""
        return self.steps[-1].split(" ", 1)[-1] if self.steps else "setup"

    def draw(self, strategy: st.SearchStrategy[T], label: str | None = None) -> T:
        """Draw a value for this example (shrinks and replays with it).

        Raises ``RuntimeError`` for a draw whose place in the sequence would depend on
        scheduling (see :mod:`harness.search.batches`): a poolcheck bug.
        """
        late = self.misdraw or batches.late_draw()
        if late is not None:
            # Every draw after it too: the example's draws are no longer worth making.
            self.misdraw = late
            raise RuntimeError(late)
        return self.data.draw(strategy, label=label)

    def failed(self) -> bool:
        """Whether a checker has seen a violation already."""
        return any(checker.violations for checker in self.checkers.checkers)

    async def settle(self) -> None:
        """Wait until every task is blocked, then record ``idle`` at this virtual instant.

        The model's ``observe`` runs first, so its readings belong to the settled state.
        """
        await self.runtime.wait_all_tasks_blocked()
        self.runtime.settled()
        if self.runtime.settle_grace == 0:
            # On a real clock a thread's death lands at one instant or the next, which would
            # end the example after a varying number of steps (Hypothesis calls that flaky):
            # there the faults are recorded once, at the end of the example.
            self.record_faults()
        if self.model is not None:
            await self.model.observe()
        self.record("idle")

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` of model time pass (timers fire, sleepers wake)."""
        self.step(f"advance({seconds:g})")
        await self.sleep(seconds)


class Model:
    """Base of the models: subclasses set ``pattern``, draw parameters, list operations.

    The pattern's :class:`~harness.drivers.Driver` performs every operation and records its
    events; a model only chooses. ``operations`` maps a name to an async method that draws its
    arguments from ``self.session``, logs the step and calls the driver.
    """

    pattern: ClassVar[Pattern]
    max_steps: ClassVar[int] = 25
    #: How often each operation is drawn relative to the others (default 1 each): rare
    #: closes and cancels keep examples interesting for longer.
    weights: ClassVar[dict[str, int]] = {}
    #: Whether the model draws same-instant batches of its operations (``batch`` steps, see
    #: :mod:`harness.search.batches`); a model whose operations cannot run at once says why.
    batchable: ClassVar[bool] = True
    #: Operations never drawn as a part of a batch, each with the reason.
    unbatched: ClassVar[dict[str, str]] = {"advance": "time passes: a batch is one instant"}
    #: Operations whose part lets the next part start once it is inside its call: calls that
    #: take time, which their checkers judge one by one (a retrier's call, a group's block).
    overlapping: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, session: Session) -> None:
        self.session = session
        self.implementation = session.implementation
        self.driver: Any = None

    @classmethod
    def factories(cls) -> tuple[str, ...]:
        """The factory names this model can drive (its driver's)."""
        return driver_for(cls.pattern).factories

    @classmethod
    def applicable(cls, implementation: Implementation) -> bool:
        """Whether the implementation provides anything this model can drive.

        A pattern the implementation's backend cannot drive is not applicable either.
        """
        if cls.pattern in backend_for(implementation.backend).unsupported:
            return False
        return any(name in implementation.factories for name in cls.factories())

    @classmethod
    def draw_params(cls, data: st.DataObject, implementation: Implementation) -> dict[str, Any]:
        """Draw the run's parameters (capacity, workers, ...); recorded as the ``params`` event.

        Parameters are JSON scalars, so a trace file carries them in its first event.
        """
        raise NotImplementedError

    async def setup(self, params: dict[str, Any]) -> None:
        """Build the object under test through the pattern's driver."""
        self.driver = driver_for(self.pattern)(self.session, params)
        await self.driver.setup()

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """The operations an example draws from."""
        raise NotImplementedError

    async def teardown(self) -> None:
        """Close or cancel the object and wait for it, under deadlines."""

    async def observe(self) -> None:
        """Record the object's own gauges and counters; called at every settled instant."""
        if self.driver is not None:
            await self.driver.observe()

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
    #: Optional methods the example's objects did not have.
    lacking: set[str] = field(default_factory=set)


#: The implementation's prints and log records kept per example (the last ones win).
MAX_OUTPUT: Final = 16_384


class _Tail(io.StringIO):
    """A text buffer that keeps only its last :data:`MAX_OUTPUT` characters."""

    def write(self, text: str) -> int:
        written = super().write(text)
        if self.tell() > 2 * MAX_OUTPUT:
            tail = self.getvalue()[-MAX_OUTPUT:]
            self.seek(0)
            self.truncate()
            super().write(tail)
        return written


@contextlib.contextmanager
def captured_output() -> Iterator[_Tail]:
    """The implementation's prints and log records during one example, kept off the terminal."""
    buffer = _Tail()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield buffer
    finally:
        root.removeHandler(handler)


_OPERATIONS: dict[tuple[type[Model], tuple[str, ...]], st.SearchStrategy[str]] = {}


def _operation_names(model_cls: type[Model], operations: Iterable[str]) -> list[str]:
    """The names an example of ``model_cls`` draws these operations from.

    Each name is listed once per unit of its weight, in sorted order, ``batch`` last (a
    failing example shrinks towards the first names). In a model of few operations a batch
    would be a third of the steps, each two or three calls: there the other weights are
    scaled up, so that a batch stays about one step in :data:`~batches.BATCH_EVERY` at most.
    """
    ordered = sorted(operations, key=lambda name: (name == batches.BATCH, name))
    weights = {name: model_cls.weights.get(name, 1) for name in ordered}
    batch = weights.get(batches.BATCH, 0)
    others = sum(weights.values()) - batch
    scale = max(1, -(-(batches.BATCH_EVERY - 1) * batch // max(1, others)))
    for name in weights:
        weights[name] *= 1 if name == batches.BATCH else scale
    return [name for name in ordered for _ in range(weights[name])]


def _operation_strategy(
    model_cls: type[Model], operations: Iterable[str]
) -> st.SearchStrategy[str]:
    """:func:`_operation_names` as a strategy, built once per model and set of operations.

    (An implementation without ``close`` has one operation fewer.) Not once per step:
    Hypothesis validates every new strategy on its first draw.
    """
    key = (model_cls, tuple(sorted(operations)))
    strategy = _OPERATIONS.get(key)
    if strategy is None:
        strategy = _OPERATIONS[key] = st.sampled_from(_operation_names(model_cls, key[1]))
    return strategy


def _with_batches(
    model_cls: type[Model], session: Session, operations: dict[str, Callable[[], Awaitable[None]]]
) -> None:
    """Add the ``batch`` operation, drawing its parts from the batchable ``operations``."""
    parts = [name for name in operations if name not in model_cls.unbatched]
    if model_cls.batchable and parts:
        operations[batches.BATCH] = functools.partial(
            batches.run_batch,
            session,
            dict(operations),
            _operation_strategy(model_cls, parts),
            model_cls.overlapping,
        )


def run_example(
    model_cls: type[Model],
    implementation: Implementation,
    data: st.DataObject,
    budgets: Budgets | None = None,
) -> ExampleOutcome:
    """Run one example of ``model_cls`` against ``implementation``; never raises a rule."""
    budgets = budgets or Budgets()
    backend = backend_for(implementation.backend)
    data = fast_draws(data)
    seed = data.draw(st.integers(min_value=0, max_value=2**32 - 1), label="scheduler seed")
    holder: dict[str, Any] = {}
    faults: deque[tuple[str, str]] = deque()

    async def main(runtime: Runtime) -> None:
        baseline = runtime.census()
        requests = runtime.cancel_requests()
        params = model_cls.draw_params(data, implementation)
        if implementation.deviations:
            # A checker that reads one rule's outcome to blame another must know it is waived.
            params["deviations"] = sorted(implementation.deviations)
        checkers = TraceChecker(checkers_for(model_cls.pattern, params))
        session = Session(data, implementation, checkers, budgets, runtime)
        session.faults = faults
        holder["session"] = session
        model = model_cls(session)
        session.model = model
        session.record("params", None, **params)
        with runtime.background_faults(lambda who, error: faults.append((who, error))):
            try:
                async with anyio.create_task_group() as task_group:
                    session.task_group = task_group
                    try:
                        await model.setup(params)
                        await session.settle()
                        steps = session.draw(st.integers(1, model_cls.max_steps), label="steps")
                        operations = model.operations()
                        _with_batches(model_cls, session, operations)
                        choose = _operation_strategy(model_cls, operations)
                        for _ in range(steps):
                            name = session.draw(choose, label="operation")
                            await operations[name]()
                            await session.settle()
                            # On a real clock a violation shows at one step or the next, run to
                            # run: stopping there would make the example's draws vary (flaky).
                            if session.failed() and runtime.settle_grace == 0:
                                break
                        await model.teardown()
                        await session.settle()
                    except* StepFailed:
                        pass
                    task_group.cancel_scope.cancel()
            except BaseException as exc:
                # What escaped the drivers' own guards: the implementation's fault (a
                # SystemExit, a cancellation nobody asked for) ends the example as a crash;
                # anything else is poolcheck's and propagates as a harness error.
                error = session.blame(exc, in_call=False)
                if error is None:
                    raise
                session.record("crash", session.current_step(), error=error)
                await runtime.forget_cancel_requests(requests)
            session.record_faults()
            leaked = await runtime.leftovers(baseline)
        session.record_faults()
        if leaked:
            session.record("leak", None, tasks=leaked[:10], count=len(leaked))
        session.record("end")

    escaped: str | None = None
    with _thread_deaths(faults), watching_user_signals(), captured_output() as output:
        try:
            abort_reason = backend.run(main, budgets, seed)
        except BaseException as exc:
            if user_signalled():
                _stop(exc)
            _refuse_misdraw(holder.get("session"), exc)
            # asyncio lets SystemExit and KeyboardInterrupt out of its loop from any task,
            # one of the implementation's included: the run is over, the fault is its own.
            escaped = _escaped(exc)
            if escaped is None or "session" not in holder:
                raise
            abort_reason = None
    if abort_reason is not None or escaped is not None:
        session = holder.get("session")
        if session is None:
            raise RuntimeError(f"the run aborted before it started: {abort_reason}")
        last = session.events[-1].t if session.events else 0.0
        ending: list[Event] = []
        if escaped is not None:
            ending.append(Event(last, "crash", session.current_step(), {"error": escaped}))
        if abort_reason is not None:
            ending.append(Event(last, "hang", "run", {"reason": abort_reason}))
        ending += [Event(last, "crash", who, {"error": error}) for who, error in faults]
        faults.clear()
        if abort_reason is not None:
            # An exit of the implementation's own cut the run short: it never ended, so the
            # rules judged at the end (nothing lost, ...) are not judged on it.
            ending.append(Event(last, "end"))
        for event in ending:
            session.events.append(event)
            session.checkers.feed(event)
    session = holder.pop("session")
    _refuse_misdraw(session)
    if output.getvalue():
        # Kept with the trace, so a report shows it for the minimal failing example only.
        last = session.events[-1].t if session.events else 0.0
        session.events.append(Event(last, "output", None, {"text": output.getvalue()}))
    waived = backend.waived
    outcome = ExampleOutcome(
        violations=[v for v in session.checkers.violations() if v.rule_id not in waived],
        exercised=session.checkers.exercised() - waived.keys(),
        steps=session.steps,
        events=session.events,
        params=dict(session.events[0].data) if session.events else {},
        lacking=set(session.lacking),
    )
    if abort_reason is not None or escaped is not None:
        # The aborted run's tasks are orphans now; collect them quietly, here, once.
        del session
        with quiet_abandoned_run():
            pass
    return outcome


def _refuse_misdraw(session: Session | None, exc: BaseException | None = None) -> None:
    """Raise the refused draw as poolcheck's bug, whatever became of it in the run.

    It may have been raised inside a call (blamed on the implementation as a crash), or
    beside another task's exception in a group.
    """
    if session is not None and session.misdraw is not None:
        raise RuntimeError(session.misdraw) from exc


def _stop(exc: BaseException) -> NoReturn:
    """Stop the search for the user's signal, however the run wrapped its exception.

    The stop leaves as itself (``KeyboardInterrupt``, or the ``SystemExit`` a SIGTERM
    handler raised), never inside a group or a runner's internal error, so whoever called the
    search sees the user's stop and nothing else.
    """
    stops = [
        leaf for leaf in exception_leaves(exc) if isinstance(leaf, KeyboardInterrupt | SystemExit)
    ]
    if not stops:
        raise KeyboardInterrupt from exc
    if stops[0] is exc:
        raise exc
    raise stops[0] from exc


def _escaped(exc: BaseException) -> str | None:
    """The crash's error text when ``exc`` left the run as the implementation's own exit.

    ``SystemExit`` or ``KeyboardInterrupt`` (alone or in a group) that the user did not cause
    with a signal; anything else is poolcheck's to report.
    """
    if user_signalled():
        return None
    leaves = list(exception_leaves(exc))
    if all(isinstance(leaf, SystemExit | KeyboardInterrupt) for leaf in leaves):
        return f"{leaves[0]!r:.200}"
    return None


@contextlib.contextmanager
def _thread_deaths(faults: deque[tuple[str, str]]) -> Iterator[None]:
    """While inside, an exception that ends a thread is queued in ``faults`` as a crash.

    ``threading.excepthook`` is the one place Python tells of a thread that died of an
    exception; the harness's own threads never let one out, so the thread is the
    implementation's. ``SystemExit`` ends a thread quietly in Python, and does here too.
    """
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        faults.append((f"thread {name!r}", f"{args.exc_value!r:.200}, which ended the thread"))

    threading.excepthook = hook
    try:
        yield
    finally:
        threading.excepthook = previous


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
