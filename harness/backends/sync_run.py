"""The sync backend: blocking retriers and rate limiters, on a virtual clock.

A sync retrier's ``call(fn)`` blocks, calls a blocking ``fn`` and waits between attempts with
``time.sleep``; a sync limiter's ``acquire()`` blocks (it sleeps until its tokens are there)
and ``try_acquire()`` does not. This backend runs them on trio's ``MockClock``, exactly as the
trio backend runs its implementations, with three differences:

* every call into the implementation runs inline, on the run's own thread, in the harness
  task that makes it: the whole run stops while it blocks, as a thread would, so blocking
  calls are sequential and an interleaving replays exactly;
* ``time.sleep`` on that thread passes virtual time at once and exactly: the clock jumps by
  the requested seconds (the clock bridge, :mod:`harness.backends.clock`, which also makes
  ``time.monotonic()``, ``time.perf_counter()`` and ``time.time()`` read the virtual clock);
* the harness's async callback (the retry driver's ``fn``) reaches the implementation as a
  plain blocking function. It is stepped inline: its coroutine is run with ``send(None)``, and
  a harness sleep inside it passes virtual time the same way, so it completes without ever
  yielding to the loop. (No thread is involved, so there is nothing to hand back to the loop
  through ``trio.from_thread``.)

:class:`SyncFacade` wraps each object a factory makes so that the drivers, written on anyio,
drive it unchanged: the blocking methods become coroutine functions that run the call inline.

A call that blocks past its deadline becomes NO-HANG, never a hung harness:

* a ``time.sleep`` (or the harness's own sleep in the callback) that would take the clock past
  the call's deadline moves it exactly to the deadline and raises :class:`BlockedPastDeadline`
  into the implementation; once it comes out, the facade waits on the loop until the deadline,
  where the host's deadline scope records the hang;
* a wait on the real clock (a lock nobody releases, ``Event.wait()``, a busy loop) is
  interrupted by ``SIGALRM`` after :data:`STUCK_SECONDS` real seconds without the virtual
  clock moving (:data:`STUCK_SECONDS_AGAIN` once that happened in the process); the call then
  counts as blocked past its deadline. Only the main thread can
  receive a signal: a run on another thread (never the CLI's) falls back on the watchdog that
  kills a search that makes no progress;
* ``time.sleep(0)`` in a loop (or sleeps too short to move a float clock) spins at one
  instant: as on the trio backend, the clock is nudged by a tick now and then, and past the
  livelock budget the run is aborted (NO-HANG);
* an implementation that swallows ``BaseException`` and keeps blocking cannot be stopped
  from inside the process: the search's watchdog kills it.

Not applicable here, with the reason in the report: the cancellation rules (a blocking call
cannot be cancelled, the backend runs each call to its end) and every pattern but retry and
rate (a queue, pool or group of blocking calls needs threads: the ``threads`` backend).
Timing rules are judged exactly.
"""

from __future__ import annotations

import contextlib
import inspect
import signal
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from types import FrameType
from typing import Any, ClassVar, Final

import trio

from harness.backends.clock import ClockBridge, bridged
from harness.backends.trio_run import TrioBackend, TrioRuntime
from harness.guards import (
    Budgets,
    HarnessAbort,
    TaskGuard,
    livelock_reason,
    nudge_every,
    nudge_size,
)
from harness.rules import Pattern

__all__ = [
    "STUCK_SECONDS",
    "BlockedPastDeadline",
    "SyncBackend",
    "SyncFacade",
    "SyncRuntime",
]

#: Real seconds a blocking call may go without the virtual clock moving before it is stopped.
STUCK_SECONDS: Final = 2.0
#: The same once a call of this process was stopped that way: the implementation is known to
#: block on the real clock, and every later example would otherwise cost the full wait (a
#: correct call returns in microseconds).
STUCK_SECONDS_AGAIN: Final = 0.2
#: The patterns this backend drives.
PATTERNS: Final = frozenset({Pattern.RETRY, Pattern.RATE})
#: The methods that run inline under the call deadline, per factory; other attributes are the
#: object's own (a retrier's ``bounds``, called from inside the blocking ``call``).
_BLOCKING: Final[dict[str, frozenset[str]]] = {
    "retrier": frozenset({"call"}),
    "token_bucket": frozenset({"acquire", "try_acquire"}),
    "leaky_bucket": frozenset({"acquire", "try_acquire"}),
    "shedding_gate": frozenset({"try_admit"}),
}


class _Stuck:
    """Whether a blocking call of this process was stopped on the real clock already."""

    seen = False

    @classmethod
    def seconds(cls) -> float:
        """How long a call may now go without the virtual clock moving."""
        return STUCK_SECONDS_AGAIN if cls.seen else STUCK_SECONDS


class BlockedPastDeadline(BaseException):
    """Raised into the implementation when a blocking call outlives its deadline.

    A ``BaseException``, so that ``except Exception`` in the implementation lets it through.
    """


