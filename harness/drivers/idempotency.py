"""The idempotency driver: deliveries to one ``idempotent_sink``, and the harness's effect.

The sink is built around the harness's effect, which records its start and end, sleeps a
while and sometimes fails; how long and whether it fails is asked of :attr:`plan_effect` each
time the sink runs it, so the caller decides (the search draws it, a stress run rolls its
dice). A delivery is one ``apply(key, value)`` call, numbered by the caller; redelivering a
failed one, or delivering the same key twice at once, is the caller's choice too.

Events (``id`` is the key; see :mod:`harness.checkers.idempotency`): ``deliver``
(``delivery``, ``value``); ``effect_begin`` (``effect``, ``value``); ``effect_end``
(``effect``, ``ok``); ``apply_end`` (``delivery``, ``outcome``: ``applied``, ``duplicate`` or
``error``), plus the shared ``hang``/``crash``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Mapping
from typing import Any, ClassVar

from harness.checkers.idempotency import IdempotencyChecker
from harness.checking import Checker
from harness.drivers.base import Driver
from harness.drivers.host import Host, StepFailed
from harness.events import as_scalar
from harness.rules import Pattern

__all__ = ["EffectFailed", "IdempotencyDriver"]


class EffectFailed(Exception):
    """What the harness's effect raises when planned to fail; the key must stay applicable."""


def _never_fails() -> tuple[float, bool]:
    return 0.0, False


class IdempotencyDriver(Driver):
    """One ``idempotent_sink``: its effect, and each delivery to it."""

    pattern: ClassVar[Pattern] = Pattern.IDEMPOTENCY
    factories: ClassVar[tuple[str, ...]] = ("idempotent_sink",)

    def __init__(self, host: Host, params: Mapping[str, Any]) -> None:
        super().__init__(host, params)
        self.sink: Any = None
        self.effects = itertools.count()
        #: How the next run of the effect goes: ``(duration, fails)``; the caller sets it.
        self.plan_effect: Callable[[], tuple[float, bool]] = _never_fails

    @classmethod
    def make_checkers(cls, params: Mapping[str, Any]) -> list[Checker]:
        """One checker decides the rule."""
        return [IdempotencyChecker(params)]

    async def setup(self) -> None:
        """Build the sink around the harness's effect."""
        self.sink = self.host.call_sync(
            "idempotent_sink()", self.host.factory("idempotent_sink"), effect=self.effect
        )

    async def effect(self, key: Hashable, value: Any) -> None:
        """The side effect: recorded, slow for the planned while, failing if planned to."""
        number = next(self.effects)
        ident = as_scalar(key)
        duration, fails = self.plan_effect()
        self.record("effect_begin", ident, effect=number, value=as_scalar(value))
        try:
            await self.host.sleep(duration)
        except BaseException:
            self.record("effect_end", ident, effect=number, ok=False)
            raise
        self.record("effect_end", ident, effect=number, ok=not fails)
        if fails:
            raise EffectFailed(f"effect #{number} for {ident!r}")

    async def deliver(self, key: int, value: str, delivery: int) -> str:
        """Apply ``(key, value)`` once, as delivery number ``delivery``.

        Returns the outcome: ``applied`` (the call returned True), ``duplicate`` (False) or
        ``error`` (the effect's failure came out of it, so the key may be delivered again).
        """
        what = f"apply({key}, {value!r})"
        sink = self.sink

        async def apply() -> tuple[bool, Any]:
            try:
                return True, await sink.apply(key, value)
            except EffectFailed:
                return False, None

        self.record("deliver", key, delivery=delivery, value=value)
        returned, result = await self.host.call(what, apply)
        if not returned:
            outcome = "error"
        elif isinstance(result, bool):
            outcome = "applied" if result else "duplicate"
        else:
            self.record("crash", what, error=f"returned {result!r}")
            raise StepFailed("apply")
        self.record("apply_end", key, delivery=delivery, outcome=outcome)
        return outcome
