"""The idempotency driver: deliveries to one ``idempotent_sink``, and the harness's effect.

The sink is built around the harness's effect, which records its start and end, sleeps a
while and sometimes fails; how long and whether it fails is asked of :attr:`plan_effect` each
time the sink runs it, so the caller decides (the search draws it, a stress run rolls its
dice). A delivery is one ``apply(key, value)`` call, numbered by the caller; redelivering a
failed one, or delivering the same key twice at once, is the caller's choice too. The caller may
cancel a delivery, natively for the backend (:class:`~harness.drivers.host.CallerScope`):
before it starts, a given time into it, or at any instant while it runs; while its effect runs,
the cancellation reaches the effect, which stops at once.

Events (``id`` is the key; see :mod:`harness.checkers.idempotency`): ``deliver``
(``delivery``, ``value``); ``effect_begin`` (``effect``, ``value``); ``effect_end``
(``effect``, ``ok``, ``cancelled``); ``apply_end`` (``delivery``, ``outcome``: ``applied``,
``duplicate``, ``error`` or ``cancelled``), plus the shared ``hang``/``crash`` and the caller's
``caller_cancel``/``caller_cancel_end``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar

import anyio

from harness.checkers.idempotency import IdempotencyChecker
from harness.checking import Checker
from harness.drivers.base import Driver
from harness.drivers.host import CallerScope, Host, StepFailed
from harness.events import as_scalar
from harness.rules import Pattern

__all__ = ["EffectFailed", "IdempotencyDriver"]


@dataclass(frozen=True, slots=True)
class _Delivery:
    """What the effect needs to know of the delivery it runs in: its caller, its plan."""

    caller: CallerScope
    plan: tuple[float, bool] | None


#: The delivery whose ``apply`` the current code runs in (the effect reads it).
_DELIVERY: ContextVar[_Delivery | None] = ContextVar("poolcheck_delivery", default=None)


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
        #: The callers of the deliveries still running, by delivery number.
        self.delivering: dict[int, CallerScope] = {}

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
        """The side effect: recorded, slow for the planned while, failing if planned to.

        The plan is the delivery's own when it brought one (see :meth:`deliver`), else
        :attr:`plan_effect`'s. A cancellation that reaches it is its delivery's caller's (the
        sink runs the effect inside ``apply``): it is told so (:meth:`CallerScope.arrived`).
        """
        number = next(self.effects)
        ident = as_scalar(key)
        delivery = _DELIVERY.get()
        plan = None if delivery is None else delivery.plan
        duration, fails = self.plan_effect() if plan is None else plan
        self.record("effect_begin", ident, effect=number, value=as_scalar(value))
        try:
            await self.host.sleep(duration)
        except anyio.get_cancelled_exc_class():
            if delivery is not None:
                delivery.caller.arrived()
            self.record("effect_end", ident, effect=number, ok=False, cancelled=True)
            raise
        except BaseException:
            self.record("effect_end", ident, effect=number, ok=False, cancelled=False)
            raise
        self.record("effect_end", ident, effect=number, ok=not fails, cancelled=False)
        if fails:
            raise EffectFailed(f"effect #{number} for {ident!r}")

    async def deliver(
        self,
        key: int,
        value: str,
        delivery: int,
        *,
        cancel_at: float | None = None,
        how: str = "once",
        plan: tuple[float, bool] | None = None,
    ) -> str:
        """Apply ``(key, value)`` once, as delivery number ``delivery``.

        The call runs under its caller's :class:`CallerScope`, which :meth:`cancel_delivery`
        cancels while it runs. The caller may also plan it, ``how`` one of ``CANCEL_HOWS``:
        ``entry`` before the call starts, else ``cancel_at`` (when given) model seconds into
        it. ``plan``, when given, is how an effect this delivery runs goes (chosen before
        the call, so nothing is drawn while the implementation runs). Returns the outcome:
        ``applied`` (the call returned True), ``duplicate`` (False), ``error`` (the effect's
        failure came out of it) or ``cancelled`` (the caller's cancellation came out of it);
        after the last two the key may be delivered again.
        """
        what = f"apply({key}, {value!r}) #{delivery}"
        sink = self.sink

        async def apply() -> tuple[bool, Any]:
            try:
                return True, await sink.apply(key, value)
            except EffectFailed:
                return False, None

        caller = self.delivering[delivery] = CallerScope(self.host, None, delivery)
        if how == "entry":
            caller.cancel("entry")
        elif cancel_at is not None:
            caller.cancel_after(cancel_at, how)
        self.record("deliver", key, delivery=delivery, value=value)
        token = _DELIVERY.set(_Delivery(caller, plan))
        try:
            ended = await caller.call(what, apply, returned=lambda ended: ended[0])
        finally:
            _DELIVERY.reset(token)
            del self.delivering[delivery]
        if ended is None:
            self.record("apply_end", key, delivery=delivery, outcome="cancelled")
            return "cancelled"
        returned, result = ended
        if not returned:
            outcome = "error"
        elif isinstance(result, bool):
            outcome = "applied" if result else "duplicate"
        else:
            self.record("crash", what, error=f"returned {result!r}")
            raise StepFailed("apply")
        self.record("apply_end", key, delivery=delivery, outcome=outcome)
        return outcome

    def cancel_delivery(self, delivery: int, how: str = "once") -> None:
        """The caller of ``delivery`` cancels it while it runs (``how``: ``CANCEL_HOWS``)."""
        caller = self.delivering.get(delivery)
        if caller is not None:
            caller.cancel(how)
