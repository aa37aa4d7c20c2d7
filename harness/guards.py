"""Guards that keep the harness alive whatever the code under test does.

* A virtual clock with a kill switch. Trio cannot kill a task, so a task that swallows
  cancellation and spins, or sleeps in a loop forever, would keep ``trio.run`` from returning.
  Our clock is trio's ``MockClock`` (autojump at 0) whose ``current_time`` raises
  :class:`HarnessAbort` once the switch is thrown; trio's run loop calls it on every pass, so
  the run ends with ``TrioInternalError`` and the harness reports the verdict instead of hanging.
* An instrument that throws the switch when the code under test livelocks (too many task steps
  without the system settling) or when virtual time runs past its budget, and that counts the
  tasks spawned and exited for the leak rules.

These are the trio backend's guards (:mod:`harness.backends.trio_run`); the budgets and
:class:`HarnessAbort` are shared with the asyncio and threads backends, whose guard lives in
their event loop (:mod:`harness.backends.asyncio_run`).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

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
    #: Task steps allowed between two settled states before it counts as a livelock.
    max_steps_between_idle: int = 200_000
    #: Wall-clock seconds a whole run may take, where the backend can check it (asyncio and
    #: threads check between loop iterations).
    wall_budget: float = 60.0


class GuardedClock:
    """Owns a ``MockClock(autojump_threshold=0)`` and the switch that aborts its run."""

    def __init__(self, budgets: Budgets) -> None:
        self.budgets = budgets
        self.clock = trio.testing.MockClock(autojump_threshold=0)
        self.abort_reason: str | None = None
        read = self.clock.current_time

        def current_time() -> float:
            if self.abort_reason is not None:
                raise HarnessAbort(self.abort_reason)
            now = read()
            if now > budgets.max_virtual_time:
                self.abort_reason = f"virtual time passed its budget of {budgets.max_virtual_time}s"
                raise HarnessAbort(self.abort_reason)
            return now

        # MockClock cannot be subclassed; an instance attribute shadows the method instead.
        self.clock.current_time = current_time  # type: ignore[method-assign]

    def abort(self, reason: str) -> None:
        """Throw the switch: the run ends at the run loop's next pass."""
        if self.abort_reason is None:
            self.abort_reason = reason


class TaskGuard(trio.abc.Instrument):
    """Counts task steps between settled states and tracks which tasks are alive."""

    def __init__(self, clock: GuardedClock) -> None:
        self.clock = clock
        self.steps_since_idle = 0
        self.alive: dict[int, str] = {}
        self.spawned = 0
        self.exited = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        """Throw the abort switch when tasks keep running without the system settling."""
        self.steps_since_idle += 1
        if self.steps_since_idle > self.clock.budgets.max_steps_between_idle:
            self.clock.abort(
                f"livelock: {self.steps_since_idle} task steps without settling (last: {task.name})"
            )

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        """Remember a new task."""
        self.spawned += 1
        self.alive[id(task)] = task.name

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        """Forget a finished task."""
        self.exited += 1
        self.alive.pop(id(task), None)

    def settled(self) -> None:
        """The harness saw the system idle: restart the livelock count."""
        self.steps_since_idle = 0


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


@contextmanager
def quiet_abandoned_run() -> Iterator[None]:
    """Collect an aborted run's orphaned coroutines without spraying stderr with noise."""
    previous = sys.unraisablehook
    sys.unraisablehook = lambda _unraisable: None
    try:
        yield
    finally:
        # Closing an orphan runs its finally blocks, which can leave new cyclic garbage (a
        # task wrapper, a cancel scope): collect until a pass finds nothing, a few at most.
        for _ in range(5):
            if gc.collect() == 0:
                break
        sys.unraisablehook = previous
