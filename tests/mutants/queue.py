"""Broken queues: bounds, backpressure, drop policy, conservation, order and close.

Each mutant is the reference declaration with one queue factory replaced by a subclass of the
reference queue that carries one small bug.
"""

from __future__ import annotations

from typing import Any

import trio
from outcome import Value

from reference.queues import BoundedQueue, DroppingQueue, DropPolicy, QueueClosed
from tests.mutants._base import mutant, reference_with


def _bounded(cls: type[BoundedQueue[Any]]) -> dict[str, Any]:
    return reference_with(only=True, bounded_queue=lambda *, capacity: cls(capacity))


def _dropping(cls: type[DroppingQueue[Any]]) -> dict[str, Any]:
    return reference_with(
        only=True,
        dropping_queue=lambda *, capacity, policy: cls(capacity, DropPolicy[policy.upper()]),
    )


# -- QUEUE-BOUND -----------------------------------------------------------------------------
class OffByOneBounded(BoundedQueue[Any]):
    def __init__(self, capacity: int) -> None:
        super().__init__(capacity + 1)


class DropsAfterOverflow(DroppingQueue[Any]):
    def offer(self, item: Any) -> bool:
        # Appends first and only then looks at the size ("> capacity" instead of ">=").
        if len(self) <= (self.capacity or 0):
            self._buffer.append(item)
            self._count_put()
            return True
        return super().offer(item)


@mutant("QUEUE-BOUND")
def off_by_one_bound() -> Any:
    """A bounded queue sized ``capacity + 1``: ``<=`` instead of ``<`` in the room test."""
    return _bounded(OffByOneBounded)


@mutant("QUEUE-BOUND")
def dropping_overflows() -> Any:
    """A dropping queue that tests ``len <= capacity`` before appending: holds one extra."""
    return _dropping(DropsAfterOverflow)


# -- QUEUE-BACKPRESSURE ------------------------------------------------------------------------
class EagerlyFull(BoundedQueue[Any]):
    def put_nowait(self, item: Any) -> None:
        if len(self) >= (self.capacity or 0) - 1:
            raise trio.WouldBlock
        super().put_nowait(item)


class ForgetsParkedPutters(BoundedQueue[Any]):
    def _admit_putters(self) -> None:
        # A get frees a slot but wakes nobody: the lost wakeup.
        pass


@mutant("QUEUE-BACKPRESSURE")
def eagerly_full() -> Any:
    """``put_nowait`` says full one slot early, while a slot is still free."""
    return _bounded(EagerlyFull)


@mutant("QUEUE-BACKPRESSURE")
def lost_wakeup() -> Any:
    """A get frees a slot but never wakes the putter parked on the full queue."""
    return _bounded(ForgetsParkedPutters)


# -- QUEUE-DROP-POLICY -------------------------------------------------------------------------
class EvictsNewest(DroppingQueue[Any]):
    def offer(self, item: Any) -> bool:
        if self.policy is DropPolicy.OLDEST and len(self) >= (self.capacity or 0):
            self._buffer.pop()
            self._count_drop()
            self._buffer.append(item)
            self._count_put()
            return True
        return super().offer(item)


class IgnoresPolicy(DroppingQueue[Any]):
    def offer(self, item: Any) -> bool:
        try:
            super(DroppingQueue, self).put_nowait(item)
        except trio.WouldBlock:
            self._count_drop()
            return False
        return True


class DropsBeforeFull(DroppingQueue[Any]):
    def offer(self, item: Any) -> bool:
        if self.policy is DropPolicy.NEWEST and len(self) >= (self.capacity or 0) - 1:
            self._count_drop()
            return False
        return super().offer(item)


@mutant("QUEUE-DROP-POLICY")
def evicts_newest() -> Any:
    """Drop-oldest that evicts the tail (the newest item) instead of the head."""
    return _dropping(EvictsNewest)


