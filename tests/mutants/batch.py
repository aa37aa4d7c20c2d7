"""Broken batchers: size, age, loss at close, and their counters."""

from __future__ import annotations

from typing import Any

import trio

from reference.batching import BATCHED_ITEMS, BATCHES, Batcher
from tests.mutants._base import mutant, reference_with


class _Sizes(Batcher[Any]):
    """The reference loop with the size test and the close handling made overridable."""

    def _room(self, batch: list[Any]) -> bool:
        return len(batch) < self.max_size

    def _deadline(self, first_at: float) -> float:
        return first_at + self.max_age

    def _keep_partial_at_close(self) -> bool:
        return True

    async def _run(self) -> None:
        items = self._items
        with self._batches_send:
            while True:
                try:
                    batch = [await items.receive()]
                except trio.EndOfChannel:
                    return
                with trio.move_on_at(self._deadline(trio.current_time())):
                    while self._room(batch):
                        try:
                            batch.append(await items.receive())
                        except trio.EndOfChannel:
                            if not self._keep_partial_at_close():
                                return
                            break
                self._count(batch)
                await self._batches_send.send(batch)

    def _count(self, batch: list[Any]) -> None:
        self.metrics.incr(BATCHES)
        self.metrics.incr(BATCHED_ITEMS, len(batch))


class NeverFlushesOnAge(_Sizes):
    """Forgot the timer: a batch leaves only when full or at close."""

    def _deadline(self, first_at: float) -> float:
        return float("inf")


class OverSize(_Sizes):
    """``<=`` instead of ``<``: batches of max_size + 1."""

    def _room(self, batch: list[Any]) -> bool:
        return len(batch) <= self.max_size


class DropsPartialAtClose(_Sizes):
    """Returns on end-of-input instead of flushing the partial batch first."""

    def _keep_partial_at_close(self) -> bool:
        return False


class MiscountedItems(_Sizes):
    """Forgets ``n``: ``incr(BATCHED_ITEMS)`` adds 1 per batch, not the batch's length."""

    def _count(self, batch: list[Any]) -> None:
        self.metrics.incr(BATCHES)
        self.metrics.incr(BATCHED_ITEMS)


class _Ticker(Batcher[Any]):
    """A flusher woken by a fixed ticker every max_age instead of a per-batch timer."""

    def _due(self, now: float, first_at: float) -> bool:
        raise NotImplementedError

    async def _run(self) -> None:
        items = self._items
        with self._batches_send:
            batch: list[Any] = []
            first_at = 0.0
            tick = trio.current_time() + self.max_age
            while True:
                ready: list[Any] | None = None
                with trio.move_on_at(tick) as scope:
                    try:
                        item = await items.receive()
                    except trio.EndOfChannel:
                        if batch:
                            await self._batches_send.send(batch)
                        return
                    if not batch:
                        first_at = trio.current_time()
                    batch.append(item)
                    if len(batch) >= self.max_size:
                        ready, batch = batch, []
                if scope.cancelled_caught:
                    tick += self.max_age
                    if batch and self._due(trio.current_time(), first_at):
                        ready, batch = batch, []
                if ready:
                    await self._batches_send.send(ready)


class FlushesEveryTick(_Ticker):
    """Flushes whatever is pending at every tick: a batch started mid-period leaves early."""

    def _due(self, now: float, first_at: float) -> bool:
        return True


class ChecksAgeOnTick(_Ticker):
    """Flushes at a tick only batches already max_age old: up to 2 x max_age late."""

    def _due(self, now: float, first_at: float) -> bool:
        return now - first_at >= self.max_age


@mutant("BATCH-BOUNDS")
def never_flushes_on_age() -> Any:
    """A batcher that never flushes on age: a batch leaves only when full or at close."""
    return reference_with(batcher=lambda *, max_size, max_age: NeverFlushesOnAge(max_size, max_age))


@mutant("BATCH-BOUNDS")
def flushes_at_double_age() -> Any:
    """A fixed ticker that flushes only batches already max_age old: up to 2 x max_age late."""
    return reference_with(batcher=lambda *, max_size, max_age: ChecksAgeOnTick(max_size, max_age))


@mutant("BATCH-BOUNDS")
def flushes_early() -> Any:
    """A fixed ticker that flushes whatever is pending: a batch started mid-period leaves early."""
    return reference_with(batcher=lambda *, max_size, max_age: FlushesEveryTick(max_size, max_age))


@mutant("BATCH-BOUNDS")
def drops_partial_at_close() -> Any:
    """Returns at end of input instead of flushing the partial batch first."""
    return reference_with(
        batcher=lambda *, max_size, max_age: DropsPartialAtClose(max_size, max_age)
    )


@mutant("BATCH-BOUNDS")
def oversize() -> Any:
    """``<=`` instead of ``<`` in the size test: batches of max_size + 1."""
    return reference_with(batcher=lambda *, max_size, max_age: OverSize(max_size, max_age))


@mutant("METRICS-CONSISTENT")
def miscounted_items() -> Any:
    """``incr(BATCHED_ITEMS)`` without the batch length: counts batches, not items."""
    return reference_with(batcher=lambda *, max_size, max_age: MiscountedItems(max_size, max_age))
