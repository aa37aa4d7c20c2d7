"""Queue shapes (guide §2, §7.4): unbounded, bounded with backpressure, and dropping.

The guide's Go queues are buffered channels: ``make(chan Job, 64)`` blocks a sender while the
buffer is full (backpressure) and ``select { case jobs <- j: default: }`` sheds load instead.
Trio's memory channels have the same shape, but two things a reference must state exactly do
not fit them:

* a dropping queue that evicts the *oldest* item needs to reach into the buffer;
* ``stats()`` must agree with ``len()`` at every instant. A channel hands an item to a parked
  task at one moment but the task only resumes (and could count it) later, so counters kept
  around ``await channel.send()`` lag behind the buffer.

So the three queues share one small core, :class:`_ChannelQueue`: a ``deque`` buffer plus two
FIFO lists of parked tasks, written with trio's low-level parking primitives exactly the way
memory channels are. Every transfer, and the counting of it, happens in one synchronous step,
which is what makes cancellation safe: a parked ``put``/``get`` is either served (the item moved)
or aborted (nothing moved), never half of each.
"""

from __future__ import annotations

import enum
import math
from collections import OrderedDict, deque
from typing import Generic, TypeVar, cast

import trio
from outcome import Error, Value

from reference.instrumentation import DROPS, Metrics

__all__ = [
    "BoundedQueue",
    "DropPolicy",
    "DroppingQueue",
    "QueueClosed",
    "UnboundedQueue",
]

T = TypeVar("T")

_Task = trio.lowlevel.Task


class QueueClosed(Exception):
    """Raised by a put into a closed queue (and by putters parked when it closed)."""


class DropPolicy(enum.Enum):
    """What a full :class:`DroppingQueue` sheds."""

    #: The new item is refused; what is queued stays (Go's ``select { ... default: }``).
    NEWEST = "newest"
    #: The head (oldest item) is evicted to make room for the new one.
    OLDEST = "oldest"


class _ChannelQueue(Generic[T]):
    """A FIFO buffer with Go-channel semantics; the shared core of every queue shape.

    ``_limit`` is the buffer size (``math.inf`` for unbounded). Parked putters wait in
    ``_putters`` with their item, parked getters in ``_getters``; both are served FIFO.
    """

    def __init__(self, limit: float, metrics: Metrics | None) -> None:
        self._limit = limit
        self._buffer: deque[T] = deque()
        # OrderedDict: FIFO service plus O(1) removal of one aborted waiter.
        self._putters: OrderedDict[_Task, T] = OrderedDict()
        self._getters: OrderedDict[_Task, None] = OrderedDict()
        self._closed = False
        self._puts = 0
        self._gets = 0
        self._drops = 0
        self.metrics: Metrics = metrics if metrics is not None else Metrics()
        """Where this queue counts (``drops``) and reports its ``queue_length`` gauge."""
        self.metrics.gauge("queue_length", self.__len__)

    # -- introspection -------------------------------------------------------------------

    @property
    def capacity(self) -> int | None:
        """The buffer size, or ``None`` when unbounded."""
        return None if self._limit == math.inf else int(self._limit)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def __len__(self) -> int:
        """Items buffered now (not counting putters still parked)."""
        return len(self._buffer)

    def stats(self) -> dict[str, int]:
        """Return the counts at this instant: ``length``, ``puts``, ``gets``, ``drops``.

        ``puts`` counts items accepted, ``gets`` items taken, ``drops`` items refused or
        evicted; ``length == puts - gets - evicted`` holds at every instant.
        """
        return {
            "length": len(self._buffer),
            "puts": self._puts,
            "gets": self._gets,
            "drops": self._drops,
        }

    # -- hooks ---------------------------------------------------------------------------

    def _count_put(self, n: int = 1) -> None:
        # Called at the exact moment items are accepted; the pool overrides it to count
        # ``jobs_submitted`` in the same synchronous step.
        self._puts += n

    def _count_drop(self) -> None:
        self._drops += 1
        self.metrics.incr(DROPS)

    # -- put side ------------------------------------------------------------------------

    def put_nowait(self, item: T) -> None:
        """Enqueue ``item`` without blocking; raise :class:`trio.WouldBlock` when full."""
        if self._closed:
            raise QueueClosed("put into a closed queue")
        if self._getters:
            # Someone is already waiting: hand the item over directly (buffer is empty).
            task, _ = self._getters.popitem(last=False)
            self._count_put()
            self._gets += 1
            trio.lowlevel.reschedule(task, Value(item))
        elif len(self._buffer) < self._limit:
            self._buffer.append(item)
            self._count_put()
        else:
            raise trio.WouldBlock

    def put_batch_nowait(self, items: list[T]) -> int:
        """Enqueue the longest prefix of ``items`` that fits now; return its length.

        The batch counterpart of :meth:`put_nowait` (guide §9): one call, one counter update.
        Raises :class:`QueueClosed` if the queue is closed.
        """
        if self._closed:
            raise QueueClosed("put into a closed queue")
        accepted = 0
        total = len(items)
        while self._getters and accepted < total:
            task, _ = self._getters.popitem(last=False)
            trio.lowlevel.reschedule(task, Value(items[accepted]))
            accepted += 1
        self._gets += accepted
        room = min(self._limit - len(self._buffer), total - accepted)
        if room > 0:
            end = accepted + int(room)
            self._buffer.extend(items[accepted:end] if accepted or end < total else items)
            accepted = end
        if accepted:
            self._count_put(accepted)
        return accepted

    async def put(self, item: T) -> None:
        """Enqueue ``item``, waiting (FIFO among putters) while the buffer is full.

        Raises :class:`QueueClosed` if the queue is closed, now or while waiting; if
        cancelled, the item was not enqueued.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            self.put_nowait(item)
        except trio.WouldBlock:
            pass
        else:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        task = trio.lowlevel.current_task()
        self._putters[task] = item

        def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
            # Still parked, so the item never reached the buffer: withdraw it.
            del self._putters[task]
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    # -- get side ------------------------------------------------------------------------

    def get_nowait(self) -> T:
        """Take the head item; raise :class:`trio.WouldBlock` when empty.

        Raises :class:`trio.EndOfChannel` once the queue is closed and drained.
        """
        if self._buffer:
            item = self._buffer.popleft()
            self._gets += 1
            self._admit_putters()
            return item
        if self._closed:
            raise trio.EndOfChannel
        raise trio.WouldBlock

    def get_batch_nowait(self, limit: int) -> list[T]:
        """Take up to ``limit`` items that are ready now (possibly none) in one step.

        Raises :class:`trio.EndOfChannel` once the queue is closed and drained. Used by the
        batched pool to amortise one checkpoint over many jobs (guide §9).
        """
        buffer = self._buffer
        if not buffer:
            if self._closed:
                raise trio.EndOfChannel
            return []
        if len(buffer) <= limit and not self._putters:
            batch = list(buffer)
            buffer.clear()
        else:
            batch = []
            while buffer and len(batch) < limit:
                batch.append(buffer.popleft())
                self._admit_putters()
        self._gets += len(batch)
        return batch

    def _admit_putters(self) -> None:
        # Space appeared: move parked putters' items in, in FIFO order, at this instant.
        while self._putters and len(self._buffer) < self._limit:
            task, item = self._putters.popitem(last=False)
            self._buffer.append(item)
            self._count_put()
            trio.lowlevel.reschedule(task)

    async def get(self) -> T:
        """Take the head item, waiting while empty.

        Raises :class:`trio.EndOfChannel` once the queue is closed and drained; if cancelled,
        nothing was removed.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            item = self.get_nowait()
        except trio.WouldBlock:
            pass
        else:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return item
        task = trio.lowlevel.current_task()
        self._getters[task] = None

        def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
            del self._getters[task]
            return trio.lowlevel.Abort.SUCCEEDED

        return cast(T, await trio.lowlevel.wait_task_rescheduled(abort))

    def __aiter__(self) -> _ChannelQueue[T]:
        """Iterate with ``async for`` until the queue is closed and drained."""
        return self

    async def __anext__(self) -> T:
        """Return the next item, or end the iteration at end of channel."""
        try:
            return await self.get()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    # -- closing -------------------------------------------------------------------------

    def close(self) -> None:
        """Refuse further puts; buffered items stay available to getters.

        Idempotent. Parked putters wake with :class:`QueueClosed` (their items are not
        enqueued); parked getters (the buffer is then empty) wake with ``EndOfChannel``.
        Only the producer side should close (guide §7.1).
        """
        if self._closed:
            return
        self._closed = True
        for task in self._putters:
            trio.lowlevel.reschedule(task, Error(QueueClosed("queue closed while putting")))
        self._putters.clear()
        for task in self._getters:
            trio.lowlevel.reschedule(task, Error(trio.EndOfChannel()))
        self._getters.clear()


