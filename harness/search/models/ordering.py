"""The ordering model: producers hand in numbered items out of order, a consumer reads in order.

The :class:`~harness.drivers.ordering.OrderingDriver` builds one reorder stage (factory
``reorderer(window=...)``), runs its always-waiting consumer and performs each put; this
model draws:

* ``put``: a producer task (spawned, since a put beyond the window blocks) hands in a seq not put
  before, drawn near the consumer's frontier (inside the window, just past it, or filling a gap);
* ``cancel_put``: a producer cancels its put (natively for the backend, in a drawn way:
  ``CANCEL_HOWS``): a new put before it starts, or one blocked beyond the window; a put that
  comes out cancelled stored nothing, so its seq is handed in again later;
* ``cancel_get``: the consumer cancels its ``get()`` in a drawn way (the next one before it
  starts, or the one now waiting);
* ``close``: the producer side closes the stage;
* ``advance``: virtual time passes (nothing here depends on time, but a stage might).

Teardown fills every gap below the highest seq put (unless the stage was closed), closes, and
waits for the consumer to see the end. Events: those of the driver.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from hypothesis import strategies as st

from harness.contract import Implementation
from harness.drivers.host import CANCEL_HOWS
from harness.drivers.ordering import OrderingDriver
from harness.rules import Pattern
from harness.search.model import CLOSING, Model, Session


class OrderingModel(Model):
    """Drives a ``reorderer`` with out-of-order puts, one always-waiting consumer and close."""

    pattern: ClassVar[Pattern] = Pattern.ORDERING
    max_steps: ClassVar[int] = 20
    unbatched: ClassVar[dict[str, str]] = {**Model.unbatched, "close": CLOSING}
    driver: OrderingDriver

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        #: Seqs handed in so far (a seq is put again only after its put came out cancelled).
        self.used: set[int] = set()

    @classmethod
    def draw_params(cls, data: st.DataObject, implementation: Implementation) -> dict[str, Any]:
        """Only the window varies: small ones make gaps and backpressure common."""
        window = data.draw(st.integers(1, 4), label="window")
        return {"pattern": str(Pattern.ORDERING), "factory": "reorderer", "window": window}

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """Put (the common case), cancelled puts and gets, close, advance."""
        return {
            "put": self.put,
            "cancel_put": self.cancel_put,
            "cancel_get": self.cancel_get,
            "close": self.close,
            "advance": self.advance,
        }

    def _spawn_put(self, seq: int, cancel_first: bool = False) -> None:
        self.used.add(seq)

        async def producer() -> None:
            if await self.driver.put(seq, deadline=False, cancel_first=cancel_first) is None:
                self.used.discard(seq)  # nothing was stored: the seq is handed in again

        self.session.spawn(producer, f"ordering-put-{seq}")

    def _draw_seq(self) -> int:
        """A seq not handed in yet, near the consumer's frontier."""
        received = self.driver.received
        near = range(received, received + self.driver.params["window"] + 2)
        candidates = [seq for seq in near if seq not in self.used]
        if not candidates:
            candidates = [max(self.used) + 1]
        return self.session.draw(st.sampled_from(candidates), label="seq")

    async def put(self) -> None:
        """Operation: hand in a fresh seq near the frontier (a put may block on the window)."""
        seq = self._draw_seq()
        self.session.step(f"put({seq})")
        self._spawn_put(seq)

    async def cancel_put(self) -> None:
        """Operation: a producer cancels a put waiting beyond the window, in a drawn way.

        ``entry`` (or no put waiting): a new put like ``put``'s, cancelled before it starts.
        """
        how = self.session.draw(st.sampled_from(CANCEL_HOWS), label="how")
        waiting = sorted(self.driver.putting)
        if how == "entry" or not waiting:
            seq = self._draw_seq()
            self.session.step(f"put({seq}) cancelled at its entry")
            self._spawn_put(seq, cancel_first=True)
            return
        seq = self.session.draw(st.sampled_from(waiting), label="seq")
        self.session.step(f"cancel put({seq}) ({how})")
        self.driver.cancel_put(seq, how)

    async def cancel_get(self) -> None:
        """Operation: the consumer cancels its ``get()`` in a drawn way."""
        how = self.session.draw(st.sampled_from(CANCEL_HOWS), label="how")
        self.session.step(f"cancel get() ({how})")
        self.driver.cancel_get(how)

    async def close(self) -> None:
        """Operation: close the producer side."""
        self.session.step("close()")
        await self.driver.close()

    async def teardown(self) -> None:
        """Fill the gaps, close, and wait for the consumer to see the end."""
        if not self.driver.closed:
            missing = [seq for seq in range(max(self.used, default=-1) + 1) if seq not in self.used]
            if missing:
                self.session.step(f"fill gaps {missing}")
                for seq in missing:
                    self._spawn_put(seq)
                await self.session.settle()
            self.session.step("close()")
            await self.driver.close()
        await self.driver.wait_end()
