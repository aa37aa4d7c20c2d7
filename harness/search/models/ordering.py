"""The ordering model: producers hand in numbered items out of order, a consumer reads in order.

One reorder stage (factory ``reorderer(window=...)``) is driven by:

* a consumer task that always waits in ``get()`` and records every item it receives;
* ``put``: a producer task (spawned, since a put beyond the window blocks) hands in a seq not put
  before, drawn near the consumer's frontier (inside the window, just past it, or filling a gap);
* ``close``: the producer side closes the stage;
* ``advance``: virtual time passes (nothing here depends on time, but a stage might).

Teardown fills every gap below the highest seq put (unless the stage was closed), closes, and
waits for the consumer to see the end. Events recorded (see :mod:`harness.checkers.ordering`):
``put_begin`` id=seq data ``item``; ``put_ok`` id=seq; ``put_closed`` id=seq; ``get_begin``;
``emit`` id=seq data ``item``; ``get_end`` (data ``how``: ``end`` or ``closed``); ``close``;
plus the shared ``params``, ``idle``, ``hang``, ``crash``, ``leak``, ``end``.

The reorder contract has no counters, so no ``metrics`` event is recorded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import anyio
from hypothesis import strategies as st

from harness.checkers.ordering import OrderingChecker
from harness.checking import Checker
from harness.contract import Implementation
from harness.rules import Pattern
from harness.search.model import Model, StepFailed


def _item(seq: int) -> str:
    """The payload put under ``seq``: distinct per seq, so a swapped item shows."""
    return f"item-{seq}"


class OrderingModel(Model):
    """Drives a ``reorderer`` with out-of-order puts, one always-waiting consumer and close."""

    pattern: ClassVar[Pattern] = Pattern.ORDERING
    factories: ClassVar[tuple[str, ...]] = ("reorderer",)
    max_steps: ClassVar[int] = 20

    @classmethod
    def draw_params(cls, data: st.DataObject, implementation: Implementation) -> dict[str, Any]:
        """Only the window varies: small ones make gaps and backpressure common."""
        window = data.draw(st.integers(1, 4), label="window")
        return {"pattern": str(Pattern.ORDERING), "factory": "reorderer", "window": window}

    @classmethod
    def make_checkers(cls, params: dict[str, Any]) -> list[Checker]:
        """ORDER-RESTORED is decided by one checker."""
        return [OrderingChecker(params)]

    async def setup(self, params: dict[str, Any]) -> None:
        """Build the stage and start the consumer."""
        self.window: int = params["window"]
        make = self.session.factory("reorderer")
        self.stage: Any = self.session.call_sync(
            f"reorderer(window={self.window})", lambda: make(window=self.window)
        )
        #: Seqs handed in so far (a seq is never put twice).
        self.used: set[int] = set()
        #: How many items the consumer has received: its frontier.
        self.received = 0
        self.closed = False
        self.reader_done = anyio.Event()
        self.session.spawn(self._consume, "ordering-consumer")

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """Put (the common case), close, advance."""
        return {"put": self.put, "close": self.close, "advance": self.advance}

    async def _consume(self) -> None:
        closed_errors = self.implementation.closed_errors
        try:
            while True:
                self.session.record("get_begin")
                try:
                    got = await self.stage.get()
                except self.implementation.end_errors:
                    self.session.record("get_end", how="end")
                    return
                except closed_errors:
                    self.session.record("get_end", how="closed")
                    return
                except Exception as exc:
                    self.session.record("crash", "get()", error=repr(exc))
                    return
                try:
                    seq, item = got
                except (TypeError, ValueError):
                    self.session.record(
                        "crash", "get()", error=f"returned {got!r}, not (seq, item)"
                    )
                    return
                self.received += 1
                self.session.record("emit", seq, item=item)
        finally:
            self.reader_done.set()

    def _spawn_put(self, seq: int) -> None:
        self.used.add(seq)
        closed_errors = self.implementation.closed_errors

        async def producer() -> None:
            self.session.record("put_begin", seq, item=_item(seq))
            try:
                await self.stage.put(seq, _item(seq))
            except closed_errors:
                self.session.record("put_closed", seq)
                return
            except Exception as exc:
                self.session.record("crash", f"put({seq})", error=repr(exc))
                return
            self.session.record("put_ok", seq)

        self.session.spawn(producer, f"ordering-put-{seq}")

    async def put(self) -> None:
        """Operation: hand in a fresh seq near the frontier (a put may block on the window)."""
        near = range(self.received, self.received + self.window + 2)
        candidates = [seq for seq in near if seq not in self.used]
        if not candidates:
            candidates = [max(self.used) + 1]
        seq = self.session.draw(st.sampled_from(candidates), label="seq")
        self.session.step(f"put({seq})")
        self._spawn_put(seq)

    async def close(self) -> None:
        """Operation: close the producer side."""
        self.session.step("close()")
        self._close()

    def _close(self) -> None:
        self.closed = True
        self.session.record("close")
        self.session.call_sync("close()", self.stage.close)

    async def teardown(self) -> None:
        """Fill the gaps, close, and wait for the consumer to see the end."""
        if not self.closed:
            missing = [seq for seq in range(max(self.used, default=-1) + 1) if seq not in self.used]
            if missing:
                self.session.step(f"fill gaps {missing}")
                for seq in missing:
                    self._spawn_put(seq)
                await self.session.settle()
            self.session.step("close()")
            self._close()
        deadline = self.session.budgets.call_deadline
        with self.session.move_on_after(deadline):
            await self.reader_done.wait()
            return
        self.session.record("hang", "get() after close", deadline=deadline)
        raise StepFailed("get() after close")
