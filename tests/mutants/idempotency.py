"""Broken idempotent sinks: the wrong key, the wrong moment to mark, no in-flight guard."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from reference.idempotency import IdempotentSink
from tests.mutants._base import mutant, reference_with


class KeyedOnValue(IdempotentSink[Any, Any]):
    """Deduplicates on the payload instead of the natural key (the wrong column is unique)."""

    async def apply(self, key: Hashable, value: Any) -> bool:
        effect = self.effect

        async def effect_of_key(_: Hashable, v: Any) -> None:
            await effect(key, v)

        self.effect = effect_of_key
        try:
            return await super().apply(value, value)
        finally:
            self.effect = effect


class MarksBeforeEffect(IdempotentSink[Any, Any]):
    """Marks the key first ("claim it, then work"): a failed effect is never applied again."""

    async def apply(self, key: Hashable, value: Any) -> bool:
        if not self.store.add(key):
            return False
        await self.effect(key, value)
        return True


class NoInFlightGuard(IdempotentSink[Any, Any]):
    """Check-then-act without an in-flight guard: concurrent duplicates both run the effect."""

    async def apply(self, key: Hashable, value: Any) -> bool:
        if key in self.store:
            return False
        await self.effect(key, value)
        self.store.add(key)
        return True


def _sink(cls: type[IdempotentSink[Any, Any]]) -> Callable[..., Any]:
    def make(*, effect: Callable[[Hashable, Any], Awaitable[None]]) -> Any:
        return cls(effect)

    return make


@mutant("IDEMPOTENT-EFFECT")
def keyed_on_value() -> Any:
    """An idempotent sink keyed on the wrong field: deduplicates on the payload, not the key."""
    return reference_with(idempotent_sink=_sink(KeyedOnValue))


@mutant("IDEMPOTENT-EFFECT")
def marks_before_effect() -> Any:
    """Marks the key before the effect: a failed effect is never applied again."""
    return reference_with(idempotent_sink=_sink(MarksBeforeEffect))


@mutant("IDEMPOTENT-EFFECT")
def no_in_flight_guard() -> Any:
    """Check-then-act without an in-flight guard: concurrent duplicates both apply."""
    return reference_with(idempotent_sink=_sink(NoInFlightGuard))
