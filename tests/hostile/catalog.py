"""Declarations written the way a careless or hostile user would write them.

Each one's fault is the implementation's own: poolcheck must answer with a verdict (NO-CRASH,
with the minimal steps and a replay line) or, for a fault while loading the declaration, a
one-line configuration error. Never "harness error", which means a bug in poolcheck.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from examples.asyncio_impl import BoundedQueue, QueueClosed, QueueEnded
from examples.thread_pool import PoolClosed, ThreadPool
from reference.queues import UnboundedQueue
from reference.ratelimit import TokenBucket

#: What the asyncio example queue raises once closed (see ``examples.asyncio_impl``).
_ASYNCIO_QUEUE_ERRORS: dict[str, Any] = {"closed_errors": [QueueClosed], "end_errors": [QueueEnded]}


def _trio(name: str, **factories: Callable[..., Any]) -> dict[str, Any]:
    return {"name": name, "backend": "trio", "factories": factories}


# -- factories that return junk --------------------------------------------------------------
def pool_factory_returns_none() -> dict[str, Any]:
    """``worker_pool()`` returns None (a constructor that forgot its ``return``)."""

    def worker_pool(**_kwargs: Any) -> None:
        return None

    return _trio("none-pool", worker_pool=worker_pool)


def bucket_factory_returns_42() -> dict[str, Any]:
    """``token_bucket()`` returns the number 42."""
    return _trio("forty-two", token_bucket=lambda **_kwargs: 42)


class HalfBucket:
    """A token bucket with ``try_acquire`` only: ``acquire`` was never written."""

    def __init__(self, rate: float, burst: int) -> None:
        self.tokens = burst

    def try_acquire(self) -> bool:
        """Admit while tokens last (never refills)."""
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class AcquireOnlyBucket:
    """A token bucket with ``acquire`` only: ``try_acquire`` was never written."""

    def __init__(self, rate: float, burst: int) -> None:
        self.bucket = TokenBucket(rate, burst)

    async def acquire(self) -> None:
        """Wait in line for a token."""
        await self.bucket.acquire()


def bucket_lacks_try_acquire() -> dict[str, Any]:
    """``token_bucket()`` returns an object without ``try_acquire``."""
    return _trio("acquire-only-bucket", token_bucket=AcquireOnlyBucket)


class QueueWithoutLength:
    """A queue whose ``__len__`` reads an attribute it never set (a typo'd field name)."""

    def __init__(self) -> None:
        self.queue: UnboundedQueue[Any] = UnboundedQueue()
        self.put, self.get = self.queue.put, self.queue.get
        self.put_nowait, self.get_nowait = self.queue.put_nowait, self.queue.get_nowait
        self.close = self.queue.close

    def __len__(self) -> int:
        return len(self.items)  # type: ignore[attr-defined]


def queue_len_typo() -> dict[str, Any]:
    """``len(queue)`` raises AttributeError from inside the implementation."""
    return _trio("typo-queue", unbounded_queue=QueueWithoutLength)


def bucket_lacks_acquire() -> dict[str, Any]:
    """``token_bucket()`` returns an object without ``acquire``."""
    return _trio("half-bucket", token_bucket=HalfBucket)


# -- methods that end the process or fake a Ctrl-C --------------------------------------------
class ExitingQueue(UnboundedQueue[Any]):
    """A trio queue whose ``put_nowait`` calls ``sys.exit``."""

    def put_nowait(self, item: Any) -> None:
        sys.exit(f"put_nowait({item}) gives up")


def queue_put_nowait_exits() -> dict[str, Any]:
    """A trio queue whose ``put_nowait`` raises SystemExit."""
    return _trio("exiting-queue", unbounded_queue=ExitingQueue)


class InterruptingQueue(UnboundedQueue[Any]):
    """A trio queue whose ``put_nowait`` raises KeyboardInterrupt (no Ctrl-C was pressed)."""

    def put_nowait(self, item: Any) -> None:
        raise KeyboardInterrupt


def queue_put_nowait_interrupts() -> dict[str, Any]:
    """A trio queue whose ``put_nowait`` raises KeyboardInterrupt."""
    return _trio("interrupting-queue", unbounded_queue=InterruptingQueue)


class GeneratorExitQueue(UnboundedQueue[Any]):
    """A trio queue whose ``put_nowait`` raises GeneratorExit (a generator's signal, misused)."""

    def put_nowait(self, item: Any) -> None:
        raise GeneratorExit


def queue_put_nowait_generator_exit() -> dict[str, Any]:
    """A trio queue whose ``put_nowait`` raises GeneratorExit."""
    return _trio("generator-exit-queue", unbounded_queue=GeneratorExitQueue)


class AsyncExitingQueue(BoundedQueue):
    """An asyncio queue whose blocking ``put`` calls ``sys.exit``."""

    async def put(self, item: Any) -> None:
        await asyncio.sleep(0)
        sys.exit(1)


def asyncio_put_exits() -> dict[str, Any]:
    """An asyncio queue whose ``put`` (an async method) calls ``sys.exit``."""
    return {
        "name": "async-exiting-queue",
        "backend": "asyncio",
        "factories": {"bounded_queue": AsyncExitingQueue},
        **_ASYNCIO_QUEUE_ERRORS,
    }


# -- cancellation that leaks out ---------------------------------------------------------------
class TaskGroupFirstError:
    """A first-error group on ``asyncio.TaskGroup``: leaving raises the group's first error.

    ``TaskGroup`` cancels the task that entered it when a child fails; on Python 3.11 that
    cancellation is not always absorbed, and it leaks into the caller.
    """

    def __init__(self) -> None:
        self.group = asyncio.TaskGroup()

    async def __aenter__(self) -> TaskGroupFirstError:
        await self.group.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await self.group.__aexit__(*exc_info)
        except BaseExceptionGroup as group:
            raise group.exceptions[0] from None

    def start_soon(self, fn: Callable[[], Awaitable[object]]) -> None:
        """Run ``fn`` in the group."""
        self.group.create_task(fn())  # type: ignore[arg-type]


def taskgroup_first_error() -> dict[str, Any]:
    """A first-error group built on ``asyncio.TaskGroup``."""
    return {
        "name": "taskgroup-group",
        "backend": "asyncio",
        "factories": {"first_error_group": TaskGroupFirstError},
    }


class CancellingGroup:
    """A first-error group whose leaving raises ``asyncio.CancelledError`` out of nowhere."""

    async def __aenter__(self) -> CancellingGroup:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        raise asyncio.CancelledError("made up")

    def start_soon(self, fn: Callable[[], Awaitable[object]]) -> None:
        """Accept ``fn`` and never run it (the exit raises anyway)."""
        fn().close()  # type: ignore[attr-defined]


def group_raises_cancelled() -> dict[str, Any]:
    """A first-error group that raises ``CancelledError`` nobody asked for."""
    return {
        "name": "cancelling-group",
        "backend": "asyncio",
        "factories": {"first_error_group": CancellingGroup},
    }


# -- faults outside the harness's calls ---------------------------------------------------------
class DyingThreadPool(ThreadPool):
    """A thread pool whose workers die with IndexError on their way out.

    Each worker, once the jobs run out, reports the last job it ran from a list nobody fills.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.finished: list[Any] = []

    def _work(self) -> None:
        super()._work()
        self.last_job = self.finished.pop()  # the bug: IndexError kills this worker thread


def thread_worker_dies() -> dict[str, Any]:
    """A thread pool whose worker threads die with IndexError as they end."""
    return {
        "name": "dying-thread-pool",
        "backend": "threads",
        "factories": {"worker_pool": DyingThreadPool},
        "closed_errors": [PoolClosed],
    }


class FireAndForgetQueue(BoundedQueue):
    """An asyncio queue that logs each put in a task nobody awaits, and the task raises."""

    def put_nowait(self, item: Any) -> None:
        super().put_nowait(item)

        async def audit() -> None:
            raise LookupError(f"audit log has no slot for {item}")

        asyncio.get_running_loop().create_task(audit())


def asyncio_task_never_retrieved() -> dict[str, Any]:
    """An asyncio queue whose background task raises and is never awaited."""
    return {
        "name": "fire-and-forget",
        "backend": "asyncio",
        "factories": {"bounded_queue": FireAndForgetQueue},
        **_ASYNCIO_QUEUE_ERRORS,
    }


# -- faults while loading the declaration ------------------------------------------------------
def declaration_exits() -> dict[str, Any]:
    """The declaration callable itself calls ``sys.exit(3)``."""
    sys.exit(3)


def declaration_interrupts() -> dict[str, Any]:
    """The declaration callable raises KeyboardInterrupt."""
    raise KeyboardInterrupt


def capabilities_five() -> dict[str, Any]:
    """``capabilities=5``: not a list of names."""
    return {
        "name": "five",
        "backend": "trio",
        "capabilities": 5,
        "factories": {"unbounded_queue": UnboundedQueue},
    }


__all__ = [
    "asyncio_put_exits",
    "asyncio_task_never_retrieved",
    "bucket_factory_returns_42",
    "bucket_lacks_acquire",
    "bucket_lacks_try_acquire",
    "capabilities_five",
    "declaration_exits",
    "declaration_interrupts",
    "group_raises_cancelled",
    "pool_factory_returns_none",
    "queue_len_typo",
    "queue_put_nowait_exits",
    "queue_put_nowait_generator_exit",
    "queue_put_nowait_interrupts",
    "taskgroup_first_error",
    "thread_worker_dies",
]


class ParentCancellingGroup:
    """A first-error group that cancels the task that entered it, and forgets it did.

    Like ``asyncio.TaskGroup`` when a task fails, it cancels its parent task to stop the block's
    body; unlike it, it never takes the request back, so the cancellation lands on the caller
    after the group returned.
    """

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[object]] = []

    async def __aenter__(self) -> ParentCancellingGroup:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        for task in self.tasks:
            await task
        parent = asyncio.current_task()
        assert parent is not None
        parent.cancel()

    def start_soon(self, fn: Callable[[], Awaitable[object]]) -> None:
        """Run ``fn`` as a task of its own."""
        self.tasks.append(asyncio.ensure_future(fn()))


def group_cancels_parent() -> dict[str, Any]:
    """A first-error group whose stray ``Task.cancel()`` lands in the caller later."""
    return {
        "name": "parent-cancelling-group",
        "backend": "asyncio",
        "factories": {"first_error_group": ParentCancellingGroup},
    }


# -- busy loops and huge allocations ----------------------------------------------------------
class SpinningTrioQueue(UnboundedQueue[Any]):
    """A trio queue whose ``put_nowait`` never returns and never yields."""

    def put_nowait(self, item: Any) -> None:
        """Spin."""
        while True:
            pass


def trio_busy_loop() -> dict[str, Any]:
    """A trio queue that spins in a call (no await: no guard inside the loop can run)."""
    return _trio("spinning-trio-queue", unbounded_queue=SpinningTrioQueue)


class SpinningAsyncioQueue(BoundedQueue):
    """An asyncio queue whose ``put_nowait`` never returns."""

    def put_nowait(self, item: Any) -> None:
        """Spin."""
        while True:
            pass


def asyncio_busy_loop() -> dict[str, Any]:
    """An asyncio queue that spins in a call."""
    return {
        "name": "spinning-asyncio-queue",
        "backend": "asyncio",
        "factories": {"bounded_queue": SpinningAsyncioQueue},
        **_ASYNCIO_QUEUE_ERRORS,
    }


class SpinningThreadPool(ThreadPool):
    """A thread pool whose ``submit_nowait`` spins (on the caller's thread)."""

    def submit_nowait(self, id: Any, payload: Any) -> None:
        """Spin."""
        while True:
            pass


def threads_busy_loop() -> dict[str, Any]:
    """A thread pool that spins in a non-blocking call."""
    return {
        "name": "spinning-thread-pool",
        "backend": "threads",
        "factories": {"worker_pool": SpinningThreadPool},
        "closed_errors": [PoolClosed],
    }


class GreedyQueue(UnboundedQueue[Any]):
    """A trio queue that asks for ten terabytes on every put."""

    def put_nowait(self, item: Any) -> None:
        """Allocate far more than any machine has."""
        self.ballast = bytearray(10**13)
        super().put_nowait(item)


def huge_allocation() -> dict[str, Any]:
    """A trio queue whose put allocates ten terabytes (MemoryError)."""
    return _trio("greedy-queue", unbounded_queue=GreedyQueue)


# -- a task that will not die -------------------------------------------------------------------
class StubbornTaskQueue(BoundedQueue):
    """An asyncio queue whose ``put_nowait`` starts a task that shrugs off every cancellation."""

    def put_nowait(self, item: Any) -> None:
        """Put, and leave a task behind that outlives the example."""
        super().put_nowait(item)
        asyncio.get_running_loop().create_task(_stubborn(), name="stubborn")


async def _stubborn() -> None:
    while True:
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            continue


def asyncio_stubborn_task() -> dict[str, Any]:
    """An asyncio queue that leaks a task no cancellation ends."""
    return {
        "name": "stubborn-task-queue",
        "backend": "asyncio",
        "factories": {"bounded_queue": StubbornTaskQueue},
        **_ASYNCIO_QUEUE_ERRORS,
    }
