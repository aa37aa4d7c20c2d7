"""The ordering driver: numbered puts into one ``reorderer``, and its in-order consumer.

The stage is built from ``params["window"]``. A consumer task always waits in ``get()`` and
records every item it receives; the caller hands in sequence numbers (each once, in whatever
order it likes) and closes the producer side. The item put under a seq is :func:`item_of`
of it, so an item that comes out under the wrong seq shows. Both waiting calls can be cancelled
by their caller, natively for the backend (:class:`~harness.drivers.host.CallerScope`): a put
before it starts or while it waits, the consumer's ``get()`` likewise.

Events (see :mod:`harness.checkers.ordering`): ``put_begin`` (id=seq, ``item``), ``put_ok``
(id=seq), ``put_closed`` (id=seq), ``put_cancelled`` (id=seq: the producer's cancellation came
out of it), ``get_begin``, ``emit`` (id=seq, ``item``), ``get_cancelled`` (the same for a
``get()``), ``get_end`` (``how``: ``end`` or ``closed``), ``close``, plus the shared
``hang``/``crash`` and the caller's ``caller_cancel``/``caller_cancel_end``. The reorder contract
has no counters, so no ``metrics`` event is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import anyio

from harness.checkers.ordering import OrderingChecker
from harness.checking import Checker
from harness.drivers.base import Driver
from harness.drivers.host import CallerScope, Host, StepFailed
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
        #: The consumer's caller of its current ``get()``, and whether it cancels the next at
        #: its entry.
        self.getter: CallerScope | None = None
        self.cancel_next_get = False
        #: The producers' callers of the puts still running, by seq.
        self.putting: dict[int, CallerScope] = {}

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
        while True:
            record("get_begin")
            how, got = await self._get()
            if how == "cancelled":
                record("get_cancelled")
                continue
            if how != "item":
                if how != "crash":
                    record("get_end", how=how)
                return
            try:
                seq, item = got
            except (TypeError, ValueError):
                record("crash", "get()", error=f"returned {got!r}, not (seq, item)")
                return
            self.received += 1
            record("emit", as_scalar(seq), item=as_scalar(item))

    async def _get(self) -> tuple[str, Any]:
        """The consumer's next ``get()``: how it ended, and what it returned.

        How: ``item``, ``end``, ``closed``, ``crash`` or ``cancelled``. It has no deadline (the
        consumer waits as long as no item is due) and runs under the consumer's
        :class:`CallerScope` (:attr:`getter`), so :meth:`cancel_get` can cancel it.
        """
        end_errors = self.implementation.end_errors
        closed_errors = self.implementation.closed_errors

        async def get() -> tuple[str, Any]:
            try:
                return "item", await self.stage.get()
            except end_errors:
                return "end", None
            except closed_errors:
                return "closed", None
            except Exception as exc:
                self.record("crash", "get()", error=repr(exc)[:200])
                return "crash", None

        caller = self.getter = CallerScope(self.host, None, "get")
        if self.cancel_next_get:
            self.cancel_next_get = False
            caller.cancel("entry")
        # An end or a refusal is no return: the implementation raised.
        ended = await caller.call(
            "get()", get, deadline=False, returned=lambda ended: ended[0] == "item"
        )
        return ("cancelled", None) if ended is None else ended

    def cancel_get(self, how: str = "once") -> None:
        """The consumer cancels its ``get()`` (``how``: ``CANCEL_HOWS``).

        ``entry`` cancels the next get before it starts; any other way, the get now waiting
        (nothing if the consumer is between two gets, or has seen the end).
        """
        if how == "entry":
            self.cancel_next_get = True
        elif self.getter is not None:
            self.getter.cancel(how)

    async def put(
        self, seq: int, *, deadline: bool = True, cancel_first: bool = False
    ) -> bool | None:
        """Hand in ``seq`` with its item; whether it was accepted (False: refused as closed).

        Without ``deadline`` the put may wait as long as it takes: beyond the window it
        rightly blocks until the consumer catches up, which the search may put off until its
        teardown fills the gaps. It runs under its producer's :class:`CallerScope`, which
        :meth:`cancel_put` cancels while it waits; with ``cancel_first`` the producer has
        cancelled it before it starts. None is returned when the cancellation came out of it,
        which must leave nothing stored.
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
        caller = self.putting[seq] = CallerScope(self.host, None, seq)
        if cancel_first:
            caller.cancel("entry")
        try:
            accepted = await caller.call(what, put, deadline=deadline, returned=bool)
        finally:
            self.putting.pop(seq, None)
        if accepted is None:
            self.record("put_cancelled", seq)
            return None
        self.record("put_ok" if accepted else "put_closed", seq)
        return accepted

    def cancel_put(self, seq: int, how: str = "once") -> None:
        """The producer cancels its put of ``seq`` while it waits (``how``: ``CANCEL_HOWS``)."""
        caller = self.putting.get(seq)
        if caller is not None:
            caller.cancel(how)

    async def close(self) -> None:
        """Close the producer side: later puts are refused, the consumer sees the end."""
        self.closed = True
        self.record("close")
        await self.host.call("close()", self.stage.close)

    async def wait_end(self) -> None:
        """Wait, under the deadline, for the consumer to see the end of the stream."""
        if not await self.host.wait(self.reader_done, "get() after close"):
            raise StepFailed("get() after close")
