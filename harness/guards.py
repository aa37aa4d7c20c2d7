"""Guards that keep the harness alive whatever the code under test does.

* A virtual clock with a kill switch. Trio cannot kill a task, so a task that swallows
  cancellation and spins, or sleeps in a loop forever, would keep ``trio.run`` from returning.
  Our clock is trio's ``MockClock`` (autojump at 0) whose ``current_time`` raises
  :class:`HarnessAbort` once the switch is thrown; trio's run loop calls it on every pass, so
  the run ends with ``TrioInternalError`` and the harness reports the verdict instead of hanging.
* An instrument that throws the switch when the code under test livelocks, when a run costs
  too much to simulate, or when virtual or wall-clock time runs past its budget, and that
  counts the tasks spawned and exited for the leak rules.

Waiting is not spinning. A livelock is an *instant* that never ends: task steps pile up while
virtual time stands still and the system never settles (``while True: await sleep(0)``, a
task that swallows its cancellation). A wait on a timer moves virtual time on, and the count
starts again. One thing real clocks do that a virtual one does not: they move on while code
runs. Code that waits for time to pass with sleeps shorter than the clock can tell apart (a
token bucket sleeping off a float remainder of 1e-16 s: ``now + 1e-16 == now``) would spin
forever on virtual time although it ends at once on a real clock. So every
:func:`nudge_every` steps of one instant the guard moves the clock on by one tick
(:func:`nudge_size`), as real time would have moved; those moves do not restart the count, so
a genuine spin is still a livelock after :attr:`Budgets.max_steps_between_idle` steps.

A run that keeps waking on timers without ever settling (a task polling every microsecond)
is not a livelock, but it can cost more to simulate than the gate can afford: past
:attr:`Budgets.max_steps_unsettled` steps between settled instants, or past the wall-clock
budget, the run is aborted too, with a reason that says so.

These are the trio backend's guards (:mod:`harness.backends.trio_run`); the budgets and
:class:`HarnessAbort` are shared with the asyncio and threads backends, whose guard lives in
their event loop (:mod:`harness.backends.asyncio_run`).
"""

from __future__ import annotations

import functools
import gc
import math
import sys
import time
from collections.abc import Callable, Coroutine, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import trio
import trio.testing


class HarnessAbort(BaseException):
    """Raised from the guarded clock to end a run the code under test will not let end."""


@dataclass(frozen=True, slots=True)
class Budgets:
    """Limits of one example run. Every await into the implementation has a deadline."""

    #: Virtual seconds one call into the implementation may take before it counts as a hang.
    call_deadline: float = 60.0
    #: Virtual seconds a whole example may last.
    max_virtual_time: float = 1e6
    #: Task steps (loop iterations on asyncio) at one virtual instant without the system
    #: settling before it counts as a livelock. A correct model example takes a few hundred
    #: at most; each example that trips it costs these steps, so it stays cheap.
    max_steps_between_idle: int = 10_000
    #: Task steps between two settled instants, virtual time moving on or not, before the run
    #: counts as too busy to simulate (a timer that fires every microsecond, for good).
    max_steps_unsettled: int = 2_000_000
    #: Wall-clock seconds a whole run may take (checked between task steps or loop
    #: iterations, so code that never yields is beyond it).
    wall_budget: float = 60.0


#: The virtual clocks' tick, in seconds: finer than the checkers' EPSILON (1e-9), so moving
#: the clock on by a tick never decides a rule.
TICK: Final = 1e-12
#: Nudges per livelock budget: an instant that spins gets this many chances to see time move.
NUDGES: Final = 16


