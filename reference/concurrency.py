"""Bounding concurrency with a limiter (guide §1 "control concurrency", §3).

A worker pool bounds how many jobs run at once by having only N workers. The same bound is
often wanted without a pool: at most ``limit`` callers inside a section at a time, the rest
waiting their turn (a semaphore, trio's ``CapacityLimiter``, a library's ``max_at_once``).
:class:`ConcurrencyLimiter` is that limiter, written to be checkable:

- **Bound**: at most ``limit`` tasks hold a slot at once.
- **First come, first served**: waiters get slots in the order they began to wait, and a
  newcomer never takes a free slot while someone is waiting (no barging).
- **Hand-over**: a released slot goes straight to the first waiter, at the instant of the
  release, so a slot is never free while anyone waits.
- **Cancellation**: a waiter cancelled while waiting leaves the line having taken nothing
  (a slot handed to it in the same instant is handed on); a holder cancelled inside
  ``async with limiter:`` returns its slot on the way out.
- **Release by the holder**: the holder is the task that acquired; ``release()`` from any
  other task raises ``RuntimeError`` and changes nothing, so a stray release can never
  manufacture a slot.
"""

from __future__ import annotations

from collections import deque
from types import TracebackType

import trio


class _Waiter:
    __slots__ = ("granted", "task")

    def __init__(self, task: trio.lowlevel.Task) -> None:
        self.task = task
        self.granted = trio.Event()


class ConcurrencyLimiter:
    """At most ``limit`` tasks hold a slot at once; the others wait in FIFO order.

    Use ``async with limiter:`` or ``await limiter.acquire()`` ... ``limiter.release()`` from
    the same task.
    """

    def __init__(self, limit: int) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be an integer >= 1, got {limit!r}")
        self.limit = limit
        self._holders: set[trio.lowlevel.Task] = set()
        self._line: deque[_Waiter] = deque()

    @property
    def holders(self) -> int:
        """How many tasks hold a slot now."""
        return len(self._holders)

    @property
    def waiting(self) -> int:
        """How many tasks wait for a slot now."""
        return len(self._line)

    def _hand_over(self) -> None:
        # Slots go to waiters at the instant they are freed: the waiter is a holder from here
        # on, before it even runs, so no newcomer can slip in between.
        while self._line and len(self._holders) < self.limit:
            waiter = self._line.popleft()
            self._holders.add(waiter.task)
            waiter.granted.set()

    async def acquire(self) -> None:
        """Wait behind earlier waiters until a slot is free, and take it.

        Raises ``RuntimeError`` if the calling task holds a slot already. A cancelled acquire
        takes nothing.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        task = trio.lowlevel.current_task()
        if task in self._holders:
            raise RuntimeError("this task already holds a slot of this limiter")
        if len(self._holders) < self.limit and not self._line:
            self._holders.add(task)
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        waiter = _Waiter(task)
        self._line.append(waiter)
        try:
            await waiter.granted.wait()
        except BaseException:
            # Cancelled (or interrupted) while waiting: leave the line; a slot handed to us
            # in this same instant is handed on, so the cancellation costs nobody a slot.
            if waiter.granted.is_set():
                self._holders.discard(task)
                self._hand_over()
            else:
                self._line.remove(waiter)
            raise

    def release(self) -> None:
        """Return the calling task's slot (to the first waiter, if any).

        Raises ``RuntimeError``, changing nothing, if the calling task holds no slot.
        """
        task = trio.lowlevel.current_task()
        if task not in self._holders:
            raise RuntimeError("release() by a task that holds no slot of this limiter")
        self._holders.remove(task)
        self._hand_over()

    async def __aenter__(self) -> None:
        """Acquire a slot for the block."""
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Return the slot, however the block ends (cancellation included)."""
        self.release()
