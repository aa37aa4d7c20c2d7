"""The concurrency model: draws acquires, releases, cancellations and stray releases.

Each example draws a ``limit`` (1 to 3, so that a few tasks already contend) and drives one
``concurrency_limiter``. Every holder is a harness task of its own (as the rate model's blocked
waiters are): ``acquire`` starts one, which waits for a slot and then holds it until a later
``release`` tells it to let go, in the same task (trio's ``CapacityLimiter`` insists). Waiters
and holders are cancelled by their callers (natively for the backend, in a drawn way:
``CANCEL_HOWS``; a new task may be cancelled before its acquire starts); time passes by drawn
amounts, for limiters that keep timers. A waiter's acquire has no deadline: a waiter may
rightly wait for good behind holders that are never released, and the checker decides at each
settled instant whether it should have been granted (CONC-NO-IDLE-WAIT). Where the
implementation declares ``strict_release`` (and has a ``release()``), a task that holds no slot
also calls ``release()`` now and then.

At most :data:`MAX_TASKS` holder tasks are alive at once; at the end every waiter is cancelled
and every holder released. The :class:`~harness.drivers.concurrency.ConcurrencyDriver`
performs each operation and records its events; this model only draws them.

The ``params`` event carries pattern, factory, limit and fifo (whether the implementation
declares capability ``fifo``, which makes CONC-FIFO judged).
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Final

from hypothesis import strategies as st

from harness.contract import Implementation
from harness.drivers.concurrency import HOLDING, WAITING, ConcurrencyDriver
from harness.drivers.host import CANCEL_HOWS, CANCEL_WAITING
from harness.rules import Pattern
from harness.search.model import Model, Session

#: Holder tasks alive at once (waiting or holding): enough for a line behind a full limiter.
MAX_TASKS: Final = 6
#: Pauses, in seconds: none at all, tiny, and long enough for any timer a limiter keeps.
ADVANCES: Final = (0.0, 0.001, 0.1, 1.0, 5.0)


class ConcurrencyModel(Model):
    """Drives ``concurrency_limiter``."""

    pattern: ClassVar[Pattern] = Pattern.CONCURRENCY
    max_steps: ClassVar[int] = 25
    #: Tasks must arrive and leave often; cancellations and stray releases are rarer.
    weights: ClassVar[dict[str, int]] = {"acquire": 4, "release": 3, "advance": 2}
    driver: ConcurrencyDriver

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.ids = itertools.count()
        self.strays = itertools.count()

    @classmethod
    def draw_params(cls, data: st.DataObject, implementation: Implementation) -> dict[str, Any]:
        """Draw the limit; record whether FIFO is promised."""
        return {
            "pattern": str(Pattern.CONCURRENCY),
            "factory": "concurrency_limiter",
            "limit": data.draw(st.integers(1, 3), label="limit"),
            "fifo": implementation.has("fifo"),
        }

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """Arrivals, releases, both kinds of cancellation, time; stray releases if harmless."""
        ops: dict[str, Callable[[], Awaitable[None]]] = {
            "acquire": self.acquire,
            "release": self.release,
            "cancel_waiter": self.cancel_waiter,
            "cancel_holder": self.cancel_holder,
            "advance": self.advance,
        }
        if self.driver.can_release_stray():
            ops["stray_release"] = self.stray_release
        return ops

    async def teardown(self) -> None:
        """Cancel the waiters and release the holders (the final settle lets them finish)."""
        self.driver.finish()

    # -- operations ------------------------------------------------------------------------
    async def advance(self) -> None:
        """Let a drawn amount of virtual time pass."""
        seconds = self.session.draw(st.sampled_from(ADVANCES), label="advance")
        await self.session.advance(seconds)

    async def acquire(self, *, cancel_first: bool = False) -> None:
        """A new task acquires (a release instead when :data:`MAX_TASKS` are alive).

        With ``cancel_first`` its caller has cancelled it before its acquire starts.
        """
        if len(self.driver.holders) >= MAX_TASKS:
            await self.release()
            return
        ident = next(self.ids)
        self.session.step(f"acquire #{ident}" + (" cancelled at its entry" if cancel_first else ""))
        self.session.spawn(
            lambda: self.driver.hold(ident, deadline=False, cancel_first=cancel_first),
            name=f"holder-{ident}",
        )

    async def release(self) -> None:
        """One holder releases its slot, if any holds one."""
        holding = self.driver.in_state(HOLDING)
        if holding:
            ident = self.session.draw(st.sampled_from(holding), label="holder")
            self.session.step(f"release #{ident}")
            self.driver.release(ident)

    async def cancel_waiter(self) -> None:
        """Cancel one task waiting for a slot, in a drawn way; or start one already cancelled."""
        how = self.session.draw(st.sampled_from(CANCEL_HOWS), label="how")
        if how == "entry":
            await self.acquire(cancel_first=True)
        else:
            await self._cancel(WAITING, "waiter", how)

    async def cancel_holder(self) -> None:
        """Cancel one task while it holds its slot, if any, in a drawn way."""
        how = self.session.draw(st.sampled_from(CANCEL_WAITING), label="how")
        await self._cancel(HOLDING, "holder", how)

    async def _cancel(self, state: str, label: str, how: str) -> None:
        candidates = self.driver.in_state(state)
        if candidates:
            ident = self.session.draw(st.sampled_from(candidates), label=label)
            self.session.step(f"cancel {label} #{ident} ({how})")
            self.driver.cancel(ident, how)

    async def stray_release(self) -> None:
        """A task that holds no slot calls ``release()`` (raising is allowed)."""
        number = next(self.strays)
        self.session.step(f"release() by non-holder s{number}")
        await self.driver.stray_release(number)
