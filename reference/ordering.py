"""Restoring submission order at the sink (guide §5 "Ordering", §7.5, §10.3).

A worker pool finishes jobs in whatever order they happen to complete. The guide's fix is to
"include sequence numbers and reorder at sink": :class:`Reorderer` accepts ``(seq, item)``
pairs in any order and hands them out strictly in sequence. Its ``window`` bounds how far
ahead of the consumer a producer may run, so a single slow item cannot make the buffer grow
without limit (backpressure, §2).

:func:`ordered_map` puts the two together: a :class:`~reference.pool.WorkerPool` runs the
handler concurrently while a :class:`Reorderer` restores the input order of the results.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Generic, TypeVar, cast

import trio

from reference.errgroup import FirstErrorGroup
from reference.queues import QueueClosed

if TYPE_CHECKING:
    # Only for annotations: the pool is imported when ordered_map runs, so this module does not
    # depend on it at import time.
    from reference.pool import Result

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")


class Reorderer(Generic[T]):
    """Turns ``(seq, item)`` pairs arriving in any order into an in-order stream.

    ``delivered`` is the next sequence number the consumer has not taken yet (it starts at
    ``start``). ``put`` blocks while ``seq >= delivered + window``, so at most ``window`` items
    are ever buffered. An item becomes available to ``get`` the moment it and all of its
    predecessors have arrived.
    """

    def __init__(self, window: int, *, start: int = 0) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window = window
        self._next = start
        self._buffer: dict[int, T] = {}
        self._closed = False
        # Putters park here until ``delivered`` moves; getters until the next item arrives.
        self._room = trio.lowlevel.ParkingLot()
        self._ready = trio.lowlevel.ParkingLot()

    @property
    def delivered(self) -> int:
        """The next sequence number the consumer has not yet taken."""
        return self._next

    @property
    def pending(self) -> int:
        """How many items have arrived but have not been taken yet."""
        return len(self._buffer)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    def _check_new(self, seq: int) -> None:
        if seq < self._next or seq in self._buffer:
            raise ValueError(f"sequence number {seq} was already put")
        if self._closed:
            raise QueueClosed("put on a closed Reorderer")

    async def put(self, seq: int, item: T) -> None:
        """Store ``item`` as number ``seq``, waiting while it is too far ahead of the consumer.

        Raises ``ValueError`` for a duplicate or already delivered ``seq`` and
        ``reference.queues.QueueClosed`` after :meth:`close`. If cancelled while waiting,
        nothing is stored.
        """
        self._check_new(seq)
        await trio.lowlevel.checkpoint_if_cancelled()
        blocked = False
        while seq >= self._next + self.window:
            blocked = True
            await self._room.park()
            # The world moved while we slept: the same seq may have been put by someone else.
            self._check_new(seq)
        self._buffer[seq] = item
        if seq == self._next:
            self._ready.unpark_all()
        if not blocked:
            # Keep put a full checkpoint without ever losing an item already stored.
            await trio.lowlevel.cancel_shielded_checkpoint()

    async def get(self) -> tuple[int, T]:
        """Return the next ``(seq, item)`` in order, waiting until it has arrived.

        Raises ``trio.EndOfChannel`` once closed and everything that can be delivered in order
        has been taken (items stranded behind a gap at close are never delivered; see
        :attr:`pending`). If cancelled while waiting, nothing is taken.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        blocked = False
        while self._next not in self._buffer:
            if self._closed:
                raise trio.EndOfChannel
            blocked = True
            await self._ready.park()
        seq = self._next
        item = self._buffer.pop(seq)
        self._next += 1
        self._room.unpark_all()
        if self._next in self._buffer:
            # Another consumer may be waiting for the item that is now at the head.
            self._ready.unpark_all()
        if not blocked:
            await trio.lowlevel.cancel_shielded_checkpoint()
        return seq, item

    def close(self) -> None:
        """No more puts: blocked putters get ``QueueClosed``; getters drain, then end."""
        self._closed = True
        self._room.unpark_all()
        self._ready.unpark_all()

    def __aiter__(self) -> AsyncIterator[tuple[int, T]]:
        return self

    async def __anext__(self) -> tuple[int, T]:
        try:
            return await self.get()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None


