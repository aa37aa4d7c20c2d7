"""The asyncio backend: one event loop per example, on looptime's virtual loop time.

Time is virtual: looptime's loop jumps its clock to the next timer whenever nothing is ready
to run (after a few no-op cycles that let just-woken coroutines schedule their own timers).
A settled instant is exact, as on trio: the loop's ready queue is empty, no timer is due, and
every other task waits on a pending future.

The hang guard lives in the loop itself: a subclass counts loop iterations per virtual
instant and between settled instants, and checks the virtual and wall-clock budgets on every
iteration (the rules are trio's, see :mod:`harness.guards`: a wait on a timer moves time on
and is no livelock; an instant that spins is one, even after the guard nudged the clock on
by a tick now and then as a real clock would have moved). Past a budget it raises
:class:`~harness.guards.HarnessAbort` out of ``run_until_complete``, the loop is closed
without running its tasks again, their coroutines are closed at once (outside any loop, so
none acts on a later run), and the harness records a NO-HANG verdict. So a task that
swallows ``CancelledError`` and keeps awaiting, or spins on ``await asyncio.sleep(0)``, or
sleeps in a loop forever, cannot hang the harness.

Timers fire once the clock, read to its tick (1e-12 s), has reached them. asyncio fires a
timer up to its clock resolution (1e-9 s) early: harmless on a real clock, which moves on
while code runs, but a virtual clock stands still, so a token bucket woken 1e-10 s early would
find its tokens a hair short, sleep 1e-10 s, be woken at once again, and so on for good. So
the virtual loop's resolution is half a tick. A sleep shorter than that (a float remainder of
1e-16 s) still ends at once, as on any clock, and the guard's nudge moves time on.

Limits, stated honestly: asyncio cannot preempt a coroutine, so a task that never yields
(``while True: pass``, a blocking ``time.sleep``) freezes the loop and no guard in the loop can
run; the wall-clock budget below is checked only between iterations. Such code hangs the
harness process; CI's job timeout is the backstop. Scheduling is asyncio's FIFO order, which
is deterministic, so an example replays without a seed.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import looptime

from harness.backends.base import Backend, Runtime
from harness.backends.clock import bridged
from harness.guards import (
    TICK,
    Budgets,
    HarnessAbort,
    close_orphans,
    livelock_reason,
    nudge_every,
    nudge_size,
    too_busy_reason,
    wall_reason,
)

_VirtualLoop: Any = looptime.make_event_loop_class(asyncio.SelectorEventLoop)
#: looptime's clock: an integer count of ticks, with no public way to move it on.
_LOOPTIME_NOW = "_LoopTimeEventLoop__now"


class GuardedLoop(_VirtualLoop):  # type: ignore[misc]
    """A virtual-time loop that aborts its run when it livelocks or runs past a budget."""

    def __init__(self, budgets: Budgets, *, virtual: bool = True) -> None:
        # Finer than the checkers' EPSILON (1e-9), so rounding the clock never decides a rule.
        super().__init__(resolution=TICK)
        self.virtual = virtual
        if virtual:
            # A timer is due once the clock, read to its tick, has reached it (see above).
            self._clock_resolution = TICK / 2
        else:
            # The real clock: looptime steps aside and the loop sleeps for real.
            self.setup_looptime(_enabled=False)
        self.budgets = budgets
        self.origin = self.time()
        self.scale = 1.0
        #: Iterations since the system last settled; the runtime zeroes it when it settles.
        self.steps_since_idle = 0
        #: The instant the loop is at, and ``steps_since_idle`` when it began (virtual only).
        self.instant = self.origin
        self.instant_start = 0
        self.unsettled_since = self.origin
        self.nudge_every = nudge_every(budgets)
        self.abort_reason: str | None = None
        self.wall_deadline = time.monotonic() + budgets.wall_budget

    def abort(self, reason: str) -> None:
        """Throw the switch: the run ends before the loop's next iteration."""
        if self.abort_reason is None:
            self.abort_reason = reason

    def _run_once(self) -> None:
        now = self.time()
        if self.steps_since_idle == 0:  # settled since the last iteration
            self.instant, self.instant_start, self.unsettled_since = now, 0, now
        steps = self.steps_since_idle = self.steps_since_idle + 1
        if self.virtual and now != self.instant:
            # looptime moved the clock on to a timer: that was a wait, a new instant begins.
            self.instant, self.instant_start = now, steps - 1
        at_instant = steps - self.instant_start
        budgets = self.budgets
        if at_instant > budgets.max_steps_between_idle:
            self.abort(
                livelock_reason(at_instant, "loop iterations", self._model_time(now))
                if self.virtual
                else f"livelock: {steps} loop iterations without settling"
            )
        elif steps > budgets.max_steps_unsettled:
            since = self._model_time(self.unsettled_since)
            self.abort(too_busy_reason(steps, "loop iterations", since, self._model_time(now)))
        elif self._model_time(now) > budgets.max_virtual_time:
            self.abort(f"time passed its budget of {budgets.max_virtual_time}s")
        elif time.monotonic() > self.wall_deadline:
            self.abort(wall_reason(budgets.wall_budget))
        elif self.virtual and at_instant % self.nudge_every == 0:
            self._nudge()
        if self.abort_reason is not None:
            raise HarnessAbort(self.abort_reason)
        super()._run_once()

    def _model_time(self, loop_time: float) -> float:
        return float(loop_time - self.origin) / float(self.scale)

    def _nudge(self) -> None:
        # The instant has spun for a while: move the clock on by a tick, as a real clock would
        # have moved meanwhile (see harness.guards). Not a wait: the instant's count goes on.
        ticks = math.ceil(nudge_size(self.time()) / TICK)
        now = getattr(self, _LOOPTIME_NOW, None)
        if isinstance(now, int):
            setattr(self, _LOOPTIME_NOW, now + ticks)
        self.instant = self.time()


