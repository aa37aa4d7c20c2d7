"""The threads backend: blocking, thread-based implementations on the real clock.

The implementation's methods block and its handler runs in its own threads. The harness wraps
each object it builds in :class:`ThreadFacade`, an async facade over the same contract:

* the methods the contract declares ``async`` run in a fresh daemon thread each, awaited on
  the loop (abandoned if the harness cancels the wait: a thread cannot be interrupted);
* ``async with`` becomes ``with`` in such a thread, and a result stream that is a plain
  iterator is read through ``next`` in such a thread;
* harness callbacks that are async (the pool's handler) reach the implementation as plain
  functions that run the callback on the harness's loop through ``anyio.from_thread.run``.

Not ``anyio.to_thread``: its worker threads are not daemons, so one stuck forever in a
deadlocked implementation would keep the harness process from exiting.

Virtual time cannot pause a running thread, so the harness's asyncio loop runs on the real
clock with a time scale: one model second is :data:`TIME_SCALE` real seconds. A settled
instant is approximate: the loop has nothing to run, no event was recorded for
:data:`SETTLE_GRACE` real seconds, and every other thread waits on a lock (its innermost
frame is in ``threading`` or ``queue``); this is checked up to :data:`SETTLE_ROUNDS` times,
after which the instant is judged anyway.

Tolerances, also written into each report: timestamps carry the threads' scheduling jitter,
so rules judged on elapsed time are waived (see :attr:`ThreadsBackend.waived`) and
``cancel()`` is not driven; the other rules are judged on the order of events, which the
settle makes reliable unless the machine stalls a runnable thread for longer than the grace.
Only the worker-pool pattern is driven: a thread blocked in a queue's ``put`` cannot be
cancelled, so the queue's cancellation rules have no meaning here.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import linecache
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping
from types import FrameType, TracebackType
from typing import Any, ClassVar, Final

import anyio
import anyio.from_thread
import anyio.lowlevel

from harness.backends.asyncio_run import AsyncioRuntime, GuardedLoop, run_guarded
from harness.backends.base import Backend, Runtime
from harness.guards import Budgets
from harness.rules import Pattern

#: Real seconds per model second.
TIME_SCALE: Final = 0.02
#: Real seconds without a new event after which the harness calls an instant settled.
SETTLE_GRACE: Final = 0.03
#: At most this many grace periods per settled instant (a busy system is still judged).
SETTLE_ROUNDS: Final = 20
#: Examples per search: each one takes real time.
MAX_EXAMPLES: Final = 20

#: Contract methods that block in a thread-based implementation, per factory.
_BLOCKING: Final[dict[str, frozenset[str]]] = {"worker_pool": frozenset({"submit"})}
#: Contract attributes that are streams of results, per factory.
_STREAMS: Final[dict[str, frozenset[str]]] = {"worker_pool": frozenset({"results"})}
_END: Final = object()
#: The name prefix of the harness's own threads (one per blocking call).
_CALL_THREAD: Final = "poolcheck blocking call"
#: Where a thread that waits on a lock or a queue has its innermost frame.
_WAITING_MODULES: Final = (f"{os.sep}threading.py", f"{os.sep}queue.py")
#: An idle ``ThreadPoolExecutor`` worker waits in C (``SimpleQueue.get``) from this function.
_EXECUTOR_WORKER: Final = (f"concurrent{os.sep}futures{os.sep}thread.py", "_worker")


def _waiting(frame: FrameType) -> bool:
    """Whether the thread whose innermost Python frame is ``frame`` waits for something."""
    code = frame.f_code
    if code.co_filename.endswith(_WAITING_MODULES):
        return True
    if code.co_filename.endswith(_EXECUTOR_WORKER[0]) and code.co_name == _EXECUTOR_WORKER[1]:
        # Idle between jobs only on its blocking get; anywhere else it is running a job.
        line = linecache.getline(code.co_filename, frame.f_lineno)
        return "work_queue.get(block=True)" in line
    return False


def _settle_future(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return  # the harness stopped waiting (cancelled): the outcome is dropped
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


async def run_blocking(fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn(*args)`` in a new daemon thread and await its outcome.

    Cancelling the wait abandons the thread (it cannot be interrupted).
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def target() -> None:
        result: Any = None
        error: BaseException | None = None
        try:
            result = fn(*args)
        except BaseException as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(_settle_future, future, result, error)

    threading.Thread(target=target, name=f"{_CALL_THREAD} {fn!r:.60}", daemon=True).start()
    return await future


class _SyncStream:
    """An async iterator over a blocking iterator: each ``next`` runs in a worker thread."""

    def __init__(self, iterable: Any) -> None:
        self.iterator: Iterator[Any] = iter(iterable)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        item = await run_blocking(next, self.iterator, _END)
        if item is _END:
            raise StopAsyncIteration
        return item


class ThreadFacade:
    """The async contract over one blocking object of a thread-based implementation."""

    def __init__(self, obj: Any, blocking: frozenset[str], streams: frozenset[str]) -> None:
        self._obj = obj
        self._blocking = blocking
        self._streams = streams

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._obj, name)
        if name in self._streams:
            return _SyncStream(value)
        if name in self._blocking:

            async def call(*args: Any) -> Any:
                return await run_blocking(value, *args)

            return call
        return value

    async def __aenter__(self) -> ThreadFacade:
        await run_blocking(self._obj.__enter__)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        result = await run_blocking(self._obj.__exit__, exc_type, exc, tb)
        return bool(result)

    def __len__(self) -> int:
        return len(self._obj)


def _sync_callback(fn: Callable[..., Coroutine[Any, Any, Any]], token: Any) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        return anyio.from_thread.run(fn, *args, token=token)

    return call


def _is_harness_thread(thread: threading.Thread) -> bool:
    return thread is threading.main_thread() or thread.name.startswith(_CALL_THREAD)


class ThreadsRuntime(AsyncioRuntime):
    """A real-clock asyncio runtime that also counts the implementation's threads."""

    time_scale = TIME_SCALE
    settle_grace = SETTLE_GRACE
    interruptible = False

    def __init__(self, loop: GuardedLoop) -> None:
        super().__init__(loop)
        self.activity = 0

    def note_activity(self) -> None:
        """An event was recorded: the system is not quiet yet."""
        self.activity += 1

    async def wait_all_tasks_blocked(self) -> None:
        """The loop has nothing to run and no thread handed it work for a grace period."""
        await super().wait_all_tasks_blocked()
        for _ in range(SETTLE_ROUNDS):
            before = (self.activity, _activity(self.loop))
            await anyio.sleep(SETTLE_GRACE)
            await super().wait_all_tasks_blocked()
            if (self.activity, _activity(self.loop)) == before and _threads_waiting():
                return

    def census(self) -> dict[int, str]:
        """The loop's tasks and every thread but the harness's own."""
        found = super().census()
        for thread in threading.enumerate():
            if not _is_harness_thread(thread):
                found[id(thread)] = f"thread {thread.name}"
        return found

    async def leftovers(self, baseline: Mapping[int, str]) -> list[str]:
        """What is alive after a grace period (a joined thread may still be unwinding)."""
        left: list[str] = []
        for _ in range(SETTLE_ROUNDS):
            left = await super().leftovers(baseline)
            if not left:
                break
            await anyio.sleep(SETTLE_GRACE)
        return left

    def adapt(self, factory_name: str, make: Callable[..., Any]) -> Callable[..., Any]:
        """A factory that hands sync callbacks in and returns the async facade."""
        token = anyio.lowlevel.current_token()

        def build(**kwargs: Any) -> ThreadFacade:
            converted = {
                key: _sync_callback(value, token) if inspect.iscoroutinefunction(value) else value
                for key, value in kwargs.items()
            }
            return ThreadFacade(
                make(**converted),
                _BLOCKING.get(factory_name, frozenset()),
                _STREAMS.get(factory_name, frozenset()),
            )

        return build