class OrderedMap(Generic[P, R]):
    """The results of ``handler`` over ``items``, in input order; see :func:`ordered_map`."""

    def __init__(
        self,
        handler: Callable[[P], Awaitable[R]],
        items: Iterable[P],
        *,
        workers: int,
        window: int,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self._handler = handler
        self._items = items
        self._workers = workers
        self._window = window
        self._cm: AbstractAsyncContextManager[AsyncIterator[R]] | None = None

    @asynccontextmanager
    async def _run(self) -> AsyncIterator[AsyncIterator[R]]:
        from reference.pool import WorkerPool

        reorder: Reorderer[Result[R]] = Reorderer(self._window)
        # At most ``window`` jobs may be submitted but not yet taken by the consumer. This
        # keeps every result inside the reorderer's window, so the collector never blocks on
        # one result while the result the consumer waits for is stuck behind it in the pool.
        slots = trio.Semaphore(self._window)
        exhausted = False

        async def feed(pool: WorkerPool[P, R]) -> None:
            for seq, item in enumerate(self._items):
                await slots.acquire()
                await pool.submit(seq, item)
            pool.close()

        async def collect(pool: WorkerPool[P, R]) -> None:
            async for result in pool.results:
                assert isinstance(result.id, int)
                await reorder.put(result.id, result)
            reorder.close()

        async def in_order() -> AsyncIterator[R]:
            nonlocal exhausted
            async for _, result in reorder:
                slots.release()
                if result.status == "ok":
                    yield cast(R, result.value)
                elif result.error is not None:
                    raise result.error
                else:
                    raise RuntimeError(f"job {result.id} ended with status {result.status!r}")
            exhausted = True

        failure: Exception | None = None
        # FirstErrorGroup, so a failing ``items`` iterable surfaces as its own error.
        async with FirstErrorGroup() as group:
            pool = WorkerPool(self._handler, workers=self._workers)
            async with pool:
                group.start_soon(feed, pool)
                group.start_soon(collect, pool)
                try:
                    yield in_order()
                except Exception as exc:
                    # Re-raised once every task is gone, unwrapped by any nursery on the way.
                    failure = exc
                finally:
                    if not exhausted:
                        # Left early (break, error, cancellation): stop all work right now.
                        pool.cancel()
                        group.cancel_scope.cancel()
        if failure is not None:
            raise failure

    async def __aenter__(self) -> AsyncIterator[R]:
        self._cm = self._run()
        return await self._cm.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._cm is not None, "__aexit__ without __aenter__"
        return await self._cm.__aexit__(exc_type, exc, tb)

    async def __aiter__(self) -> AsyncGenerator[R, None]:
        # Convenience for a loop that runs to completion; see ordered_map for the caveat.
        async with self as results:
            async for value in results:
                yield value


def ordered_map(
    handler: Callable[[P], Awaitable[R]],
    items: Iterable[P],
    *,
    workers: int,
    window: int,
) -> OrderedMap[P, R]:
    """Run ``handler`` over ``items`` on a ``WorkerPool`` and yield the results in input order.

    At most ``window`` items are in flight (submitted but not yet yielded), which bounds
    memory however slow any one item is. A handler error is raised when its turn in the
    order comes. Use it as an async context manager, which guarantees every task is gone when
    the block ends, even if you stop early::

        async with ordered_map(fetch, urls, workers=4, window=16) as results:
            async for page in results:
                ...

    ``async for page in ordered_map(...)`` also works when the loop runs to completion (or is
    wrapped in ``contextlib.aclosing``): an abandoned async generator that holds a nursery
    cannot be cleaned up safely by trio.
    """
    return OrderedMap(handler, items, workers=workers, window=window)
