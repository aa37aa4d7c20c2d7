"""Broken queues: bounds, backpressure, drop policy, conservation, order and close.

Each mutant is the reference declaration with one queue factory replaced by a subclass of the
reference queue that carries one small bug.
"""

from __future__ import annotations

from typing import Any

import trio

from reference.queues import BoundedQueue, DroppingQueue, DropPolicy
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
