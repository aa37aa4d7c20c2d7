"""The rate model: acquires, cancellations, try_acquire and gate decisions on virtual time.

Each example draws one of the implementation's rate factories (token bucket, leaky bucket or
shedding gate) with a rate, burst or interval chosen so that float instants are awkward (rate
3 with 1/3 s steps, rate 1/3, interval 1/3). Blocking acquires run in harness tasks, at most
:data:`MAX_WAITERS` at a time so that no legitimate wait reaches the call deadline, and can be
cancelled later; time passes by drawn amounts that include tiny and odd ones. Counters are
read (by ``observe``) only at settled instants, when every admission the limiter counted has
been recorded.

Events recorded (see :mod:`harness.checkers.rate` for their meaning): ``created``,
``acquire``, ``admit``, ``refuse``, ``cancel``, ``acquire_cancelled``, ``acquire_failed``,
``metrics``; the ``params`` event carries pattern, factory, rate, burst, interval, weighted.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from fractions import Fraction
from typing import Any, ClassVar, Final

import anyio
from hypothesis import strategies as st

from harness.checkers.rate import RateChecker
from harness.checking import Checker
from harness.contract import Implementation
from harness.search.model import Model, Session, StepFailed
from harness.rules import Pattern

#: At most this many acquires wait at once: the longest legitimate wait (burst 5 at rate 1/3,
#: three times over) stays below the call deadline.
MAX_WAITERS: Final = 3
RATES: Final = (0.5, 1.0, 3.0, 10.0, 1 / 3)
INTERVALS: Final = (0.1, 1 / 3, 0.5, 1.0, 2.0)
#: Pauses, in seconds: tiny ones, ones that hit refill instants exactly, odd ones.
ADVANCES: Final = (0.0, 1e-6, 0.001, 0.1, 1 / 3, 0.5, 1.0, 2.0, float(Fraction(7, 3)), 5.0)


class RateModel(Model):
    """Drives ``token_bucket``, ``leaky_bucket`` or ``shedding_gate``."""

    pattern: ClassVar[Pattern] = Pattern.RATE
    factories: ClassVar[tuple[str, ...]] = ("token_bucket", "leaky_bucket", "shedding_gate")
    max_steps: ClassVar[int] = 25
    #: Time must pass and decisions be made often; cancellations are rarer.
    weights: ClassVar[dict[str, int]] = {"advance": 3, "acquire": 3, "try_admit": 3}

    @classmethod
    def draw_params(cls, data: st.DataObject, implementation: Implementation) -> dict[str, Any]:
        """Draw the factory and its rate and burst, or its interval."""
        available = [name for name in cls.factories if name in implementation.factories]
        factory = data.draw(st.sampled_from(available), label="factory")
        params: dict[str, Any] = {"pattern": "rate", "factory": factory}
        if factory == "leaky_bucket":
            params["interval"] = data.draw(st.sampled_from(INTERVALS), label="interval")
            params["weighted"] = False
        else:
            params["rate"] = data.draw(st.sampled_from(RATES), label="rate")
            params["burst"] = data.draw(st.integers(1, 5), label="burst")
            params["weighted"] = implementation.has("weighted_acquire")
        return params

    @classmethod
    def make_checkers(cls, params: dict[str, Any]) -> list[Checker]:
        """One checker folds every rate rule."""
        return [RateChecker(params)]

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.limiter: Any = None
        self.params: dict[str, Any] = {}
        self.gate = False
        self.waiter_ids = itertools.count()
        self.probe_ids = itertools.count()
        self.scopes: dict[int, anyio.CancelScope] = {}

    async def setup(self, params: dict[str, Any]) -> None:
        """Build the limiter; the ideal bucket starts full at this instant."""
        self.params = params
        factory_name = params["factory"]
        factory = self.session.factory(factory_name)
        keys = ("interval",) if factory_name == "leaky_bucket" else ("rate", "burst")
        kwargs = {key: params[key] for key in keys}
        self.limiter = self.session.call_sync(f"{factory_name}()", factory, **kwargs)
        self.session.record("created")
        self.gate = factory_name == "shedding_gate"

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """A gate only decides; the buckets also queue waiters that can be cancelled."""
        ops: dict[str, Callable[[], Awaitable[None]]] = {"advance": self.advance}
        if self.gate:
            ops["try_admit"] = self.try_admit
        else:
            ops.update(acquire=self.acquire, cancel=self.cancel, try_acquire=self.try_acquire)
        return ops

    # -- helpers ---------------------------------------------------------------------------
    def _weight(self) -> int:
        if not self.params.get("weighted"):
            return 1
        return self.session.draw(st.integers(1, int(self.params["burst"])), label="weight")

    def _args(self, weight: int) -> tuple[int, ...]:
        # An implementation without weighted_acquire is only ever called without a weight.
        return (weight,) if self.params.get("weighted") else ()

    # -- operations ------------------------------------------------------------------------
    async def advance(self) -> None:
        """Let a drawn amount of virtual time pass (tiny and odd amounts included)."""
        seconds = self.session.draw(st.sampled_from(ADVANCES), label="advance")
        await self.session.advance(seconds)

    async def acquire(self) -> None:
        """Start a blocking acquire in its own task (a try_acquire when the line is long)."""
        if len(self.scopes) >= MAX_WAITERS:
            await self.try_acquire()
            return
        waiter = next(self.waiter_ids)
        weight = self._weight()
        what = f"acquire({weight}) #{waiter}"
        self.session.step(what)
        scope = anyio.CancelScope()
        self.scopes[waiter] = scope
        args = self._args(weight)

        async def run() -> None:
            with scope:
                self.session.record("acquire", waiter, weight=weight)
                try:
                    await self.session.call(what, self.limiter.acquire, *args)
                except StepFailed:
                    self.session.record("acquire_failed", waiter)
                    raise
                finally:
                    self.scopes.pop(waiter, None)
                self.session.record("admit", waiter, weight=weight, via="acquire")
                return
            self.session.record("acquire_cancelled", waiter)

        self.session.spawn(run, name=what)

    async def cancel(self) -> None:
        """Cancel one waiting acquire, if any."""
        if not self.scopes:
            return
        waiter = self.session.draw(st.sampled_from(sorted(self.scopes)), label="waiter")
        self.session.step(f"cancel acquire #{waiter}")
        self.session.record("cancel", waiter)
        self.scopes[waiter].cancel()

    async def try_acquire(self) -> None:
        """A non-blocking acquire."""
        await self._probe("try_acquire", self.limiter.try_acquire)

    async def try_admit(self) -> None:
        """A gate decision."""
        await self._probe("try_admit", self.limiter.try_admit)

    async def _probe(self, via: str, fn: Callable[..., bool]) -> None:
        probe = next(self.probe_ids)
        weight = self._weight()
        self.session.step(f"{via}({weight}) #{probe}")
        admitted = self.session.call_sync(f"{via}({weight})", fn, *self._args(weight))
        kind = "admit" if admitted else "refuse"
        self.session.record(kind, f"p{probe}", weight=weight, via=via)

    async def observe(self) -> None:
        """Record the limiter's counters at a settled instant (all admissions recorded)."""
        if self.limiter is None:
            return
        counters = self.session.call_sync(
            "counters()", self.implementation.read_counters, self.limiter
        )
        if counters is not None:
            self.session.record("metrics", None, counters=dict(counters))

    async def teardown(self) -> None:
        """Cancel the waiters (the final settle lets them record it and reads the counters)."""
        for waiter, scope in sorted(self.scopes.items()):
            self.session.record("cancel", waiter)
            scope.cancel()
