"""The idempotency model: repeated and concurrent deliveries to one ``idempotent_sink``.

The sink is built with the harness's effect, which records its start and end, sleeps a drawn
virtual duration and sometimes fails. A ``deliver`` operation spawns a delivery of a drawn
(key, value) pair; a ``burst`` spawns two or three deliveries of the same key at once. A
delivery whose effect failed is delivered again (at-least-once delivery retries it), up to a
few times. Keys and values come from small sets, so the same key meets different values and
different keys meet the same value.

Events recorded (``id`` is the key): ``deliver`` (``delivery``, ``value``); ``effect_begin``
(``effect``, ``value``); ``effect_end`` (``effect``, ``ok``); ``apply_end`` (``delivery``,
``outcome``: applied / duplicate / error). See :mod:`harness.checkers.idempotency`.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, ClassVar

from hypothesis import strategies as st

from harness.checkers.idempotency import IdempotencyChecker
from harness.checking import Checker
from harness.contract import Implementation
from harness.rules import Pattern
from harness.search.model import Model, StepFailed

#: How many times one delivery is made in all when its effect keeps failing.
_REDELIVERIES = 3
#: Effect durations; with the step and redelivery limits, no apply waits near the deadline.
_EFFECT_DURATIONS = (0.0, 0.1, 0.3)
#: The longest the teardown waits for spawned deliveries to finish, in virtual seconds.
_TEARDOWN_WAIT = 120.0


class EffectFailed(Exception):
    """The harness's effect failed; the key must stay applicable."""


class IdempotencyModel(Model):
    """Drives ``idempotent_sink`` with duplicate, concurrent and retried deliveries."""

    pattern: ClassVar[Pattern] = Pattern.IDEMPOTENCY
    factories: ClassVar[tuple[str, ...]] = ("idempotent_sink",)
    max_steps: ClassVar[int] = 12

    @classmethod
    def draw_params(cls, data: st.DataObject, implementation: Implementation) -> dict[str, Any]:
        """Only the number of distinct keys varies."""
        return {
            "pattern": "idempotency",
            "factory": "idempotent_sink",
            "keys": data.draw(st.integers(1, 3), label="keys"),
        }

    @classmethod
    def make_checkers(cls, params: dict[str, Any]) -> list[Checker]:
        """One checker decides the rule."""
        return [IdempotencyChecker(params)]

    def __init__(self, session: Any) -> None:
        super().__init__(session)
        self.sink: Any = None
        self.keys = 1
        self.deliveries = itertools.count()
        self.effects = itertools.count()
        self.open = 0

    async def setup(self, params: dict[str, Any]) -> None:
        """Build the sink around the harness's effect."""
        self.keys = params["keys"]
        factory = self.session.factory("idempotent_sink")
        self.sink = self.session.call_sync("idempotent_sink()", factory, effect=self._effect)

    async def _effect(self, key: Hashable, value: Any) -> None:
        """Run the side effect: recorded, slow for a drawn while, and sometimes failing."""
        session = self.session
        number = next(self.effects)
        ident = key if isinstance(key, str | int) else repr(key)
        shown = value if isinstance(value, str | int) else repr(value)
        duration = session.draw(st.sampled_from(_EFFECT_DURATIONS), label="effect duration")
        fails = session.draw(st.booleans(), label="effect fails")
        session.record("effect_begin", ident, effect=number, value=shown)
        try:
            await session.sleep(duration)
        except BaseException:
            session.record("effect_end", ident, effect=number, ok=False)
            raise
        session.record("effect_end", ident, effect=number, ok=not fails)
        if fails:
            raise EffectFailed(f"effect #{number} for {ident!r}")

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
        session = self.session
        sink = self.sink

        async def apply() -> tuple[str, bool | None]:
            try:
                result = await sink.apply(key, value)
            except EffectFailed:
                return "error", None
            return "ok", result

        async def run() -> None:
            self.open += 1
            try:
                await deliver()
            finally:
                self.open -= 1

        async def deliver() -> None:
            for _ in range(_REDELIVERIES):
                delivery = next(self.deliveries)
                session.record("deliver", key, delivery=delivery, value=value)
                kind, result = await session.call(f"apply({key}, {value!r})", apply)
                if kind == "error":
                    session.record("apply_end", key, delivery=delivery, outcome="error")
                    continue
                if not isinstance(result, bool):
                    session.record(
                        "crash", f"apply({key}, {value!r})", error=f"returned {result!r}"
                    )
                    raise StepFailed("apply")
                outcome = "applied" if result else "duplicate"
                session.record("apply_end", key, delivery=delivery, outcome=outcome)
                return

        session.spawn(run, name=f"deliver({key}, {value!r})")

    async def teardown(self) -> None:
        """Let every delivery (and its redeliveries) finish."""
        waited = 0.0
        while self.open and waited < _TEARDOWN_WAIT:
            await self.session.sleep(1.0)
            waited += 1.0
