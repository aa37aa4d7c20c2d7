"""Stress driver of ``idempotent_sink``: flaky effects, duplicate deliveries, redeliveries.

Events are those of :mod:`harness.checkers.idempotency` (``deliver``, ``effect_begin``,
``effect_end``, ``apply_end``). Each job is one key (its number, or one of ``load.keys`` keys
drawn at random); with probability ``duplicate_rate`` it is delivered twice at once; an effect
fails with probability ``failure_rate``, and a delivery whose effect failed is redelivered with
probability ``retry_rate``. The checker remembers every key, as the sink itself must.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Hashable
from typing import Any, ClassVar

import trio

from harness.rules import Pattern
from harness.stress.runner import Context, StepFailed
from harness.stress.workloads.base import COMMON, Driver

#: Most redeliveries of one delivery, so a flaky effect cannot keep a key busy forever.
MAX_REDELIVERIES = 5


class EffectFailed(Exception):
    """What the harness effect raises when drawn to fail."""


class IdempotencyDriver(Driver):
    """Delivers keys to one sink, with duplicates and redeliveries."""

    pattern: ClassVar[Pattern] = Pattern.IDEMPOTENCY
    honours: ClassVar[frozenset[str]] = COMMON | {
        "failure_rate",
        "retry_rate",
        "duplicate_rate",
        "keys",
    }

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.sink: Any = None
        self.deliveries = itertools.count()
        self.effects = itertools.count()

    async def effect(self, key: Hashable, value: Any) -> None:
        """The side effect: recorded, slow for a drawn while, and sometimes failing."""
        ctx = self.ctx
        number = next(self.effects)
        ident = key if isinstance(key, str | int) else repr(key)
        shown = value if isinstance(value, str | int) else repr(value)
        fails = ctx.chance(ctx.load.failure_rate)
        duration = ctx.duration()
        self.record("effect_begin", ident, effect=number, value=shown)
        try:
            await trio.sleep(duration)
        except BaseException:
            self.record("effect_end", ident, effect=number, ok=False)
            raise
        self.record("effect_end", ident, effect=number, ok=not fails)
        ctx.metrics.latency("service", duration)
        if fails:
            ctx.metrics.count("errors")
            raise EffectFailed(f"effect #{number} for {ident!r}")

    async def deliver(self, key: int, value: str) -> None:
        """Deliver ``key`` until applied, a duplicate, or out of redeliveries."""
        ctx = self.ctx
        sink = self.sink

        async def apply() -> tuple[str, bool | None]:
            try:
                result = await sink.apply(key, value)
            except EffectFailed:
                return "error", None
            return "ok", result

        started = trio.current_time()
        for attempt in range(MAX_REDELIVERIES + 1):
            if attempt:
                ctx.metrics.count("retries")
            delivery = next(self.deliveries)
            self.record("deliver", key, delivery=delivery, value=value)
            kind, result = await ctx.call(f"apply({key}, {value!r})", apply)
            if kind == "error":
                self.record("apply_end", key, delivery=delivery, outcome="error")
                if ctx.chance(ctx.load.retry_rate):
                    continue
                ctx.metrics.completed(trio.current_time(), "failed")
                return
            if not isinstance(result, bool):
                self.record("crash", f"apply({key}, {value!r})", error=f"returned {result!r}")
                raise StepFailed("apply")
            outcome = "applied" if result else "duplicate"
            self.record("apply_end", key, delivery=delivery, outcome=outcome)
            now = trio.current_time()
            ctx.metrics.completed(now, "completed" if result else "duplicates")
            ctx.metrics.latency("end_to_end", now - started)
            return

    async def producer(self, number: int, deliveries: trio.Nursery) -> None:
        """Offer keys at the scenario's pace; each delivery runs in its own task."""
        ctx = self.ctx
        pace = ctx.pacer(number)
        keys = ctx.load.keys
        while True:
            await pace()
            job = ctx.next_job()
            if job is None:
                return
            key = ctx.rng.randrange(keys) if keys else job
            ctx.metrics.offered(trio.current_time())
            copies = 2 if ctx.chance(ctx.load.duplicate_rate) else 1
            for _ in range(copies):
                deliveries.start_soon(self._guard, key, f"v{key}")

    async def _guard(self, key: int, value: str) -> None:
        with contextlib.suppress(StepFailed):  # already recorded
            await self.deliver(key, value)

    async def run(self, nursery: trio.Nursery) -> None:
        """Build the sink, offer the keys, wait for every delivery to end."""
        ctx = self.ctx
        self.sink = ctx.call_sync(
            "idempotent_sink()", ctx.implementation.factories["idempotent_sink"], effect=self.effect
        )
        async with trio.open_nursery() as deliveries, trio.open_nursery() as producers:
            for number in range(ctx.load.producers):
                producers.start_soon(self.producer, number, deliveries)
