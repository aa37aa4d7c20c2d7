"""Deliberately broken idempotent sinks, each with the realistic bug named in its docstring.

Loaded through the plug-in path: ``tests.harness.broken.idempotency:keyed_on_value``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from reference.idempotency import IdempotentSink
from reference.plugin import implementation as reference_implementation


def _with(**factories: Callable[..., Any]) -> Any:
    declaration = reference_implementation()
    return {
        "name": "broken",
        "backend": "trio",
        "capabilities": declaration.capabilities,
        "factories": {**declaration.factories, **factories},
        "closed_errors": declaration.closed_errors,
        "counters": declaration.counters,
    }


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


def keyed_on_value() -> Any:
    """IDEMPOTENT-EFFECT: one key applied twice, another never."""
    return _with(idempotent_sink=_sink(KeyedOnValue))


def marks_before_effect() -> Any:
    """IDEMPOTENT-EFFECT: a failed effect is reported as already applied."""
    return _with(idempotent_sink=_sink(MarksBeforeEffect))


def no_in_flight_guard() -> Any:
    """IDEMPOTENT-EFFECT: concurrent deliveries of one key both apply it."""
    return _with(idempotent_sink=_sink(NoInFlightGuard))
