"""The rate driver: blocking acquires, cancellations and probes against one limiter.

One limiter per run, built from ``params``: a ``token_bucket`` or ``shedding_gate`` from its
``rate`` and ``burst``, a ``leaky_bucket`` from its ``interval``; the ideal bucket of the
checker starts full at the ``created`` event. A blocking acquire runs in the caller's task
under its :class:`~harness.drivers.host.CallerScope`, kept by waiter id, so the caller can
cancel it, natively for the backend, before it starts or while it waits. Probes
(``try_acquire``, and a gate's ``try_admit``) decide at once. A weight reaches the
implementation only when ``params["weighted"]`` says it takes one.

Events (see :mod:`harness.checkers.rate` for their meaning): ``created``, ``acquire``,
``admit``, ``refuse``, ``cancel``, ``acquire_cancelled``, ``acquire_failed``, ``metrics``,
plus the shared ``hang``/``crash``; and ``over_burst`` (id the waiter or probe, data
``weight``, ``via``): a weight above the burst was refused with ``ValueError``, as the contract
allows (a refused acquire is then ``acquire_failed``: it left the line). A cancellation also
records the shared ``caller_cancel``/``caller_cancel_end``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from harness.checkers.rate import RateChecker
from harness.checking import Checker
from harness.drivers.base import Driver
from harness.drivers.host import CallerScope, Host, StepFailed
from harness.rules import Pattern

__all__ = ["RateDriver"]

#: What a call refused with ``ValueError`` for a weight above the burst returns instead.
_REFUSED: Any = object()


class RateDriver(Driver):
    """One ``token_bucket``, ``leaky_bucket`` or ``shedding_gate`` and its waiters."""

    pattern: ClassVar[Pattern] = Pattern.RATE
    factories: ClassVar[tuple[str, ...]] = ("token_bucket", "leaky_bucket", "shedding_gate")

    def __init__(self, host: Host, params: Mapping[str, Any]) -> None:
        super().__init__(host, params)
        self.limiter: Any = None
        #: A gate only decides (``try_admit``); the buckets also queue waiters.
        self.gate = self.params["factory"] == "shedding_gate"
        #: Whether the implementation takes a weight (capability ``weighted_acquire``).
        self.weighted = bool(self.params.get("weighted"))
        #: Blocking acquires still waiting, by waiter id, so one can be cancelled.
        self.waiting: dict[int, CallerScope] = {}

    @classmethod
    def make_checkers(cls, params: Mapping[str, Any]) -> list[Checker]:
        """One checker folds every rate rule."""
        return [RateChecker(params)]

    async def setup(self) -> None:
        """Build the limiter; the ideal bucket starts full at this instant."""
        name = self.params["factory"]
        keys = ("interval",) if name == "leaky_bucket" else ("rate", "burst")
        self.limiter = self.host.call_sync(
            f"{name}()", self.host.factory(name), **{key: self.params[key] for key in keys}
        )
        self.record("created")

    async def observe(self, counters: bool = True) -> None:
        """Record the limiter's counters (at a settled instant every admission is recorded)."""
        counted = self.read_counters(self.limiter) if counters else None
        if counted is not None:
            self.record("metrics", None, counters=dict(counted))

    def _args(self, weight: int) -> tuple[int, ...]:
        # An implementation without weighted_acquire is only ever called without a weight.
        return (weight,) if self.weighted else ()

    # -- operations --------------------------------------------------------------------------
    async def acquire(self, waiter: int, weight: int = 1, *, cancel_first: bool = False) -> None:
        """Wait in line for ``weight``: admitted, or cancelled by :meth:`cancel` meanwhile.

        With ``cancel_first`` its caller has cancelled it before it starts. A hang or crash is
        recorded (``acquire_failed`` after it) and raises
        :class:`~harness.drivers.host.StepFailed`.
        """
        what = f"acquire({weight}) #{waiter}"
        caller = self.waiting[waiter] = CallerScope(self.host, "cancel", waiter)
        if cancel_first:
            caller.cancel("entry")
        self.record("acquire", waiter, weight=weight)
        acquire = self._refusable(self.limiter.acquire, weight)
        args = self._args(weight)
        try:
            got = await caller.call(
                what, lambda: acquire(*args), returned=lambda got: got is not _REFUSED
            )
        except StepFailed:
            self.record("acquire_failed", waiter)
            raise
        finally:
            self.waiting.pop(waiter, None)
        if caller.stopped:
            self.record("acquire_cancelled", waiter)
        elif got is _REFUSED:
            # Refused at once, as a weight above the burst may be: it leaves the line.
            self.record("over_burst", waiter, weight=weight, via="acquire")
            self.record("acquire_failed", waiter)
        else:
            self.record("admit", waiter, weight=weight, via="acquire")

    def cancel(self, waiter: int, how: str = "once") -> None:
        """Cancel the waiting acquire of ``waiter`` (``how``: ``CANCEL_HOWS``), recorded first."""
        self.waiting[waiter].cancel(how)

    def cancel_all(self) -> None:
        """Cancel every acquire still waiting (one not cancelled already), in waiter order."""
        for waiter, caller in sorted(self.waiting.items()):
            if not caller.requested:
                self.cancel(waiter)

    async def try_acquire(self, probe: int, weight: int = 1) -> bool:
        """A non-blocking acquire of ``weight``; whether it was admitted."""
        return await self._probe("try_acquire", self.limiter.try_acquire, probe, weight)

    async def try_admit(self, probe: int, weight: int = 1) -> bool:
        """A gate's decision on ``weight``; whether it admitted."""
        return await self._probe("try_admit", self.limiter.try_admit, probe, weight)

    async def _probe(self, via: str, fn: Callable[..., Any], probe: int, weight: int) -> bool:
        # A probe may be a coroutine (``async try_acquire``): it must decide without waiting,
        # which the rate checker judges from the instant it was made.
        got = await self.host.call(
            f"{via}({weight})", self._refusable(fn, weight), *self._args(weight)
        )
        if got is _REFUSED:
            # No decision for the rate rules or the counters: the weight was never admissible.
            self.record("over_burst", f"p{probe}", weight=weight, via=via)
            return False
        admitted = bool(got)
        self.record("admit" if admitted else "refuse", f"p{probe}", weight=weight, via=via)
        return admitted

    # -- boundary values (docs/patterns/rate.md) ------------------------------------------
    def _refusable(self, fn: Callable[..., Any], weight: int) -> Callable[..., Any]:
        """``fn``, which for a weight above the burst may refuse it with ``ValueError``.

        Such a weight can never be admitted, so the contract lets the limiter say so at once
        (a probe may also just return False); ``fn`` then returns :data:`_REFUSED` and the
        driver records ``over_burst``. A ``ValueError`` for any other weight stays a crash.
        """
        burst = self.params.get("burst")
        if burst is None or weight <= burst:
            return fn

        async def refusing(*args: Any) -> Any:
            try:
                result = fn(*args)
                if inspect.isawaitable(result):
                    result = await result
            except ValueError:
                return _REFUSED
            return result

        return refusing