def nudge_every(budgets: Budgets) -> int:
    """Steps of one instant after which the guard moves the clock on by a tick."""
    return max(1, budgets.max_steps_between_idle // NUDGES)


def nudge_size(now: float) -> float:
    """One tick, or more where the float ``now`` cannot tell a tick apart: ``now + size > now``."""
    return max(TICK, math.ulp(now))


def livelock_reason(steps: int, what: str, now: float, last: str = "") -> str:
    """The abort reason of an instant that spins."""
    return f"livelock: {steps} {what} at t={now:.6g} without settling or time moving on{last}"


def too_busy_reason(steps: int, what: str, since: float, now: float, last: str = "") -> str:
    """The abort reason of a run that keeps waking on timers and never settles."""
    return (
        f"too busy to simulate: {steps} {what} from t={since:.6g} to t={now:.6g} without "
        f"settling{last}"
    )


def wall_reason(budget: float) -> str:
    """The abort reason of a run past its wall-clock budget."""
    return f"the run went past its wall-clock budget of {budget:g}s"


class GuardedClock:
    """Owns a ``MockClock(autojump_threshold=0)`` and the switch that aborts its run."""

    def __init__(self, budgets: Budgets) -> None:
        self.budgets = budgets
        self.clock = trio.testing.MockClock(autojump_threshold=0)
        self.abort_reason: str | None = None
        #: Called whenever trio jumps the clock to a deadline (every task was blocked).
        self.on_jump: Callable[[], None] = _nothing
        read = _virtual_time(self.clock)
        jump = self.clock.jump
        #: The clock's time, never raising (for the guard itself).
        self.read: Callable[[], float] = read
        #: Move the clock on without counting it as a wait (the guard's nudge).
        self.nudge: Callable[[float], None] = jump

        def current_time() -> float:
            if self.abort_reason is not None:
                raise HarnessAbort(self.abort_reason)
            now = read()
            if now > budgets.max_virtual_time:
                self.abort_reason = f"virtual time passed its budget of {budgets.max_virtual_time}s"
                raise HarnessAbort(self.abort_reason)
            return now

        def jumped(seconds: float) -> None:
            jump(seconds)
            self.on_jump()

        # MockClock cannot be subclassed; instance attributes shadow its methods instead.
        # Trio's autojump calls ``self.jump``, so the shadow sees every jump to a deadline.
        self.clock.current_time = current_time  # type: ignore[method-assign]
        self.clock.jump = jumped  # type: ignore[method-assign]
        #: The clock's time as the run reads it (``trio.current_time()`` calls exactly this):
        #: raises :class:`HarnessAbort` once the switch is thrown.
        self.now: Callable[[], float] = current_time

    def abort(self, reason: str) -> None:
        """Throw the switch: the run ends at the run loop's next pass."""
        if self.abort_reason is None:
            self.abort_reason = reason


def _virtual_time(clock: trio.testing.MockClock) -> Callable[[], float]:
    """A reader of ``clock``'s time that skips its real-clock arithmetic while it stands still.

    Trio reads the clock on every pass of its run loop and the harness at every event: a
    couple of hundred times per example. ``MockClock.current_time`` converts a real
    ``perf_counter`` reading at ``rate`` 0 (the guarded clock's), which always gives its
    virtual base exactly; reading the base is the same float, in one frame instead of three.
    A trio without those attributes gets its own method.
    """
    current_time = clock.current_time
    if not (hasattr(clock, "_rate") and hasattr(clock, "_virtual_base")):
        return current_time

    def read() -> float:
        if clock._rate == 0.0:
            return clock._virtual_base
        return current_time()

    return read


class TaskGuard(trio.abc.Instrument):
    """Counts task steps per instant and between settled states; tracks the live tasks."""

    #: Check the wall clock every this many steps (reading it costs more than a step's count).
    WALL_EVERY: Final = 1024

    def __init__(self, clock: GuardedClock) -> None:
        self.clock = clock
        budgets = clock.budgets
        self.max_instant = budgets.max_steps_between_idle
        self.max_unsettled = budgets.max_steps_unsettled
        self.nudge_every = nudge_every(budgets)
        self.wall_deadline = time.monotonic() + budgets.wall_budget
        #: Steps since the system last settled (or the run last made progress).
        self.steps_since_idle = 0
        #: The value of ``steps_since_idle`` when virtual time last moved on by itself.
        self.instant_start = 0
        self.unsettled_since = 0.0
        #: The live tasks, in spawn order (an aborted run's are closed, children first).
        self.alive: dict[int, trio.lowlevel.Task] = {}
        self.spawned = 0
        self.exited = 0
        clock.on_jump = self.time_moved

    def __dir__(self) -> list[str]:
        """The trio hooks this guard implements, and nothing else.

        Trio looks through ``dir()`` of every instrument of every run for its hooks, and each
        other public name costs it a failed lookup on ``trio.abc.Instrument`` (an exception):
        a dozen of them cost more than the rest of installing the guard.
        """
        return list(_overridden_hooks(type(self)))

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        """Throw the abort switch on a livelock, a run too busy to simulate, or the wall budget.

        Never raises: trio drops an instrument that does.
        """
        steps = self.steps_since_idle = self.steps_since_idle + 1
        at_instant = steps - self.instant_start
        if at_instant > self.max_instant:
            self.clock.abort(
                livelock_reason(at_instant, "task steps", self.clock.read(), _last(task))
            )
        elif at_instant % self.nudge_every == 0:
            self.clock.nudge(nudge_size(self.clock.read()))
        if steps % self.WALL_EVERY == 0:
            if steps > self.max_unsettled:
                now = self.clock.read()
                self.clock.abort(
                    too_busy_reason(steps, "task steps", self.unsettled_since, now, _last(task))
                )
            elif time.monotonic() > self.wall_deadline:
                self.clock.abort(wall_reason(self.clock.budgets.wall_budget))

    def time_moved(self) -> None:
        """Trio jumped the clock to a deadline: a wait, so a new instant begins."""
        self.instant_start = self.steps_since_idle

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        """Remember a new task."""
        self.spawned += 1
        self.alive[id(task)] = task

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        """Forget a finished task."""
        self.exited += 1
        self.alive.pop(id(task), None)

    def settled(self) -> None:
        """The harness saw the system idle (or the run made progress): restart the counts."""
        self.steps_since_idle = 0
        self.instant_start = 0
        self.unsettled_since = self.clock.read()

    def abandon(self) -> None:
        """Make the tasks still alive (an aborted run's orphans) inert, children first.

        Their coroutines are closed (:func:`close_orphans`), and their nurseries forget them:
        ``Nursery.__del__`` asserts that no child is left, which would print a traceback at
        whatever collection reaches it next.
        """
        tasks = list(self.alive.values())
        self.alive.clear()
        if not tasks:
            return
        close_orphans(task.coro for task in reversed(tasks))
        for task in tasks:
            for nursery in task.child_nurseries:
                children = getattr(nursery, "_children", None)  # trio keeps no public setter
                if isinstance(children, set):
                    children.clear()


@functools.cache
def _overridden_hooks(cls: type[trio.abc.Instrument]) -> tuple[str, ...]:
    """The hooks of ``trio.abc.Instrument`` that ``cls`` overrides."""
    base = trio.abc.Instrument
    return tuple(
        name
        for name in dir(base)
        if not name.startswith("_") and getattr(cls, name) is not getattr(base, name)
    )


def _last(task: trio.lowlevel.Task) -> str:
    return f" (last: {task.name})"


def _nothing() -> None:
    pass


def live_tasks() -> list[trio.lowlevel.Task]:
    """Walk trio's task tree from the root and return every task alive now."""
    found: list[trio.lowlevel.Task] = []
    stack = [trio.lowlevel.current_root_task()]
    while stack:
        task = stack.pop()
        if task is None:
            continue
        found.append(task)
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return found


def seed_scheduler(seed: int) -> None:
    """Make trio's choice among runnable tasks a function of ``seed``, for exact replay.

    Trio keeps its scheduling coin in a private module-level ``random.Random``; there is no
    public way to seed it, so this degrades to a no-op if trio's internals change.
    """
    run_module: Any = getattr(getattr(trio, "_core", None), "_run", None)
    rng = getattr(run_module, "_r", None)
    if rng is not None and hasattr(rng, "seed"):
        rng.seed(seed)


def close_orphans(
    coroutines: Iterable[Coroutine[Any, Any, Any] | Generator[Any, Any, Any]],
) -> None:
    """Close an aborted run's suspended coroutines now, outside any run, quietly.

    Left to the garbage collector, they would be closed whenever it runs: maybe inside a later
    run, where their ``finally`` blocks and ``__exit__`` methods act on that run's current task
    (trio: "cancel scope stack corrupted ... from unrelated task") and can break its verdicts.
    Closed here, with no run active, whatever they try fails on the spot and is ignored.
    Nothing is collected here (a full collection costs more than the whole aborted example):
    closed coroutines are inert garbage, for the caller's :func:`quiet_abandoned_run`.
    """
    with _silenced():
        for coroutine in coroutines:
            # A coroutine that awaits in its ``finally`` (a nursery's ``__aexit__`` waiting for
            # its children) is still suspended after ``close()``: close it again, a few times.
            for _ in range(CLOSE_ATTEMPTS):
                try:
                    coroutine.close()
                except KeyboardInterrupt:
                    raise
                except BaseException:
                    pass  # an orphan's last words (no run to act on): nobody to tell
                if _suspended(coroutine) is None:
                    break


#: How many times :func:`close_orphans` closes a coroutine that keeps awaiting.
CLOSE_ATTEMPTS: Final = 8


def _suspended(coroutine: object) -> object:
    """The frame a coroutine (or generator-based one) is suspended in, or None once closed."""
    return getattr(coroutine, "cr_frame", getattr(coroutine, "gi_frame", None))


@contextmanager
def _silenced() -> Iterator[None]:
    """Drop what the interpreter would print as "Exception ignored in ..." while inside."""
    previous = sys.unraisablehook
    sys.unraisablehook = lambda _unraisable: None
    try:
        yield
    finally:
        sys.unraisablehook = previous


@contextmanager
def quiet_abandoned_run() -> Iterator[None]:
    """Collect an aborted run's orphaned coroutines without spraying stderr with noise."""
    with _silenced():
        try:
            yield
        finally:
            # Closing an orphan runs its finally blocks, which can leave new cyclic garbage (a
            # task wrapper, a cancel scope): collect until a pass finds nothing, a few at most.
            for _ in range(5):
                if gc.collect() == 0:
                    break
