"""The ordering driver: numbered puts into one ``reorderer``, and its in-order consumer.

The stage is built from ``params["window"]``. A consumer task always waits in ``get()`` and
records every item it receives; the caller hands in sequence numbers (each once, in whatever
order it likes) and closes the producer side. The item put under a seq is :func:`item_of`
of it, so an item that comes out under the wrong seq shows.

Events (see :mod:`harness.checkers.ordering`): ``put_begin`` (id=seq, ``item``), ``put_ok``
(id=seq), ``put_closed`` (id=seq), ``get_begin``, ``emit`` (id=seq, ``item``), ``get_end``
(``how``: ``end`` or ``closed``), ``close``, plus the shared ``hang``/``crash``. The reorder
contract has no counters, so no ``metrics`` event is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import anyio

from harness.checkers.ordering import OrderingChecker
from harness.checking import Checker
from harness.drivers.base import Driver
from harness.drivers.host import Host, StepFailed
from harness.events import as_scalar
from harness.rules import Pattern

__all__ = ["OrderingDriver", "item_of"]


def item_of(seq: int) -> str:
    """The payload put under ``seq``: distinct per seq, so a swapped item shows."""
    return f"item-{seq}"


class OrderingDriver(Driver):
    """One ``reorderer``: its consumer task, each put, and close."""

    pattern: ClassVar[Pattern] = Pattern.ORDERING
    factories: ClassVar[tuple[str, ...]] = ("reorderer",)

    def __init__(self, host: Host, params: Mapping[str, Any]) -> None:
        super().__init__(host, params)
        self.stage: Any = None
        #: How many items the consumer has received: its frontier.
        self.received = 0
        self.closed = False
        self.reader_done = anyio.Event()

    @classmethod
    def make_checkers(cls, params: Mapping[str, Any]) -> list[Checker]:
        """ORDER-RESTORED is decided by one checker."""
        return [OrderingChecker(params)]

    async def setup(self) -> None:
        """Build the stage and start the consumer."""
        window = self.params["window"]
        self.stage = self.host.call_sync(
            f"reorderer(window={window})", self.host.factory("reorderer"), window=window
        )
        self.host.spawn(self._consumer, "ordering-consumer")

    async def _consumer(self) -> None:
        try:
            await self._consume()
        finally:
            self.reader_done.set()

    async def _consume(self) -> None:
        record = self.record
        end_errors = self.implementation.end_errors
        closed_errors = self.implementation.closed_errors
        while True:
            record("get_begin")
            try:
                got = await self.stage.get()
            except end_errors:
                record("get_end", how="end")
                return
            except closed_errors:
                record("get_end", how="closed")
                return
            except Exception as exc:
                record("crash", "get()", error=repr(exc)[:200])
                return
            try:
                seq, item = got
            except (TypeError, ValueError):
                record("crash", "get()", error=f"returned {got!r}, not (seq, item)")
                return
            self.received += 1
            record("emit", as_scalar(seq), item=as_scalar(item))

    async def put(self, seq: int, *, deadline: bool = True) -> bool:
        """Hand in ``seq`` with its item; whether it was accepted (False: refused as closed).

        Without ``deadline`` the put may wait as long as it takes: beyond the window it
        rightly blocks until the consumer catches up, which the search may put off until its
        teardown fills the gaps.
        """
        item = item_of(seq)
        what = f"put({seq})"
        closed_errors = self.implementation.closed_errors

        async def put() -> bool:
            try:
                await self.stage.put(seq, item)
            except closed_errors:
                return False
            except Exception as exc:
                self.record("crash", what, error=repr(exc)[:200])
                raise StepFailed(what) from exc
            return True

        self.record("put_begin", seq, item=item)
        accepted = await (self.host.call(what, put) if deadline else put())
        self.record("put_ok" if accepted else "put_closed", seq)
        return accepted

    async def close(self) -> None:
        """Close the producer side: later puts are refused, the consumer sees the end."""
        self.closed = True
        self.record("close")
        await self.host.call("close()", self.stage.close)

    async def wait_end(self) -> None:
        """Wait, under the deadline, for the consumer to see the end of the stream."""
        if not await self.host.wait(self.reader_done, "get() after close"):
            raise StepFailed("get() after close")
