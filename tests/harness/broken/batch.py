"""Deliberately broken batchers, each with the realistic bug named in its docstring.

Each function is a declaration factory, loaded through the plug-in path exactly as a user's
implementation would be: ``tests.harness.broken.batch:never_flushes_on_age``. All of them
violate BATCH-BOUNDS, each through a different clause; ``miscounted_items`` violates
METRICS-CONSISTENT only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from reference.batching import BATCHED_ITEMS, BATCHES, Batcher
from reference.plugin import implementation as reference_implementation


def _with(**factories: Callable[..., Any]) -> Any:
    declaration = reference_implementation()
    return {
        "name": "broken",
        "backend": "trio",
        "capabilities": declaration.capabilities,
        "factories": {**declaration.factories, **factories},
        "closed_errors": declaration.closed_errors,
        "counters": declaration.counters,
    }


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


def never_flushes_on_age() -> Any:
    """Violates BATCH-BOUNDS (a partial batch outlives max_age)."""
    return _with(batcher=lambda *, max_size, max_age: NeverFlushesOnAge(max_size, max_age))


def flushes_at_double_age() -> Any:
    """Violates BATCH-BOUNDS (a batch flushed up to 2 x max_age after its first item)."""
    return _with(batcher=lambda *, max_size, max_age: ChecksAgeOnTick(max_size, max_age))


def flushes_early() -> Any:
    """Violates BATCH-BOUNDS (a partial batch flushed before max_age)."""
    return _with(batcher=lambda *, max_size, max_age: FlushesEveryTick(max_size, max_age))


def drops_partial_at_close() -> Any:
    """Violates BATCH-BOUNDS (items lost at close)."""
    return _with(batcher=lambda *, max_size, max_age: DropsPartialAtClose(max_size, max_age))


def oversize() -> Any:
    """Violates BATCH-BOUNDS (a batch of max_size + 1 items)."""
    return _with(batcher=lambda *, max_size, max_age: OverSize(max_size, max_age))


def miscounted_items() -> Any:
    """Violates METRICS-CONSISTENT (``batched_items`` counts batches, not items)."""
    return _with(batcher=lambda *, max_size, max_age: MiscountedItems(max_size, max_age))