class SyncRuntime(TrioRuntime):
    """A trio runtime whose calls into the implementation block the run, on virtual time."""

    interruptible = False

    def __init__(self, guard: TaskGuard, budgets: Budgets) -> None:
        super().__init__(guard)
        self.budgets = budgets
        self.clock = guard.clock
        #: The thread the run (and every blocking call) runs on.
        self.thread = threading.get_ident()
        #: The trio-clock deadline of the blocking call under way, or None between calls.
        self.deadline: float | None = None
        #: How deep the harness's own callback code is inside the blocking call (not stopped
        #: by the real-time alarm: only the implementation can be stuck).
        self.in_harness = 0
        #: Sleeps since the clock last moved on (a ``time.sleep(0)`` loop spins).
        self.spins = 0
        self.nudge_every = nudge_every(budgets)
        self._alarm_armed = False
        #: Whether the call under way was stopped (its deadline, or the alarm).
        self._stopped = False

    def open_bridge(self) -> contextlib.AbstractContextManager[ClockBridge]:
        """The clock bridge, with ``time.sleep`` passing virtual time on the run's thread."""
        return bridged(self.guard.clock.read, sleep=self.pass_time, thread=self.thread)

    def bridge_clock(self, on: bool) -> None:
        """Ignored: this backend cannot run without the bridge (its sleeps are the clock)."""

    # -- time -------------------------------------------------------------------------------
    async def sleep(self, seconds: float) -> None:
        """A harness sleep: inside a blocking call it passes time like ``time.sleep``."""
        if self.deadline is not None:
            self.pass_time(seconds)
            return
        await super().sleep(seconds)

    def pass_time(self, seconds: float) -> None:
        """``time.sleep(seconds)`` on the run's thread: the virtual clock jumps, at once.

        Up to the deadline of the blocking call under way (else a fresh call deadline): a
        sleep past it stops at it and raises :class:`BlockedPastDeadline`. Sleeps that do not
        move the clock count towards the livelock budget.
        """
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        clock = self.clock
        now = clock.read()
        deadline = self.deadline
        if deadline is None:
            deadline = now + self.budgets.call_deadline
        target = now + seconds
        if target >= deadline:
            if deadline > now:
                clock.clock.jump(deadline - now)
            self._stopped = True
            raise BlockedPastDeadline(
                f"time.sleep({seconds:g}) at t={now:.6g} would pass the call deadline "
                f"(t={deadline:.6g})"
            )
        if target > self.budgets.max_virtual_time:
            self._abort(f"virtual time passed its budget of {self.budgets.max_virtual_time}s")
        if target > now:
            clock.clock.jump(seconds)  # counted as a wait: a new instant begins
            self.spins = 0
            self._rearm()
            return
        self.spins += 1
        if self.spins > self.budgets.max_steps_between_idle:
            self._abort(
                livelock_reason(self.spins, "sleeps that did not move the clock", now)
                + " (time.sleep in a loop)"
            )
        if self.spins % self.nudge_every == 0:
            # As on the trio backend: a real clock would have moved on meanwhile.
            clock.nudge(nudge_size(now))

    def _abort(self, reason: str) -> None:
        self.clock.abort(reason)
        raise HarnessAbort(reason)

    # -- blocking calls -----------------------------------------------------------------------
    async def run_blocking(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``fn`` inline, blocking the run; past its deadline, wait for the deadline.

        The deadline is the caller's (the host's deadline scope), at most a call deadline
        away. A call that blocked past it returns nothing: the wait at the deadline is
        cancelled by the host's scope, which records the hang. Without such a scope the call
        raises :class:`BlockedPastDeadline` (the implementation's fault: a crash).
        """
        if self.deadline is not None:
            raise RuntimeError("poolcheck bug: a blocking call inside a blocking call")
        now = self.clock.read()
        deadline = min(trio.current_effective_deadline(), now + self.budgets.call_deadline)
        self.deadline = deadline
        self._stopped = False
        try:
            with self._alarm():
                result = fn(*args, **kwargs)
        except BlockedPastDeadline:
            pass
        except Exception:
            # Whatever it made of the stop (a retrier's own error around it): still blocked.
            if not self._stopped:
                raise
        else:
            if not self._stopped:
                return result
        finally:
            self.deadline = None
            self.spins = 0
        now = self.clock.read()
        if deadline > now:
            # Stopped on the real clock (the alarm): the call counts as blocked until then.
            self.clock.clock.jump(deadline - now)
        await trio.sleep_until(deadline)
        raise BlockedPastDeadline(f"the call blocked past its deadline (t={deadline:.6g})")

    def inline(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``fn`` inline outside any harness deadline scope (a factory): a bounded block.

        Blocking past a call deadline raises :class:`BlockedPastDeadline` out of the call.
        """
        if self.deadline is not None:
            return fn(*args, **kwargs)
        self.deadline = self.clock.read() + self.budgets.call_deadline
        try:
            with self._alarm():
                return fn(*args, **kwargs)
        finally:
            self.deadline = None
            self.spins = 0

    def blocking_callback(self, fn: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
        """The harness's async callback as the blocking function the implementation calls.

        The coroutine is stepped inline: inside a blocking call a harness sleep passes virtual
        time without yielding, so it runs to its end in one ``send``.
        """

        def call(*args: Any, **kwargs: Any) -> Any:
            self.in_harness += 1
            try:
                coroutine = fn(*args, **kwargs)
                try:
                    coroutine.send(None)
                except StopIteration as done:
                    return done.value
                coroutine.close()
                raise RuntimeError(
                    "poolcheck bug: a harness callback waited on the loop inside a blocking call"
                )
            finally:
                self.in_harness -= 1

        return call

    # -- the real-time alarm --------------------------------------------------------------------
    @contextlib.contextmanager
    def _alarm(self) -> Iterator[None]:
        """While inside, ``SIGALRM`` stops the call after a while without progress.

        The previous handler and timer (pytest-timeout's, say) are put back afterwards, the
        timer with what remained of it.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGALRM, self._on_alarm)
        stuck = _Stuck.seconds()
        left, interval = signal.setitimer(signal.ITIMER_REAL, stuck, stuck)
        started = time.monotonic()
        self._alarm_armed = True
        try:
            yield
        finally:
            self._alarm_armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
            if left > 0:
                elapsed = time.monotonic() - started
                signal.setitimer(signal.ITIMER_REAL, max(left - elapsed, 1e-6), interval)

    def _rearm(self) -> None:
        # The virtual clock moved: the call is making progress, the alarm starts again.
        if self._alarm_armed:
            stuck = _Stuck.seconds()
            signal.setitimer(signal.ITIMER_REAL, stuck, stuck)

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if not self._alarm_armed or self.deadline is None or self.in_harness:
            return  # over already, or the harness's own code runs: the next alarm decides
        stuck = _Stuck.seconds()
        _Stuck.seen = True
        self._stopped = True
        raise BlockedPastDeadline(
            f"blocked for {stuck:g} real seconds without the virtual clock moving "
            "(a lock nobody releases, a busy loop, a wait on the real clock)"
        )

    # -- census -------------------------------------------------------------------------------
    def census(self) -> dict[int, str]:
        """Trio's tasks, and the threads alive (a sync implementation may start its own)."""
        found = super().census()
        for thread in threading.enumerate():
            if thread.ident != self.thread:
                found[id(thread)] = f"thread {thread.name}"
        return found

    # -- objects --------------------------------------------------------------------------------
    def adapt(self, factory_name: str, make: Callable[..., Any]) -> Callable[..., Any]:
        """A factory that builds inline and returns the async facade over the object."""
        blocking = _BLOCKING.get(factory_name, frozenset())

        def build(**kwargs: Any) -> SyncFacade:
            converted = {
                key: self.blocking_callback(value) if inspect.iscoroutinefunction(value) else value
                for key, value in kwargs.items()
            }
            return SyncFacade(self.inline(make, **converted), blocking, self)

        return build


class SyncFacade:
    """The async contract over one blocking object of a sync implementation."""

    def __init__(self, obj: Any, blocking: frozenset[str], runtime: SyncRuntime) -> None:
        self._obj = obj
        self._blocking = blocking
        self._runtime = runtime

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._obj, name)
        if name not in self._blocking or not callable(value):
            return value
        runtime = self._runtime

        async def call(*args: Any, **kwargs: Any) -> Any:
            converted = [
                runtime.blocking_callback(arg) if inspect.iscoroutinefunction(arg) else arg
                for arg in args
            ]
            return await runtime.run_blocking(value, *converted, **kwargs)

        call.__name__ = call.__qualname__ = name
        return call

    def __repr__(self) -> str:
        return f"<sync {self._obj!r:.60}>"


class SyncBackend(TrioBackend):
    """Runs blocking retriers and rate limiters inline on trio's virtual clock."""

    name = "sync"
    waived: ClassVar[Mapping[str, str]] = {
        "RETRY-CANCEL": "a blocking call cannot be cancelled: the sync backend runs each call "
        "to its end",
        "RATE-CANCEL-NO-LOSS": "a blocking acquire cannot be cancelled: the sync backend runs "
        "each call to its end",
        "CANCEL-PROPAGATES": "a blocking call cannot be cancelled: the sync backend runs each "
        "call to its end",
    }
    unsupported: ClassVar[Mapping[Pattern, str]] = {
        pattern: "the sync backend drives only retriers and rate limiters (blocking calls run "
        "one at a time; a pool of blocking calls needs the threads backend)"
        for pattern in Pattern
        if pattern not in PATTERNS
    }
    note = (
        "sync backend: blocking calls run one at a time on virtual time; time.sleep passes "
        "virtual time at once; cancellation rules are not applicable"
    )

    def make_runtime(self, guard: TaskGuard, budgets: Budgets) -> SyncRuntime:
        """A runtime whose calls block the run."""
        return SyncRuntime(guard, budgets)
