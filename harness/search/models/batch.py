"""The batch model: a producer puts items, time passes, a consumer reads the flushed batches.

One batcher (factory ``batcher(max_size=..., max_age=...)``) is driven by:

* a host task holding ``async with batcher:`` open for the whole run (its nursery must be entered
  and left by one task, and not inside a call deadline's cancel scope);
* a consumer task that always waits on ``batcher.batches`` and records every batch;
* ``put``: one item, and ``put_burst``: several items back to back (no time passes), both
  through deadline-guarded calls (a put may wait for the batching task, never for long); the
  puts are sequential, so their order is the put order; no put is made after close;
* ``close``: the producer closes the batcher;
* ``advance``: virtual time passes by an amount drawn around ``max_age`` (exactly it, slightly
  less, slightly more, half, double), so flushes right at, just before and past the age happen;
* ``nudge``: a fraction of ``max_age`` passes, so batches start off any grid of period
  ``max_age`` (a flusher on a fixed ticker then shows up as early or late).

Teardown closes (if not closed yet), waits for ``batches`` to end and for the host to leave the
block. With the ``metrics`` capability the batcher's counters are read at the start of every
operation (a settled instant) and after teardown.

Events recorded (see :mod:`harness.checkers.batch`): ``put_begin`` id=item; ``put_ok`` id=item;
``flush`` data ``items`` (list), ``size``; ``batches_end``; ``close``; ``metrics`` data
``counters``; plus the shared ``params``, ``idle``, ``hang``, ``crash``, ``leak``, ``end``.
Items are the integers 0, 1, 2, ... in put order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import anyio
from hypothesis import strategies as st

from harness.checkers.batch import BatchChecker
from harness.checking import Checker
from harness.contract import Implementation
from harness.rules import Pattern
from harness.search.model import MAX_ADVANCE, Model, StepFailed, receiver


class BatchModel(Model):
    """Drives a ``batcher`` with puts, bursts, close and time around ``max_age``."""

    pattern: ClassVar[Pattern] = Pattern.BATCH
    factories: ClassVar[tuple[str, ...]] = ("batcher",)
    max_steps: ClassVar[int] = 15

    @classmethod
    def draw_params(cls, data: st.DataObject, implementation: Implementation) -> dict[str, Any]:
        """Small sizes (bursts overflow them) and a few ages."""
        max_size = data.draw(st.integers(1, 5), label="max_size")
        max_age = data.draw(st.sampled_from([0.1, 0.5, 1.0]), label="max_age")
        return {
            "pattern": str(Pattern.BATCH),
            "factory": "batcher",
            "max_size": max_size,
            "max_age": max_age,
        }

    @classmethod
    def make_checkers(cls, params: dict[str, Any]) -> list[Checker]:
        """BATCH-BOUNDS (and the batch counters) are decided by one checker."""
        return [BatchChecker(params)]

    async def setup(self, params: dict[str, Any]) -> None:
        """Build the batcher, enter its block in a host task, start the consumer."""
        self.max_size: int = params["max_size"]
        self.max_age: float = params["max_age"]
        make = self.session.factory("batcher")
        self.batcher: Any = self.session.call_sync(
            f"batcher(max_size={self.max_size}, max_age={self.max_age})",
            lambda: make(max_size=self.max_size, max_age=self.max_age),
        )
        self.next_item = 0
        self.closed = False
        self.entered = False
        self.ready = anyio.Event()  # the block was entered, or entering failed
        self.release = anyio.Event()
        self.host_done = anyio.Event()
        self.reader_done = anyio.Event()
        self.session.spawn(self._host, "batch-host")
        if not await self._wait(self.ready, "async with batcher (enter)"):
            raise StepFailed("enter")
        if not self.entered:
            raise StepFailed("enter")
        self.session.spawn(self._consume, "batch-consumer")

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """Put, burst, close, advance."""
        return {
            "put": self.put,
            "put_burst": self.put_burst,
            "close": self.close,
            "advance": self.advance,
            "nudge": self.nudge,
        }

    async def _wait(self, event: anyio.Event, what: str) -> bool:
        deadline = self.session.budgets.call_deadline
        with self.session.move_on_after(deadline):
            await event.wait()
            return True
        self.session.record("hang", what, deadline=deadline)
        return False

    async def _host(self) -> None:
        stage = "__aenter__"
        try:
            async with self.batcher:
                self.entered = True
                self.ready.set()
                await self.release.wait()
                stage = "__aexit__"
        except Exception as exc:
            self.session.record("crash", f"batcher.{stage}", error=repr(exc))
        finally:
            self.ready.set()
            self.host_done.set()

    async def _consume(self) -> None:
        try:
            receive = receiver(self.batcher.batches)
            while True:
                try:
                    batch = await receive()
                except self.implementation.end_errors:
                    self.session.record("batches_end")
                    return
                try:
                    items = list(batch)
                except TypeError as exc:
                    self.session.record("crash", "batches.receive()", error=repr(exc))
                    return
                self.session.record("flush", None, items=items, size=len(items))
        except Exception as exc:
            self.session.record("crash", "batches.receive()", error=repr(exc))
        finally:
            self.reader_done.set()

    def _observe(self) -> None:
        counters = self.session.call_sync(
            "counters()", self.implementation.read_counters, self.batcher
        )
        if counters is not None:
            self.session.record("metrics", None, counters=dict(counters))

    async def _put_one(self) -> None:
        item = self.next_item
        self.next_item += 1
        self.session.record("put_begin", item)
        await self.session.call(f"put({item})", self.batcher.put, item)
        self.session.record("put_ok", item)

    async def put(self) -> None:
        """Operation: put one item (skipped after close)."""
        self._observe()
        if self.closed:
            return
        self.session.step(f"put({self.next_item})")
        await self._put_one()

    async def put_burst(self) -> None:
        """Operation: put several items at one instant, often enough to fill a batch or more."""
        self._observe()
        if self.closed:
            return
        count = self.session.draw(st.integers(2, self.max_size + 2), label="burst")
        self.session.step(f"put {count} items {self.next_item}..{self.next_item + count - 1}")
        for _ in range(count):
            await self._put_one()

    async def close(self) -> None:
        """Operation: close the batcher (flushes the partial batch, ends ``batches``)."""
        self._observe()
        if self.closed:
            return
        self.session.step("close()")
        self._close()

    def _close(self) -> None:
        self.closed = True
        self.session.record("close")
        self.session.call_sync("close()", self.batcher.close)

    async def advance(self) -> None:
        """Operation: let time pass by an amount chosen around ``max_age``."""
        self._observe()
        age = self.max_age
        seconds = self.session.draw(
            st.sampled_from([age, age * 0.99, age * 1.01, age / 2, age * 2, 0.001, MAX_ADVANCE]),
            label="advance",
        )
        await self.session.advance(seconds)

    async def nudge(self) -> None:
        """Operation: let a fraction of ``max_age`` pass, off any tick grid of period max_age."""
        self._observe()
        fraction = self.session.draw(st.sampled_from([0.3, 0.5, 0.7]), label="nudge")
        await self.session.advance(self.max_age * fraction)

    async def teardown(self) -> None:
        """Close, wait for ``batches`` to end and for the block to exit."""
        if not self.closed:
            self.session.step("close()")
            self._close()
        if not await self._wait(self.reader_done, "batches after close()"):
            raise StepFailed("batches")
        self._observe()
        self.release.set()
        if not await self._wait(self.host_done, "async with batcher (exit)"):
            raise StepFailed("exit")
