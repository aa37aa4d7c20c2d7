"""Deliberately broken queues, each with the realistic bug named in its docstring.

Each ``*_impl`` function is a declaration factory, loaded through the plug-in path exactly as a
user's implementation would be: ``tests.harness.broken.queue:off_by_one_bound``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from reference.plugin import implementation as reference_implementation
from reference.queues import BoundedQueue, DroppingQueue, DropPolicy


def _with(**factories: Callable[..., Any]) -> Any:
    declaration = reference_implementation()
    merged = {**declaration.factories, **factories}
    return {
        "name": "broken",
        "backend": "trio",
        "capabilities": declaration.capabilities,
        "factories": merged,
        "closed_errors": declaration.closed_errors,
        "counters": declaration.counters,
    }


class OffByOneBounded(BoundedQueue[Any]):
    """``<=`` instead of ``<``: holds capacity + 1 items."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity + 1)


class EagerlyFull(BoundedQueue[Any]):
    """Says full one slot early: put_nowait refuses while one slot is still free."""

    def put_nowait(self, item: Any) -> None:
        if len(self) >= (self.capacity or 0) - 1:
            raise trio.WouldBlock
        super().put_nowait(item)


class LifoQueue(BoundedQueue[Any]):
    """Takes from the tail: a stack, not a queue."""

    def get_nowait(self) -> Any:
        buffer = self._buffer
        if len(buffer) > 1:
            buffer.rotate(1)
        return super().get_nowait()


class CancelLosesItem(BoundedQueue[Any]):
    """Checkpoints after taking the item: a cancel landing there loses it."""

    async def get(self) -> Any:
        item = await super().get()
        await trio.lowlevel.checkpoint()  # "be fair to other tasks" - after the item is out
        return item


class PutAfterClose(BoundedQueue[Any]):
    """Forgets to check ``closed`` on the non-blocking path."""

    def put_nowait(self, item: Any) -> None:
        closed, self._closed = self._closed, False
        try:
            super().put_nowait(item)
        finally:
            self._closed = closed


class EvictsNewest(DroppingQueue[Any]):
    """Drop-oldest that evicts the tail (the newest item) instead of the head."""

    def offer(self, item: Any) -> bool:
        if self.policy is DropPolicy.OLDEST and len(self) >= (self.capacity or 0):
            self._buffer.pop()
            self._count_drop()
            self._buffer.append(item)
            self._count_put()
            return True
        return super().offer(item)


class UncountedDrops(DroppingQueue[Any]):
    """Sheds load but never counts it."""

    def _count_drop(self) -> None:
        pass


def off_by_one_bound() -> Any:
    """Violates QUEUE-BOUND."""
    return _with(bounded_queue=lambda *, capacity: OffByOneBounded(capacity))


def eagerly_full() -> Any:
    """Violates QUEUE-BACKPRESSURE."""
    return _with(bounded_queue=lambda *, capacity: EagerlyFull(capacity))


def lifo() -> Any:
    """Violates QUEUE-FIFO."""
    return _with(bounded_queue=lambda *, capacity: LifoQueue(capacity))


def cancel_loses_item() -> Any:
    """Violates QUEUE-CONSERVATION."""
    return _with(bounded_queue=lambda *, capacity: CancelLosesItem(capacity))


def put_after_close() -> Any:
    """Violates QUEUE-CLOSE."""
    return _with(bounded_queue=lambda *, capacity: PutAfterClose(capacity))


def evicts_newest() -> Any:
    """Violates QUEUE-DROP-POLICY."""
    return _with(
        dropping_queue=lambda *, capacity, policy: EvictsNewest(
            capacity, DropPolicy[policy.upper()]
        )
    )


def uncounted_drops() -> Any:
    """Violates METRICS-CONSISTENT."""
    return _with(
        dropping_queue=lambda *, capacity, policy: UncountedDrops(
            capacity, DropPolicy[policy.upper()]
        )
    )
