"""The rate model: draws acquires, cancellations, try_acquire and gate decisions on virtual time.

Each example draws one of the implementation's rate factories (token bucket, leaky bucket or
shedding gate) with a rate, burst or interval chosen so that float instants are awkward (rate 3
with 1/3 s steps, rate 1/3, interval 1/3). Blocking acquires run in harness tasks, at most
:data:`MAX_WAITERS` at a time so that no legitimate wait reaches the call deadline, and their
callers cancel them (natively for the backend, in a drawn way: ``CANCEL_HOWS``), a new one
before it starts or a waiting one once or twice; time passes by drawn amounts that include tiny
and odd ones. Counters are read (by ``observe``) only at settled instants, when every admission
the limiter counted has been recorded. The :class:`~harness.drivers.rate.RateDriver` builds the
limiter, performs each operation and records its events; this model only draws them.

Events recorded (see :mod:`harness.checkers.rate` for their meaning): ``created``,
``acquire``, ``admit``, ``refuse``, ``cancel``, ``acquire_cancelled``, ``acquire_failed``,
``metrics``; the ``params`` event carries pattern, factory, rate, burst, interval, weighted.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from fractions import Fraction
from typing import Any, ClassVar, Final

from hypothesis import strategies as st

from harness.contract import Implementation
from harness.drivers.host import CANCEL_HOWS
from harness.drivers.rate import RateDriver
from harness.rules import Pattern
from harness.search.model import Model, Session

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
    max_steps: ClassVar[int] = 25
    #: Time must pass and decisions be made often; cancellations are rarer.
    weights: ClassVar[dict[str, int]] = {"advance": 3, "acquire": 3, "try_admit": 3}
    driver: RateDriver

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.waiter_ids = itertools.count()
        self.probe_ids = itertools.count()

    @classmethod
    def draw_params(cls, data: st.DataObject, implementation: Implementation) -> dict[str, Any]:
        """Draw the factory and its rate and burst (1 included), or its interval.

        With ``weighted_acquire`` the weights drawn later reach one above the burst (a weight
        the bucket can never hold, to be refused), unless the declaration's ``supports`` says
        ``{"weight": {"max": "burst"}}``.
        """
        available = [name for name in cls.factories() if name in implementation.factories]
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

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """A gate only decides; the buckets also queue waiters, cancelled where calls can be."""
        ops: dict[str, Callable[[], Awaitable[None]]] = {"advance": self.advance}
        if self.driver.gate:
            ops["try_admit"] = self.try_admit
        else:
            ops["acquire"] = self.acquire
            if self.session.runtime.interruptible:
                ops["cancel"] = self.cancel
            if self.driver.has(self.driver.limiter, "try_acquire"):
                ops["try_acquire"] = self.try_acquire
        return ops

    async def teardown(self) -> None:
        """Cancel the waiters (the final settle lets them record it and reads the counters)."""
        self.driver.cancel_all()

    def _weight(self) -> int:
        if not self.driver.weighted:
            return 1
        burst = int(self.driver.params["burst"])
        # One above the burst too (never admissible: docs/patterns/rate.md), unless declared out.
        over = self.implementation.supported("weight", burst + 1, self.driver.params)
        return self.session.draw(st.integers(1, burst + over), label="weight")

    # -- operations ------------------------------------------------------------------------
    async def advance(self) -> None:
        """Let a drawn amount of virtual time pass (tiny and odd amounts included)."""
        seconds = self.session.draw(st.sampled_from(ADVANCES), label="advance")
        await self.session.advance(seconds)

    async def acquire(self, *, cancel_first: bool = False) -> None:
        """Start a blocking acquire in its own task (a try_acquire when the line is long).

        With ``cancel_first`` its caller has cancelled it before it starts.
        """
        if len(self.driver.waiting) >= MAX_WAITERS:
            if "try_acquire" not in self.session.lacking:
                await self.try_acquire()
            return
        waiter = next(self.waiter_ids)
        weight = self._weight()
        what = f"acquire({weight}) #{waiter}"
        self.session.step(what + (" cancelled at its entry" if cancel_first else ""))
        self.session.spawn(
            lambda: self.driver.acquire(waiter, weight, cancel_first=cancel_first), name=what
        )

    async def cancel(self) -> None:
        """Cancel one waiting acquire, in a drawn way; or start one already cancelled."""
        how = self.session.draw(st.sampled_from(CANCEL_HOWS), label="how")
        if how == "entry":
            await self.acquire(cancel_first=True)
            return
        if not self.driver.waiting:
            return
        waiter = self.session.draw(st.sampled_from(sorted(self.driver.waiting)), label="waiter")
        self.session.step(f"cancel acquire #{waiter} ({how})")
        self.driver.cancel(waiter, how)

    async def try_acquire(self) -> None:
        """A non-blocking acquire."""
        await self._probe("try_acquire", self.driver.try_acquire)

    async def try_admit(self) -> None:
        """A gate decision."""
        await self._probe("try_admit", self.driver.try_admit)

    async def _probe(self, via: str, probe: Callable[[int, int], Awaitable[bool]]) -> None:
        number = next(self.probe_ids)
        weight = self._weight()
        self.session.step(f"{via}({weight}) #{number}")
        await probe(number, weight)