def _threads_waiting() -> bool:
    """Whether every thread but the loop's waits on a lock (is not running Python code).

    A thread blocked in ``Condition.wait``, ``Lock.acquire``, ``Thread.join`` or a queue
    has ``threading``'s or ``queue``'s code as its innermost frame. A thread blocked in C
    (a socket, ``time.sleep``) looks busy: the settle then gives up after its last round.
    """
    me = threading.get_ident()
    for ident, frame in sys._current_frames().items():
        if ident == me:
            continue
        if not _waiting(frame):
            return False
    return True


def _activity(loop: GuardedLoop) -> int:
    # Every callback a thread hands to the loop goes through call_soon_threadsafe, and every
    # step of the example bumps the iteration count: unchanged counts mean a quiet system.
    return int(getattr(loop, "activity", 0))


class _CountingLoop(GuardedLoop):
    """A real-clock guarded loop that counts what threads hand to it."""

    activity = 0

    def call_soon_threadsafe(self, callback: Any, *args: Any, context: Any = None) -> Any:
        self.activity += 1
        return super().call_soon_threadsafe(callback, *args, context=context)


class ThreadsBackend(Backend):
    """Runs thread-based implementations on the real clock through an async facade."""

    name = "threads"
    waived: ClassVar[Mapping[str, str]] = {
        "POOL-CANCEL-PROMPT": "threads cannot be interrupted, and promptness is judged on elapsed "
        "time, which real threads only approximate",
        "POOL-TIMEOUT": "judged on elapsed time, which real threads only approximate",
    }
    unsupported: ClassVar[Mapping[Pattern, str]] = {
        pattern: "the threads backend drives only the worker pool (a thread blocked in a call "
        "cannot be cancelled, which these patterns' rules are about)"
        for pattern in Pattern
        if pattern is not Pattern.POOL
    }
    max_examples = MAX_EXAMPLES
    note = (
        f"threads backend: real clock, 1 model s = {TIME_SCALE} s, settled after "
        f"{SETTLE_GRACE} s of quiet; at most {MAX_EXAMPLES} examples per pattern; cancel() is "
        "not driven and rules judged on elapsed time are not applicable"
    )

    def run(
        self, main: Callable[[Runtime], Awaitable[None]], budgets: Budgets, seed: int
    ) -> str | None:
        """A fresh real-clock guarded loop per example."""
        loop = _CountingLoop(budgets, virtual=False)
        loop.scale = TIME_SCALE
        loop.origin = loop.time()
        loop.wall_deadline = time.monotonic() + max(
            budgets.wall_budget, budgets.call_deadline * TIME_SCALE * 20
        )
        return run_guarded(loop, main(ThreadsRuntime(loop)))
