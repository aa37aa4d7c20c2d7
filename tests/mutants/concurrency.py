"""Broken concurrency limiters: over-admission, leaked slots, unfair order, idle waits."""

from __future__ import annotations

from collections import deque
from types import TracebackType
from typing import Any

import trio

from reference.concurrency import ConcurrencyLimiter, _Waiter
from tests.mutants._base import mutant, reference_with


def _without(declaration: dict[str, Any], *capabilities: str) -> dict[str, Any]:
    """``declaration`` without ``capabilities``, so no other rule's search can catch it first."""
    return {**declaration, "capabilities": frozenset(declaration["capabilities"]) - {*capabilities}}


class _CountingLimiter:
    """A semaphore-style limiter: a count of slots held and a FIFO line, no task identity.

    Correct as it stands (slots handed to the first waiter at the release); each mutant below
    breaks one hook.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.line: deque[trio.Event] = deque()

    def _hand_over(self) -> None:
        while self.line and self.held < self.limit:
            self.held += 1
            self.line.popleft().set()

    def _check_release(self) -> None:
        """Refuse a release that cannot be a holder's."""
        if self.held == 0:
            raise RuntimeError("release() with no slot held")

    async def acquire(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        if self.held < self.limit and not self.line:
            self.held += 1
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        granted = trio.Event()
        self.line.append(granted)
        try:
            await granted.wait()
        except BaseException:
            if granted.is_set():
                self.held -= 1
                self._hand_over()
            else:
                self.line.remove(granted)
            raise

    def release(self) -> None:
        self._check_release()
        self.held -= 1
        self._hand_over()


# -- CONC-BOUND -----------------------------------------------------------------------------------
class OffByOneLimiter(ConcurrencyLimiter):
    """``<=`` for ``<`` on the fast path: a newcomer takes a slot beyond the limit."""

    async def acquire(self) -> None:
        task = trio.lowlevel.current_task()
        if len(self._holders) <= self.limit and not self._line:
            self._holders.add(task)
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        await super().acquire()


class UncountedHandOverLimiter(_CountingLimiter):
    """Hands a freed slot to the first waiter but forgets to count it as held again."""

    def _hand_over(self) -> None:
        if self.line and self.held < self.limit:
            self.line.popleft().set()


# -- CONC-CANCEL-NO-LEAK --------------------------------------------------------------------------
class DeadWaiterLimiter(ConcurrencyLimiter):
    """A cancelled waiter stays in the line: the next release hands its slot to a dead task."""

    async def acquire(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        task = trio.lowlevel.current_task()
        if len(self._holders) < self.limit and not self._line:
            self._holders.add(task)
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        waiter = _Waiter(task)
        self._line.append(waiter)
        await waiter.granted.wait()  # cancelled: leaves without leaving the line


class ReleaseOnCleanExit:
    """``async with`` only; ``__aexit__`` releases only when the block ended without an error,
    so a holder cancelled inside its block keeps its slot for good."""

    def __init__(self, limit: int) -> None:
        self._inner = ConcurrencyLimiter(limit)

    async def __aenter__(self) -> None:
        await self._inner.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self._inner.release()


# -- CONC-FIFO ------------------------------------------------------------------------------------
class LifoLimiter(ConcurrencyLimiter):
    """Hands a freed slot to the newest waiter (a stack): the earliest can starve."""

    def _hand_over(self) -> None:
        while self._line and len(self._holders) < self.limit:
            waiter = self._line.pop()
            self._holders.add(waiter.task)
            waiter.granted.set()


class WakeAllLimiter:
    """A condition-variable limiter: a release wakes every waiter and the first to run wins."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.holders: set[trio.lowlevel.Task] = set()
        self.waiting = 0
        self.changed = trio.Event()

    async def acquire(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        task = trio.lowlevel.current_task()
        self.waiting += 1
        try:
            while len(self.holders) >= self.limit:
                await self.changed.wait()
        finally:
            self.waiting -= 1
        self.holders.add(task)

    def release(self) -> None:
        task = trio.lowlevel.current_task()
        if task not in self.holders:
            raise RuntimeError("release() by a task that holds no slot")
        self.holders.remove(task)
        self.changed.set()
        self.changed = trio.Event()


# -- CONC-RELEASE-BY-HOLDER -----------------------------------------------------------------------
class TrustingLimiter(_CountingLimiter):
    """``release()`` checks nothing: any task's release adds a slot (a plain semaphore)."""

    def _check_release(self) -> None:
        pass


class AnyoneHoldsLimiter(_CountingLimiter):
    """Refuses a release only when nobody holds a slot, not when the caller holds none: a stray
    release while someone holds frees that holder's slot for a third task."""


# -- CONC-NO-IDLE-WAIT ----------------------------------------------------------------------------
class NoHandOverLimiter(ConcurrencyLimiter):
    """``release()`` frees the slot but wakes nobody: waiters are let in only when someone
    else arrives."""

    def release(self) -> None:
        task = trio.lowlevel.current_task()
        if task not in self._holders:
            raise RuntimeError("release() by a task that holds no slot")
        self._holders.remove(task)

    async def acquire(self) -> None:
        self._hand_over()
        await super().acquire()


class PollingLimiter:
    """Waiters poll for a free slot every 250 ms instead of being woken by the release."""

    TICK = 0.25

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.holders: set[trio.lowlevel.Task] = set()
        self.line: deque[trio.lowlevel.Task] = deque()

    async def acquire(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        task = trio.lowlevel.current_task()
        self.line.append(task)
        try:
            while not (len(self.holders) < self.limit and self.line[0] is task):
                await trio.sleep(self.TICK)
        finally:
            self.line.remove(task)
        self.holders.add(task)

    def release(self) -> None:
        task = trio.lowlevel.current_task()
        if task not in self.holders:
            raise RuntimeError("release() by a task that holds no slot")
        self.holders.remove(task)


# -- declarations ---------------------------------------------------------------------------------
@mutant("CONC-BOUND")
def off_by_one() -> Any:
    """Lets limit + 1 tasks in: ``<=`` for ``<`` when taking a free slot."""
    return _without(
        reference_with(only=True, concurrency_limiter=lambda *, limit: OffByOneLimiter(limit)),
        "strict_release",
    )


@mutant("CONC-BOUND")
def uncounted_hand_over() -> Any:
    """Hands a released slot to a waiter without counting it: a newcomer then takes it too."""
    return _without(
        reference_with(
            only=True, concurrency_limiter=lambda *, limit: UncountedHandOverLimiter(limit)
        ),
        "strict_release",
    )


@mutant("CONC-CANCEL-NO-LEAK")
def dead_waiter() -> Any:
    """A cancelled waiter is never removed from the line, and is handed a slot it never returns."""
    return reference_with(only=True, concurrency_limiter=lambda *, limit: DeadWaiterLimiter(limit))


@mutant("CONC-CANCEL-NO-LEAK")
def release_on_clean_exit() -> Any:
    """``__aexit__`` releases only on a clean exit: a cancelled holder keeps its slot."""
    return reference_with(only=True, concurrency_limiter=lambda *, limit: ReleaseOnCleanExit(limit))


@mutant("CONC-FIFO")
def lifo_hand_over() -> Any:
    """Hands a released slot to the newest waiter instead of the oldest."""
    return reference_with(only=True, concurrency_limiter=lambda *, limit: LifoLimiter(limit))


@mutant("CONC-FIFO")
def wake_all() -> Any:
    """Wakes every waiter on a release; whichever runs first takes the slot."""
    return reference_with(only=True, concurrency_limiter=lambda *, limit: WakeAllLimiter(limit))


@mutant("CONC-RELEASE-BY-HOLDER")
def trusting_release() -> Any:
    """Declares strict_release, but any task's ``release()`` adds a slot."""
    return reference_with(only=True, concurrency_limiter=lambda *, limit: TrustingLimiter(limit))


@mutant("CONC-RELEASE-BY-HOLDER")
def anyone_holds_release() -> Any:
    """Declares strict_release, but checks only that somebody holds a slot, not the caller."""
    return reference_with(only=True, concurrency_limiter=lambda *, limit: AnyoneHoldsLimiter(limit))


@mutant("CONC-NO-IDLE-WAIT")
def no_hand_over() -> Any:
    """A release wakes no waiter: the slot stays free until somebody else arrives."""
    return reference_with(only=True, concurrency_limiter=lambda *, limit: NoHandOverLimiter(limit))


@mutant("CONC-NO-IDLE-WAIT")
def polling_waiters() -> Any:
    """Waiters poll every 250 ms for a free slot instead of being handed it at the release."""
    return reference_with(only=True, concurrency_limiter=lambda *, limit: PollingLimiter(limit))
