"""The ordering model: producers hand in numbered items out of order, a consumer reads in order.

The :class:`~harness.drivers.ordering.OrderingDriver` builds one reorder stage (factory
``reorderer(window=...)``), runs its always-waiting consumer and performs each put; this
model draws:

* ``put``: a producer task (spawned, since a put beyond the window blocks) hands in a seq not put
  before, drawn near the consumer's frontier (inside the window, just past it, or filling a gap);
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
from harness.drivers.ordering import OrderingDriver
from harness.rules import Pattern
from harness.search.model import Model, Session


class OrderingModel(Model):
    """Drives a ``reorderer`` with out-of-order puts, one always-waiting consumer and close."""

    pattern: ClassVar[Pattern] = Pattern.ORDERING
    max_steps: ClassVar[int] = 20
    driver: OrderingDriver

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        #: Seqs handed in so far (a seq is never put twice).
        self.used: set[int] = set()

    @classmethod
    def draw_params(cls, data: st.DataObject, implementation: Implementation) -> dict[str, Any]:
        """Only the window varies: small ones make gaps and backpressure common."""
        window = data.draw(st.integers(1, 4), label="window")
        return {"pattern": str(Pattern.ORDERING), "factory": "reorderer", "window": window}

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """Put (the common case), close, advance."""
        return {"put": self.put, "close": self.close, "advance": self.advance}

    def _spawn_put(self, seq: int) -> None:
        self.used.add(seq)

        async def producer() -> None:
            await self.driver.put(seq, deadline=False)

        self.session.spawn(producer, f"ordering-put-{seq}")

    async def put(self) -> None:
        """Operation: hand in a fresh seq near the frontier (a put may block on the window)."""
        received = self.driver.received
        near = range(received, received + self.driver.params["window"] + 2)
        candidates = [seq for seq in near if seq not in self.used]
        if not candidates:
            candidates = [max(self.used) + 1]
        seq = self.session.draw(st.sampled_from(candidates), label="seq")
        self.session.step(f"put({seq})")
        self._spawn_put(seq)

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
