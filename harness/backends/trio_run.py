"""The trio backend: one ``trio.run`` per example on a guarded ``MockClock`` (autojump at 0).

Time is virtual and jumps whenever every task is blocked; trio's scheduler is seeded from the
example's data, so an interleaving replays exactly. A task that swallows cancellation or spins
is stopped by the guarded clock's kill switch (see :mod:`harness.guards`): the run ends and the
harness records a NO-HANG verdict. The aborted run's tasks are closed at once, outside any run,
so none of them can act on a later run when the garbage collector gets to it. Leaks are found
by walking trio's task tree, system tasks included. While the run goes on, the ``time``
module's clocks read the virtual clock (:mod:`harness.backends.clock`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping

import trio
import trio.testing

from harness.backends.base import Backend, Runtime
from harness.backends.clock import ClockBridge, bridged
from harness.guards import (
    Budgets,
    GuardedClock,
    TaskGuard,
    live_tasks,
    seed_scheduler,
)


class TrioRuntime(Runtime):
    """Clock, settling and task census of one trio run."""

    def __init__(self, guard: TaskGuard) -> None:
        self.guard = guard
        self._now = guard.clock.now

    def open_bridge(self) -> contextlib.AbstractContextManager[ClockBridge]:
        """The clock bridge of this run: ``time`` reads the guarded clock's virtual time."""
        return bridged(self.guard.clock.read)

    def now(self) -> float:
        """Trio's (virtual) time: what ``trio.current_time()`` returns, read without its layers.

        Every recorded event reads it (a hundred times an example).
        """
        return self._now()

    async def wait_all_tasks_blocked(self) -> None:
        """Trio's own test: every other task is blocked and no timer is due."""
        await trio.testing.wait_all_tasks_blocked()

    def note_activity(self) -> None:
        """Nothing to do: settling on virtual time is exact."""

    def settled(self) -> None:
        """Restart the guard's livelock count."""
        self.guard.settled()

    def census(self) -> dict[int, str]:
        """Every task alive in the run, found by walking the task tree from the root."""
        return {id(task): task.name for task in live_tasks()}

    async def leftovers(self, baseline: Mapping[int, str]) -> list[str]:
        """Tasks alive now that were not at the start, except the caller."""
        me = id(trio.lowlevel.current_task())
        return [name for key, name in self.census().items() if key not in baseline and key != me]


class TrioBackend(Backend):
    """Runs trio implementations on trio's virtual clock."""

    name = "trio"

    def make_runtime(self, guard: TaskGuard, budgets: Budgets) -> TrioRuntime:
        """The runtime of one run (the sync backend's adds blocking calls)."""
        return TrioRuntime(guard)

    def run(
        self, main: Callable[[Runtime], Awaitable[None]], budgets: Budgets, seed: int
    ) -> str | None:
        """``trio.run`` with the guarded clock, task guard and clock bridge; why it aborted."""
        seed_scheduler(seed)
        clock = GuardedClock(budgets)
        guard = TaskGuard(clock)
        runtime = self.make_runtime(guard, budgets)
        try:
            with runtime.open_bridge() as bridge:
                runtime.bridge = bridge
                trio.run(
                    main,
                    runtime,
                    clock=clock.clock,
                    instruments=[guard],
                    strict_exception_groups=True,
                )
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:
            # Once the switch is thrown, the clock raises wherever it is read next: usually in
            # the run loop (TrioInternalError), sometimes inside a task (the abort then leaves
            # the run as an exception group). Either way the run was aborted.
            if clock.abort_reason is None:
                raise
        finally:
            # A run that ended normally has no task left; one that did not leaves orphans.
            guard.abandon()
        return clock.abort_reason
