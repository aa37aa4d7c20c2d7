"""The batch driver: puts and close against one ``batcher``, and the batches it flushes.

One batcher (factory ``batcher(max_size=..., max_age=...)``) is driven by:

* a host task holding ``async with batcher:`` open until :meth:`BatchDriver.finish` (its
  nursery must be entered and left by one task, and not inside a call deadline's cancel
  scope);
* a reader task that always waits on ``batcher.batches`` and records every batch;
* :meth:`BatchDriver.put`, one item through a deadline-guarded call (a put may wait for the
  batching task, never for long). The caller puts one item at a time, so the order of the
  puts is the put order, and makes no put after close;
* :meth:`BatchDriver.close`, recorded before the call, so a flush it causes follows it.

Events recorded (see :mod:`harness.checkers.batch`): ``put_begin`` id=item; ``put_ok``
id=item; ``flush`` data ``items`` (list), ``size``; ``batches_end``; ``close``; ``metrics``
data ``counters`` (at settled instants, with the ``metrics`` capability); plus the shared
``idle``, ``hang``, ``crash``, ``leak``, ``end``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from harness.checkers.batch import BatchChecker
from harness.checking import Checker
from harness.drivers.base import Block, Driver, receiver
from harness.drivers.host import Host
from harness.rules import Pattern

__all__ = ["BatchDriver"]


class BatchDriver(Driver):
    """One ``batcher``: its host and reader tasks, each put, and close."""

    pattern: ClassVar[Pattern] = Pattern.BATCH
    factories: ClassVar[tuple[str, ...]] = ("batcher",)

    def __init__(self, host: Host, params: Mapping[str, Any]) -> None:
        super().__init__(host, params)
        self.batcher: Any = None
        self.closed = False
        self.block: Block | None = None

    @classmethod
    def make_checkers(cls, params: Mapping[str, Any]) -> list[Checker]:
        """BATCH-BOUNDS (and the batch counters) are decided by one checker."""
        return [BatchChecker(params)]

    # -- the harness side of the batcher -----------------------------------------------------
    async def _read(self) -> None:
        try:
            receive = receiver(self.batcher.batches)
            end_errors = self.implementation.end_errors
            while True:
                try:
                    batch = await receive()
                except end_errors:
                    self.record("batches_end")
                    return
                items = list(batch)
                self.record("flush", None, items=items, size=len(items))
        except Exception as exc:
            self.record("crash", "batches.receive()", error=repr(exc)[:200])

    # -- lifecycle ---------------------------------------------------------------------------
    async def setup(self) -> None:
        """Build the batcher, enter its block in the host task, start the reader."""
        max_size, max_age = self.params["max_size"], self.params["max_age"]
        self.batcher = self.host.call_sync(
            f"batcher(max_size={max_size}, max_age={max_age})",
            self.host.factory("batcher"),
            max_size=max_size,
            max_age=max_age,
        )
        self.block = Block(self.host, self.batcher, "batcher")
        await self.block.open(self._read)

    async def finish(self) -> None:
        """After close: wait for ``batches`` to end, leave the block, wait for it to exit."""
        assert self.block is not None
        await self.block.wait(self.block.reader_done, "batches after close()")
        self.block.leave()
        await self.block.wait(self.block.done, "block exit")

    async def observe(self, counters: bool = True) -> None:
        """Record the batcher's counters (capability ``metrics``)."""
        counted = self.read_counters(self.batcher) if counters else None
        if counted is not None:
            self.record("metrics", None, counters=dict(counted))

    # -- operations --------------------------------------------------------------------------
    async def put(self, item: Any) -> None:
        """Put one item: it is accepted by the time the put returns."""
        self.record("put_begin", item)
        await self.host.call(f"put({item})", self.batcher.put, item)
        self.record("put_ok", item)

    async def close(self) -> None:
        """Close the batcher: the partial batch is flushed and ``batches`` ends."""
        self.closed = True
        self.record("close")
        await self.host.call("close()", self.batcher.close)