@mutant("QUEUE-DROP-POLICY")
def ignores_policy() -> Any:
    """Always refuses the offer when full, whatever policy was asked for."""
    return _dropping(IgnoresPolicy)


@mutant("QUEUE-DROP-POLICY")
def drops_before_full() -> Any:
    """Drop-newest sheds at ``capacity - 1`` items, while one slot is still free."""
    return _dropping(DropsBeforeFull)


# -- QUEUE-CONSERVATION ------------------------------------------------------------------------
class CancelLosesItem(BoundedQueue[Any]):
    async def get(self) -> Any:
        item = await super().get()
        await trio.lowlevel.checkpoint()  # "be fair to other tasks", after the item is out
        return item


class HandoffAlsoBuffers(BoundedQueue[Any]):
    def put_nowait(self, item: Any) -> None:
        handed = bool(self._getters)
        super().put_nowait(item)
        if handed:
            self._buffer.append(item)


@mutant("QUEUE-CONSERVATION")
def cancel_loses_item() -> Any:
    """``get`` checkpoints after taking the item: a cancel landing there loses it."""
    return _bounded(CancelLosesItem)


@mutant("QUEUE-CONSERVATION")
def handoff_duplicates() -> Any:
    """Hands an item to a waiting getter and also buffers it: it comes out twice."""
    return _bounded(HandoffAlsoBuffers)


# -- QUEUE-FIFO --------------------------------------------------------------------------------
class LifoQueue(BoundedQueue[Any]):
    def get_nowait(self) -> Any:
        buffer = self._buffer
        if len(buffer) > 1:
            buffer.rotate(1)
        return super().get_nowait()


class AdmitsToHead(BoundedQueue[Any]):
    def _admit_putters(self) -> None:
        while self._putters and len(self._buffer) < self._limit:
            task, item = self._putters.popitem(last=False)
            self._buffer.appendleft(item)  # appendleft for append
            self._count_put()
            trio.lowlevel.reschedule(task)


@mutant("QUEUE-FIFO")
def lifo() -> Any:
    """Takes from the tail: a stack, not a queue."""
    return _bounded(LifoQueue)


@mutant("QUEUE-FIFO")
def admits_to_head() -> Any:
    """A parked putter's item is admitted at the head of the buffer (``appendleft``)."""
    return _bounded(AdmitsToHead)


# -- QUEUE-CLOSE -------------------------------------------------------------------------------
class PutAfterClose(BoundedQueue[Any]):
    def put_nowait(self, item: Any) -> None:
        closed, self._closed = self._closed, False
        try:
            super().put_nowait(item)
        finally:
            self._closed = closed


class CloseClearsBuffer(BoundedQueue[Any]):
    def close(self) -> None:
        super().close()
        self._buffer.clear()


class GetAfterCloseBlocks(BoundedQueue[Any]):
    def get_nowait(self) -> Any:
        try:
            return super().get_nowait()
        except trio.EndOfChannel:
            raise trio.WouldBlock from None  # "empty is empty"


@mutant("QUEUE-CLOSE")
def put_after_close() -> Any:
    """Forgets to check ``closed`` on the non-blocking put path."""
    return _bounded(PutAfterClose)


@mutant("QUEUE-CONSERVATION")
def close_clears_buffer() -> Any:
    """``close`` throws away what is buffered instead of letting getters drain it."""
    return _bounded(CloseClearsBuffer)


@mutant("QUEUE-CLOSE")
def no_end_after_close() -> Any:
    """``get_nowait`` on a closed, drained queue says "empty" instead of reporting the end."""
    return _bounded(GetAfterCloseBlocks)


# -- METRICS-CONSISTENT ------------------------------------------------------------------------
class UncountedDrops(DroppingQueue[Any]):
    def _count_drop(self) -> None:
        self._drops += 1  # the queue's own stats, but not the shared counter


@mutant("METRICS-CONSISTENT")
def uncounted_drops() -> Any:
    """Sheds load but never counts it in the ``drops`` counter."""
    return _dropping(UncountedDrops)


