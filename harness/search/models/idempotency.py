"""The idempotency model: repeated and concurrent deliveries to one ``idempotent_sink``.

The :class:`~harness.drivers.idempotency.IdempotencyDriver` builds the sink around the
harness's effect and performs each delivery; this model draws what happens. Each run of the
effect draws its virtual duration and whether it fails. A ``deliver`` operation spawns a
delivery of a drawn (key, value) pair; a ``burst`` spawns two or three deliveries of the same
key at once. A delivery whose effect failed is delivered again (at-least-once delivery retries
it), up to a few times. Keys and values come from small sets, so the same key meets different
values and different keys meet the same value.

Events: those of the driver (``deliver``, ``effect_begin``, ``effect_end``, ``apply_end``).
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from hypothesis import strategies as st

from harness.contract import Implementation
from harness.drivers.idempotency import IdempotencyDriver
from harness.rules import Pattern
from harness.search.model import Model, Session

#: How many times one delivery is made in all when its effect keeps failing.
_REDELIVERIES = 3
#: Effect durations; with the step and redelivery limits, no apply waits near the deadline.
_EFFECT_DURATIONS = (0.0, 0.1, 0.3)
#: The longest the teardown waits for spawned deliveries to finish, in virtual seconds.
_TEARDOWN_WAIT = 120.0


class IdempotencyModel(Model):
    """Drives ``idempotent_sink`` with duplicate, concurrent and retried deliveries."""

    pattern: ClassVar[Pattern] = Pattern.IDEMPOTENCY
    max_steps: ClassVar[int] = 12
    driver: IdempotencyDriver

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.keys = 1
        self.deliveries = itertools.count()
        #: Deliveries still running (with their redeliveries), for the teardown to wait on.
        self.open = 0

    @classmethod
    def draw_params(cls, data: st.DataObject, implementation: Implementation) -> dict[str, Any]:
        """Only the number of distinct keys varies."""
        return {
            "pattern": "idempotency",
            "factory": "idempotent_sink",
            "keys": data.draw(st.integers(1, 3), label="keys"),
        }

    async def setup(self, params: dict[str, Any]) -> None:
        """Build the sink; each run of its effect is drawn when the sink starts it."""
        self.keys = params["keys"]
        await super().setup(params)
        self.driver.plan_effect = self._draw_effect

    def _draw_effect(self) -> tuple[float, bool]:
        duration = self.session.draw(st.sampled_from(_EFFECT_DURATIONS), label="effect duration")
        return duration, self.session.draw(st.booleans(), label="effect fails")

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """Single deliveries, bursts of concurrent duplicates, and time passing."""
        return {"deliver": self.deliver, "burst": self.burst, "advance": self.advance}

    def _draw_key(self) -> int:
        return self.session.draw(st.integers(0, self.keys - 1), label="key")

    def _draw_value(self) -> str:
        return self.session.draw(st.sampled_from(["a", "b"]), label="value")

    async def deliver(self) -> None:
        """One delivery of a drawn (key, value), in its own task."""
        key, value = self._draw_key(), self._draw_value()
        self.session.step(f"deliver({key}, {value!r})")
        self._spawn_delivery(key, value)

    async def burst(self) -> None:
        """Two or three deliveries of one key at the same instant (values may differ)."""
        key = self._draw_key()
        count = self.session.draw(st.integers(2, 3), label="burst size")
        values = [self._draw_value() for _ in range(count)]
        self.session.step(f"burst({key}, {values})")
        for value in values:
            self._spawn_delivery(key, value)

    def _spawn_delivery(self, key: int, value: str) -> None:
        async def delivery() -> None:
            self.open += 1
            try:
                for _ in range(_REDELIVERIES):
                    if await self.driver.deliver(key, value, next(self.deliveries)) != "error":
                        return
            finally:
                self.open -= 1

        self.session.spawn(delivery, name=f"deliver({key}, {value!r})")

    async def teardown(self) -> None:
        """Let every delivery (and its redeliveries) finish."""
        waited = 0.0
        while self.open and waited < _TEARDOWN_WAIT:
            await self.session.sleep(1.0)
            waited += 1.0