def all_blocked(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether nothing can run at this instant.

    No ready callback, no due timer, and every task but the caller waits on a pending future.
    """
    if getattr(loop, "_ready", None):
        return False
    now = loop.time()
    # Due as the loop itself decides: within its clock resolution of now.
    soon = now + float(getattr(loop, "_clock_resolution", 0.0))
    scheduled: list[asyncio.TimerHandle] = getattr(loop, "_scheduled", [])
    if any(
        not handle.cancelled() and (handle.when() <= now or handle.when() < soon)
        for handle in scheduled
    ):
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

    @contextlib.contextmanager
    def background_faults(self, report: Callable[[str, str], None]) -> Iterator[None]:
        """Report the exceptions of the loop's tasks that nobody retrieved, and its handler's.

        Every task created on the loop meanwhile is kept; on the way out, each one that ended
        with an exception nobody retrieved is reported (and retrieved, so asyncio does not log
        it later, at some garbage collection in the middle of another example). Keeping them
        alive until then makes the report independent of when the collector runs, so an
        example replays the same. The harness retrieves every task's outcome it starts, so
        these tasks are the implementation's. What the loop's exception handler is given
        meanwhile with an exception (a callback that raised) is reported too; messages
        without one go to the previous handler.
        """
        loop = self.loop
        previous_handler = loop.get_exception_handler()
        previous_factory = loop.get_task_factory()
        created: list[asyncio.Task[Any]] = []

        def handler(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            error = context.get("exception")
            if error is None or isinstance(error, asyncio.CancelledError):
                if previous_handler is not None:
                    previous_handler(loop, context)
                else:
                    loop.default_exception_handler(context)
                return
            source = context.get("task") or context.get("future") or context.get("handle")
            report(self._describe(source), f"{error!r:.200}, and nobody retrieved it")

        def factory(
            _loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any
        ) -> asyncio.Future[Any]:
            task: asyncio.Future[Any]
            if previous_factory is not None:
                task = previous_factory(loop, coro, **kwargs)
            else:
                task = asyncio.Task(coro, loop=loop, **kwargs)
            if isinstance(task, asyncio.Task):
                created.append(task)
            return task

        loop.set_exception_handler(handler)
        loop.set_task_factory(factory)
        try:
            yield
        finally:
            for task in created:
                # asyncio's own flag for "ended with an exception nobody asked for".
                if task.done() and not task.cancelled() and getattr(task, "_log_traceback", False):
                    error = task.exception()
                    report(self._describe(task), f"{error!r:.200}, and nobody retrieved it")
            created.clear()
            # The guard may have replaced these meanwhile (an aborted run): leave those.
            if loop.get_task_factory() is factory:
                loop.set_task_factory(previous_factory)
            if loop.get_exception_handler() is handler:
                loop.set_exception_handler(previous_handler)

    @staticmethod
    def _describe(source: object) -> str:
        """``task 'name' (coroutine)`` for a task, else the object's short repr."""
        if isinstance(source, asyncio.Task):
            coro = source.get_coro()
            code = getattr(coro, "__qualname__", None) or type(coro).__name__
            return f"task {source.get_name()!r} ({code})"
        if source is None:
            return "a callback of the loop"
        return f"{source!r:.80}"

    def cancel_requests(self) -> int:
        """The current task's ``cancelling()`` count."""
        task = asyncio.current_task()
        return task.cancelling() if task is not None else 0

    async def forget_cancel_requests(self, keep: int) -> None:
        """``uncancel()`` down to ``keep``, then take a delivery still pending (3.11, 3.12)."""
        task = asyncio.current_task()
        if task is None:
            return
        while task.cancelling() > keep:
            task.uncancel()
        # A task that cancels itself while running only marks it: the CancelledError comes at
        # its next await, which uncancel() does not undo before Python 3.13.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0)


def run_guarded(loop: GuardedLoop, main: Awaitable[None]) -> str | None:
    """Run ``main`` on ``loop`` and close the loop; the abort reason, if the guard fired.

    After an abort the loop's tasks are abandoned (running them again could hang), so the
    loop's exception handler is silenced before they are garbage-collected, and their
    coroutines are closed once the loop is. An abort while cleaning up after ``main`` finished
    is not a verdict: the leak is already recorded.
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
        # Left to the garbage collector, an abandoned task's coroutine would run its finally
        # blocks whenever it runs, maybe inside a later example's loop.
        orphans = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in orphans:
            # Its leak is recorded already; without this asyncio prints "Task was destroyed
            # but it is pending!" on stderr whenever the collector meets it.
            task._log_destroy_pending = False  # type: ignore[attr-defined]
        close_orphans(coroutine for task in orphans if (coroutine := task.get_coro()) is not None)
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
        """A fresh guarded virtual-time loop per example (``seed`` is unused: FIFO order).

        The ``time`` module's clocks read the loop's virtual time meanwhile (the clock bridge).
        """
        loop = GuardedLoop(budgets)
        runtime = AsyncioRuntime(loop)
        origin = loop.origin
        with bridged(lambda: float(loop.time() - origin)) as bridge:
            runtime.bridge = bridge
            return run_guarded(loop, main(runtime))
