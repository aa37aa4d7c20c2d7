"""The asyncio backend: one event loop per example, on looptime's virtual loop time.

Time is virtual: looptime's loop jumps its clock to the next timer whenever nothing is ready
to run (after a few no-op cycles that let just-woken coroutines schedule their own timers).
A settled instant is exact, as on trio: the loop's ready queue is empty, no timer is due, and
every other task waits on a pending future.

The hang guard lives in the loop itself: a subclass counts loop iterations between settled
instants and checks the virtual and wall-clock budgets on every iteration; past a budget it
raises :class:`~harness.guards.HarnessAbort` out of ``run_until_complete``, the loop is closed
without running its tasks again, and the harness records a NO-HANG verdict. So a task that
swallows ``CancelledError`` and keeps awaiting, or spins on ``await asyncio.sleep(0)``, or
sleeps in a loop forever, cannot hang the harness.

Limits, stated honestly: asyncio cannot preempt a coroutine, so a task that never yields
(``while True: pass``, a blocking ``time.sleep``) freezes the loop and no guard in the loop can
run; the wall-clock budget below is checked only between iterations. Such code hangs the
harness process; CI's job timeout is the backstop. Scheduling is asyncio's FIFO order, which
is deterministic, so an example replays without a seed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import looptime

from harness.backends.base import Backend, Runtime
from harness.guards import Budgets, HarnessAbort

_VirtualLoop: Any = looptime.make_event_loop_class(asyncio.SelectorEventLoop)


class GuardedLoop(_VirtualLoop):  # type: ignore[misc]
    """A virtual-time loop that aborts its run when it livelocks or runs past a budget."""

    def __init__(self, budgets: Budgets, *, virtual: bool = True) -> None:
        # Finer than the checkers' EPSILON (1e-9), so rounding the clock never decides a rule.
        super().__init__(resolution=1e-12)
        if not virtual:
            # The real clock: looptime steps aside and the loop sleeps for real.
            self.setup_looptime(_enabled=False)
        self.budgets = budgets
        self.origin = self.time()
        self.scale = 1.0
        self.steps_since_idle = 0
        self.abort_reason: str | None = None
        self.wall_deadline = time.monotonic() + budgets.wall_budget

    def abort(self, reason: str) -> None:
        """Throw the switch: the run ends before the loop's next iteration."""
        if self.abort_reason is None:
            self.abort_reason = reason

    def _run_once(self) -> None:
        self.steps_since_idle += 1
        if self.steps_since_idle > self.budgets.max_steps_between_idle:
            self.abort(f"livelock: {self.steps_since_idle} loop iterations without settling")
        elif (self.time() - self.origin) / self.scale > self.budgets.max_virtual_time:
            self.abort(f"time passed its budget of {self.budgets.max_virtual_time}s")
        elif time.monotonic() > self.wall_deadline:
            self.abort(f"the run went past its wall-clock budget of {self.budgets.wall_budget:g}s")
        if self.abort_reason is not None:
            raise HarnessAbort(self.abort_reason)
        super()._run_once()


def all_blocked(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether nothing can run at this instant.

    No ready callback, no due timer, and every task but the caller waits on a pending future.
    """
    if getattr(loop, "_ready", None):
        return False
    now = loop.time()
    scheduled: list[asyncio.TimerHandle] = getattr(loop, "_scheduled", [])
    if any(not handle.cancelled() and handle.when() <= now for handle in scheduled):
        return False
    me = asyncio.current_task()
    for task in asyncio.all_tasks(loop):
        if task is me:
            continue
        waiter = getattr(task, "_fut_waiter", None)
        if waiter is None or waiter.done():
            return False
    return True


class AsyncioRuntime(Runtime):
    """Clock, settling and task census of one asyncio loop."""

    def __init__(self, loop: GuardedLoop) -> None:
        self.loop = loop

    def now(self) -> float:
        """The loop's time in model seconds since the example began."""
        return float(self.loop.time() - self.loop.origin) / self.time_scale

    async def wait_all_tasks_blocked(self) -> None:
        """Yield to the loop until nothing but timers in the future is left to run.

        anyio's own version polls with ``sleep(0.1)``, which on virtual time would let time
        pass; yielding with ``sleep(0)`` keeps the loop's ready queue non-empty, so looptime
        never moves the clock while we wait. A livelock is caught by the loop's guard.
        """
        await asyncio.sleep(0)
        while not all_blocked(self.loop):
            await asyncio.sleep(0)

    def note_activity(self) -> None:
        """Nothing to do: settling on virtual time is exact."""

    def settled(self) -> None:
        """Restart the loop's livelock count."""
        self.loop.steps_since_idle = 0

    def census(self) -> dict[int, str]:
        """Every unfinished task of the loop."""
        return {id(task): task.get_name() for task in asyncio.all_tasks(self.loop)}

    async def leftovers(self, baseline: Mapping[int, str]) -> list[str]:
        """Tasks alive once the loop has settled that were not at the start, except the caller.

        Settling first lets tasks that were cancelled and are unwinding finish, as trio's
        nursery would have waited for them.
        """
        await self.wait_all_tasks_blocked()
        me = id(asyncio.current_task())
        return [name for key, name in self.census().items() if key not in baseline and key != me]


def run_guarded(loop: GuardedLoop, main: Awaitable[None]) -> str | None:
    """Run ``main`` on ``loop`` and close the loop; the abort reason, if the guard fired.

    After an abort the loop's tasks are abandoned (running them again could hang), so the
    loop's exception handler is silenced before they are garbage-collected. An abort while
    cleaning up after ``main`` finished is not a verdict: the leak is already recorded.
    """
    reason: str | None = None
    try:
        loop.run_until_complete(main)
        _cancel_leftovers(loop)
    except HarnessAbort:
        reason = None if main_done(main) else loop.abort_reason
    finally:
        if loop.abort_reason is not None:
            loop.set_exception_handler(lambda _loop, _context: None)
        else:
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return reason


def main_done(main: Awaitable[None]) -> bool:
    """Whether the example's main coroutine ran to its end."""
    return getattr(main, "cr_frame", True) is None


def _cancel_leftovers(loop: GuardedLoop) -> None:
    # Tasks that outlived the example were recorded as leaks; cancel them and give them a
    # bounded (guarded) chance to unwind so the loop closes cleanly.
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if not pending:
        return
    for task in pending:
        task.cancel()
    loop.steps_since_idle = 0
    loop.run_until_complete(asyncio.wait(pending, timeout=1.0))


class AsyncioBackend(Backend):
    """Runs asyncio implementations on looptime's virtual loop time."""

    name = "asyncio"

    def run(
        self, main: Callable[[Runtime], Awaitable[None]], budgets: Budgets, seed: int
    ) -> str | None:
        """A fresh guarded virtual-time loop per example (``seed`` is unused: FIFO order)."""
        loop = GuardedLoop(budgets)
        return run_guarded(loop, main(AsyncioRuntime(loop)))
