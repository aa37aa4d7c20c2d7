"""The idempotency model: repeated and concurrent deliveries to one ``idempotent_sink``.

The :class:`~harness.drivers.idempotency.IdempotencyDriver` builds the sink around the
harness's effect and performs each delivery; this model draws what happens. Each delivery
brings how an effect it runs goes (its virtual duration and whether it fails), drawn with the
operation that makes it. A ``deliver`` operation spawns a
delivery of a drawn (key, value) pair; a ``burst`` spawns two or three deliveries of the same
key at once; ``cancel_delivery`` has a caller cancel its delivery (natively for the backend,
in a drawn way: ``CANCEL_HOWS``): a new one before it starts or a drawn while into it (mostly
inside its effect), or one still running (in its effect, or waiting for another delivery's
effect on its key). A delivery whose effect failed
or that was cancelled is delivered again (at-least-once delivery retries it), up to a few
times.
Keys and values come from small sets, so the same key meets different values and different
keys meet the same value.

Events: those of the driver (``deliver``, ``effect_begin``, ``effect_end``, ``apply_end``).
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from hypothesis import strategies as st

from harness.contract import Implementation
from harness.drivers.host import CANCEL_HOWS
from harness.drivers.idempotency import IdempotencyDriver
from harness.rules import Pattern
from harness.search.model import Model, Session

#: How many times one delivery is made in all when its effect keeps failing.
_REDELIVERIES = 3
#: Effect durations; with the step and redelivery limits, no apply waits near the deadline.
_EFFECT_DURATIONS = (0.0, 0.1, 0.3)
#: Offsets from a new delivery's start at which its caller cancels it: at its first await, and
#: inside effects of each drawn duration but the shortest.
_CANCEL_AT = (0.0, 0.05, 0.2)
#: The outcomes after which the delivery is made again.
_REDELIVERED = frozenset({"error", "cancelled"})
#: The longest the teardown waits for spawned deliveries to finish, in virtual seconds.
_TEARDOWN_WAIT = 120.0


class IdempotencyModel(Model):
    """Drives ``idempotent_sink`` with duplicate, concurrent and retried deliveries."""

    pattern: ClassVar[Pattern] = Pattern.IDEMPOTENCY
    max_steps: ClassVar[int] = 12
    #: No same-instant batches: each run of the effect is drawn when the sink starts it, inside
    #: the call of a delivery task, after its part has returned and the batch drawn on, so the
    #: draw order would follow the scheduler (``burst`` already delivers at one instant).
    batchable: ClassVar[bool] = False
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
        """Build the sink; how an effect goes is drawn with the delivery that may run it."""
        self.keys = params["keys"]
        await super().setup(params)

    def _draw_effect(self) -> tuple[float, bool]:
        """How an effect goes: its virtual duration, and whether it fails."""
        duration = self.session.draw(st.sampled_from(_EFFECT_DURATIONS), label="effect duration")
        return duration, self.session.draw(st.booleans(), label="effect fails")

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """Single deliveries (some cancelled), bursts of concurrent duplicates, time passing."""
        return {
            "deliver": self.deliver,
            "cancel_delivery": self.cancel_delivery,
            "burst": self.burst,
            "advance": self.advance,
        }

    def _draw_key(self) -> int:
        return self.session.draw(st.integers(0, self.keys - 1), label="key")

    def _draw_value(self) -> str:
        return self.session.draw(st.sampled_from(["a", "b"]), label="value")

    async def deliver(self) -> None:
        """One delivery of a drawn (key, value), in its own task."""
        key, value = self._draw_key(), self._draw_value()
        self.session.step(f"deliver({key}, {value!r})")
        self._spawn_delivery(key, value)

    async def cancel_delivery(self) -> None:
        """A caller cancels a delivery in a drawn way: one running now, or a new one.

        A new delivery of a drawn (key, value) is cancelled before it starts (``entry``), or a
        drawn while into it, mostly inside its effect.
        """
        how = self.session.draw(st.sampled_from(CANCEL_HOWS), label="how")
        running = sorted(self.driver.delivering)
        if how != "entry" and running and self.session.draw(st.booleans(), label="running"):
            delivery = self.session.draw(st.sampled_from(running), label="delivery")
            self.session.step(f"cancel delivery #{delivery} ({how})")
            self.driver.cancel_delivery(delivery, how)
            return
        key, value = self._draw_key(), self._draw_value()
        cancel_at = None
        if how == "entry":
            shown = "cancelled at its entry"
        else:
            cancel_at = self.session.draw(st.sampled_from(_CANCEL_AT), label="cancel_at")
            shown = f"cancel_at={cancel_at}" + ("" if how == "once" else f" ({how})")
        self.session.step(f"deliver({key}, {value!r}) {shown}")
        self._spawn_delivery(key, value, cancel_at, how)

    async def burst(self) -> None:
        """Two or three deliveries of one key at the same instant (values may differ)."""
        key = self._draw_key()
        count = self.session.draw(st.integers(2, 3), label="burst size")
        values = [self._draw_value() for _ in range(count)]
        self.session.step(f"burst({key}, {values})")
        for value in values:
            self._spawn_delivery(key, value)

    def _spawn_delivery(
        self, key: int, value: str, cancel_at: float | None = None, how: str = "once"
    ) -> None:
        """Deliver in a task of its own, again after a failure or a cancellation.

        How an effect each delivery runs goes is drawn here, for all of them, before anything
        runs: never while the implementation runs (a draw that ran out of data there would
        leave it running on), nor in the delivery's task.
        """
        plans = [self._draw_effect() for _ in range(_REDELIVERIES)]

        async def delivery() -> None:
            self.open += 1
            # Only the first delivery is cancelled; a redelivery runs to its end.
            cancels = [(cancel_at, how)] + [(None, "once")] * (len(plans) - 1)
            try:
                for plan, (at, way) in zip(plans, cancels, strict=True):
                    number = next(self.deliveries)
                    outcome = await self.driver.deliver(
                        key, value, number, cancel_at=at, how=way, plan=plan
                    )
                    if outcome not in _REDELIVERED:
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