class UnboundedQueue(_ChannelQueue[T]):
    """A queue with no size limit: ``put`` never waits (guide §2: "risky, usually avoid")."""

    def __init__(self, *, metrics: Metrics | None = None) -> None:
        super().__init__(math.inf, metrics)


class BoundedQueue(_ChannelQueue[T]):
    """A queue holding at most ``capacity`` items; ``put`` waits while full (backpressure).

    The Go equivalent is ``make(chan T, capacity)``. Waiting putters are served FIFO.
    """

    def __init__(self, capacity: int, *, metrics: Metrics | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        super().__init__(capacity, metrics)
        self._capacity = capacity

    def free(self) -> int:
        """How many more items fit in the buffer right now."""
        return self._capacity - len(self._buffer)


class DroppingQueue(_ChannelQueue[T]):
    """A bounded queue that sheds load instead of blocking (guide §2 "Dropping").

    ``NEWEST`` refuses the offered item when full; ``OLDEST`` evicts the head to make room.
    ``put`` and ``put_nowait`` behave like :meth:`offer` and never block.
    """

    def __init__(
        self,
        capacity: int,
        policy: DropPolicy = DropPolicy.NEWEST,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        super().__init__(capacity, metrics)
        self.policy: DropPolicy = policy
        """The shedding policy chosen at construction."""

    @property
    def drops(self) -> int:
        """Items refused (``NEWEST``) or evicted (``OLDEST``) so far."""
        return self._drops

    def offer(self, item: T) -> bool:
        """Enqueue ``item`` if possible; return False if it was refused.

        Under ``OLDEST`` a full queue evicts its head and accepts ``item`` (True). Raises
        :class:`QueueClosed` if the queue is closed.
        """
        try:
            super().put_nowait(item)
        except trio.WouldBlock:
            if self.policy is DropPolicy.NEWEST:
                self._count_drop()
                return False
            self._buffer.popleft()
            self._count_drop()
            self._buffer.append(item)
            self._count_put()
        return True

    def put_nowait(self, item: T) -> None:
        """Act as :meth:`offer`, ignoring its result: a full queue drops, never raises."""
        self.offer(item)

    async def put(self, item: T) -> None:
        """Act as :meth:`offer` plus a checkpoint; never waits for space."""
        await trio.lowlevel.checkpoint_if_cancelled()
        self.offer(item)
        await trio.lowlevel.cancel_shielded_checkpoint()