# -- QUEUE-FIFO-WAITERS ------------------------------------------------------------------------
class LifoPutters(BoundedQueue[Any]):
    def _admit_putters(self) -> None:
        while self._putters and len(self._buffer) < self._limit:
            task, item = self._putters.popitem(last=True)  # last=True for last=False
            self._buffer.append(item)
            self._count_put()
            trio.lowlevel.reschedule(task)


class LifoGetters(BoundedQueue[Any]):
    def put_nowait(self, item: Any) -> None:
        if self._getters and not self._closed:
            task, _ = self._getters.popitem(last=True)  # the newest getter is served first
            self._count_put()
            self._gets += 1
            trio.lowlevel.reschedule(task, Value(item))
            return
        super().put_nowait(item)


class _Woken:
    """What a waiter is rescheduled with when it is only told to try again."""


class WakesPuttersToRetry(BoundedQueue[Any]):
    """asyncio.Queue's design: a freed slot wakes the first putter, which must then retry."""

    def _admit_putters(self) -> None:
        if self._putters and len(self._buffer) < self._limit:
            task, _ = self._putters.popitem(last=False)
            trio.lowlevel.reschedule(task, Value(_Woken))

    async def put(self, item: Any) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                self.put_nowait(item)  # anyone may take the slot before the woken putter runs
            except trio.WouldBlock:
                pass
            else:
                await trio.lowlevel.cancel_shielded_checkpoint()
                return
            task = trio.lowlevel.current_task()
            self._putters[task] = item  # back of the line

            def abort(_: trio.lowlevel.RaiseCancelT, task: Any = task) -> trio.lowlevel.Abort:
                del self._putters[task]
                return trio.lowlevel.Abort.SUCCEEDED

            await trio.lowlevel.wait_task_rescheduled(abort)


class WakesGettersToRetry(BoundedQueue[Any]):
    """The same design on the get side: an item wakes the first getter, which must retry."""

    def put_nowait(self, item: Any) -> None:
        if self._closed:
            raise QueueClosed("put into a closed queue")
        if len(self._buffer) >= self._limit:
            raise trio.WouldBlock
        self._buffer.append(item)
        self._count_put()
        if self._getters:
            task, _ = self._getters.popitem(last=False)
            trio.lowlevel.reschedule(task, Value(_Woken))

    async def get(self) -> Any:
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                item = self.get_nowait()  # anyone may take the item before the woken getter
            except trio.WouldBlock:
                pass
            else:
                await trio.lowlevel.cancel_shielded_checkpoint()
                return item
            task = trio.lowlevel.current_task()
            self._getters[task] = None  # back of the line

            def abort(_: trio.lowlevel.RaiseCancelT, task: Any = task) -> trio.lowlevel.Abort:
                del self._getters[task]
                return trio.lowlevel.Abort.SUCCEEDED

            await trio.lowlevel.wait_task_rescheduled(abort)


@mutant("QUEUE-FIFO-WAITERS")
def lifo_putters() -> Any:
    """Parked putters are admitted newest first (``popitem(last=True)``) when room appears."""
    return _bounded(LifoPutters)


@mutant("QUEUE-FIFO-WAITERS")
def lifo_getters() -> Any:
    """An item is handed to the getter that began waiting last, not the one waiting longest."""
    return _bounded(LifoGetters)


@mutant("QUEUE-FIFO-WAITERS")
def put_nowait_overtakes_woken_putter() -> Any:
    """A freed slot only wakes the first putter: a ``put_nowait`` in the same instant takes it."""
    return _bounded(WakesPuttersToRetry)


@mutant("QUEUE-FIFO-WAITERS")
def get_nowait_steals_from_woken_getter() -> Any:
    """A new item only wakes the first getter: a ``get_nowait`` in the same instant takes it."""
    return _bounded(WakesGettersToRetry)
