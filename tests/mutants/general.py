"""Broken implementations of the pattern-independent rules: NO-HANG, NO-CRASH, NO-LEAK.

Each breaks one object of some pattern in a way that the harness's guards, not a pattern's
checker, must catch: a call that never returns, an exception nobody declared, a task that
outlives the run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import trio

from reference.batching import Batcher
from reference.idempotency import IdempotentSink
from reference.queues import BoundedQueue, DroppingQueue, DropPolicy, QueueClosed
from reference.ratelimit import TokenBucket
from tests.mutants._base import mutant, reference_with


# -- NO-HANG -----------------------------------------------------------------------------------
class ClosedByFlag(Batcher[Any]):
    def __init__(self, max_size: int, max_age: float) -> None:
        super().__init__(max_size, max_age)
        self._closing = False

    def close(self) -> None:
        # A flag instead of closing the channel: the flusher, parked on it, never wakes.
        self._closing = True

    async def put(self, item: Any) -> None:
        if self._closing:
            raise QueueClosed("batcher is closed")
        await super().put(item)


class InFlightOnlyClearedOnSuccess(IdempotentSink[Any, Any]):
    async def apply(self, key: Hashable, value: Any) -> bool:
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            if key in self.store:
                await trio.lowlevel.cancel_shielded_checkpoint()
                return False
            running = self._in_flight.get(key)
            if running is None:
                break
            await running.wait()
        done = self._in_flight[key] = trio.Event()
        await self.effect(key, value)  # no try/finally: a failed effect stays "in flight"
        self.store.add(key)
        del self._in_flight[key]
        done.set()
        return True


def _sink(cls: type[IdempotentSink[Any, Any]]) -> Callable[..., Any]:
    def make(*, effect: Callable[[Hashable, Any], Awaitable[None]]) -> Any:
        return cls(effect)

    return make


@mutant("NO-HANG", pattern="batch")
def close_sets_a_flag() -> Any:
    """``close`` sets a flag the parked flusher never sees: batches never end, exit hangs."""
    return reference_with(batcher=lambda *, max_size, max_age: ClosedByFlag(max_size, max_age))


@mutant("NO-HANG", pattern="idempotency")
def in_flight_never_cleared() -> Any:
    """A failed effect leaves its key in flight: every later delivery of it waits forever."""
    return reference_with(idempotent_sink=_sink(InFlightOnlyClearedOnSuccess))


# -- NO-CRASH ----------------------------------------------------------------------------------
class PopsEmptyBuffer(BoundedQueue[Any]):
    def get_nowait(self) -> Any:
        if self._closed and not self._buffer:
            raise trio.EndOfChannel
        item = self._buffer.popleft()  # IndexError, not WouldBlock, when empty
        self._gets += 1
        self._admit_putters()
        return item


class OwnClosedError(DroppingQueue[Any]):
    def offer(self, item: Any) -> bool:
        if self.closed:
            raise RuntimeError("queue is closed")  # not the declared QueueClosed
        return super().offer(item)


@mutant("NO-CRASH", pattern="queue")
def get_nowait_pops_empty() -> Any:
    """``get_nowait`` pops without looking: an empty queue raises IndexError, not WouldBlock."""
    return reference_with(only=True, bounded_queue=lambda *, capacity: PopsEmptyBuffer(capacity))


@mutant("NO-CRASH", pattern="queue")
def undeclared_closed_error() -> Any:
    """An offer after close raises a bare RuntimeError instead of the declared QueueClosed."""
    return reference_with(
        only=True,
        dropping_queue=lambda *, capacity, policy: OwnClosedError(
            capacity, DropPolicy[policy.upper()]
        ),
    )


# -- NO-LEAK -----------------------------------------------------------------------------------
class LengthReporterQueue(BoundedQueue[Any]):
    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        # The queue has no nursery, so its reporter is started outside any: nothing stops it.
        trio.lowlevel.spawn_system_task(self._report, name="queue-length-reporter")

    async def _report(self) -> None:
        while True:
            self.metrics.snapshot()
            await trio.sleep(1.0)


class TickerBucket(TokenBucket):
    def __init__(self, rate: float, burst: int) -> None:
        super().__init__(rate, burst)
        # The guide's ticker goroutine, spawned outside any nursery and never stopped.
        trio.lowlevel.spawn_system_task(self._tick, name="bucket-ticker")

    async def _tick(self) -> None:
        while True:
            await trio.sleep(1 / self.rate)
            self._refill(trio.current_time())


@mutant("NO-LEAK", pattern="queue")
def reporter_task_leaks() -> Any:
    """A queue starts a length-reporter task outside any nursery; it outlives the queue."""
    return reference_with(
        only=True, bounded_queue=lambda *, capacity: LengthReporterQueue(capacity)
    )


@mutant("NO-LEAK", pattern="rate")
def ticker_task_leaks() -> Any:
    """A token bucket refilled by a ticker task spawned outside any nursery and never stopped."""
    return reference_with(only=True, token_bucket=lambda *, rate, burst: TickerBucket(rate, burst))
