"""The batch model: draws puts, bursts, close and time around ``max_age`` for one batcher.

The :class:`~harness.drivers.batch.BatchDriver` holds the batcher's block open, reads the
flushed batches all the time and records every event; this model draws:

* ``put``: one item, and ``put_burst``: several items back to back (no time passes); the
  puts are sequential, so their order is the put order; no put is made after close;
* ``close``: the producer closes the batcher;
* ``advance``: virtual time passes by an amount drawn around ``max_age`` (exactly it, slightly
  less, slightly more, half, double), so flushes right at, just before and past the age happen;
* ``nudge``: a fraction of ``max_age`` passes, so batches start off any grid of period
  ``max_age`` (a flusher on a fixed ticker then shows up as early or late).

Teardown closes (if not closed yet), waits for ``batches`` to end and for the block to exit.
Items are the integers 0, 1, 2, ... in put order.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from hypothesis import strategies as st

from harness.contract import Implementation
from harness.drivers.batch import BatchDriver
from harness.rules import Pattern
from harness.search.model import CLOSING, MAX_ADVANCE, Model, Session


class BatchModel(Model):
    """Drives a ``batcher`` with puts, bursts, close and time around ``max_age``."""

    pattern: ClassVar[Pattern] = Pattern.BATCH
    max_steps: ClassVar[int] = 15
    unbatched: ClassVar[dict[str, str]] = {
        **Model.unbatched,
        "nudge": "time passes: a batch is one instant",
        "close": CLOSING,
    }
    driver: BatchDriver

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.items = itertools.count()

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

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """Put, burst, close, advance, nudge."""
        return {
            "put": self.put,
            "put_burst": self.put_burst,
            "close": self.close,
            "advance": self.advance,
            "nudge": self.nudge,
        }

    async def teardown(self) -> None:
        """Close, wait for ``batches`` to end and for the block to exit."""
        await self.close()
        await self.driver.finish()

    # -- operations --------------------------------------------------------------------------
    async def put(self) -> None:
        """Put one item (skipped after close)."""
        if self.driver.closed:
            return
        item = next(self.items)
        self.session.step(f"put({item})")
        await self.driver.put(item)

    async def put_burst(self) -> None:
        """Put several items at one instant, often enough to fill a batch or more."""
        if self.driver.closed:
            return
        max_size = self.driver.params["max_size"]
        count = self.session.draw(st.integers(2, max_size + 2), label="burst")
        burst = [next(self.items) for _ in range(count)]
        self.session.step(f"put {count} items {burst[0]}..{burst[-1]}")
        for item in burst:
            await self.driver.put(item)

    async def close(self) -> None:
        """Close the batcher (flushes the partial batch, ends ``batches``); once."""
        if self.driver.closed:
            return
        self.session.step("close()")
        await self.driver.close()

    async def advance(self) -> None:
        """Let time pass by an amount chosen around ``max_age``."""
        age = self.driver.params["max_age"]
        seconds = self.session.draw(
            st.sampled_from([age, age * 0.99, age * 1.01, age / 2, age * 2, 0.001, MAX_ADVANCE]),
            label="advance",
        )
        await self.session.advance(seconds)

    async def nudge(self) -> None:
        """Let a fraction of ``max_age`` pass, off any tick grid of period ``max_age``."""
        fraction = self.session.draw(st.sampled_from([0.3, 0.5, 0.7]), label="nudge")
        await self.session.advance(self.driver.params["max_age"] * fraction)
