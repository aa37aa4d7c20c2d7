"""The retry model: draws a retrier's schedule, then scripted calls, some of them cancelled.

Each example draws a schedule (``max_attempts``, ``base``, ``factor``, ``cap``, ``jitter``,
``seed``) for its one retrier. A ``call`` operation draws a script, one step per attempt (how
long the attempt sleeps in virtual time, then whether it succeeds, fails with a retryable error
or fails with a non-retryable one); ``call_cancelled`` also draws the instant at which the
caller cancels the call. :mod:`harness.drivers.retry` makes the calls and records the events.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from hypothesis import strategies as st

from harness.contract import Implementation
from harness.drivers.retry import RetryDriver
from harness.rules import Pattern
from harness.search.model import Model, Session

#: Attempt durations: a coarse grid, so attempts and backoffs rarely end together.
_DURATIONS = (0.0, 0.1, 0.2, 0.5)
#: Offsets (from the call's start) at which a caller may cancel: off the duration grid.
_CANCEL_AT = (0.013, 0.137, 0.31, 0.77, 1.29, 2.43)
_STEP = st.tuples(
    st.sampled_from(_DURATIONS),
    st.sampled_from(["retry", "retry", "retry", "ok", "fatal"]),
)


class RetryModel(Model):
    """Drives ``retrier``: scripted calls, some cancelled during an attempt or a backoff."""

    pattern: ClassVar[Pattern] = Pattern.RETRY
    max_steps: ClassVar[int] = 8
    driver: RetryDriver

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.calls = itertools.count()

    @classmethod
    def draw_params(cls, data: st.DataObject, implementation: Implementation) -> dict[str, Any]:
        """Draw a short schedule whose cap is often reached."""
        return {
            "pattern": "retry",
            "factory": "retrier",
            "max_attempts": data.draw(st.integers(1, 4), label="max_attempts"),
            "base": data.draw(st.sampled_from([0.05, 0.1, 0.25, 0.5]), label="base"),
            "factor": data.draw(st.sampled_from([1.0, 2.0, 3.0]), label="factor"),
            "cap": data.draw(st.sampled_from([0.1, 0.3, 0.6, 2.0]), label="cap"),
            "jitter": data.draw(st.sampled_from(["none", "full", "equal"]), label="jitter"),
            "seed": data.draw(st.integers(0, 2**16), label="seed"),
        }

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """List the operations: calls (plain and cancelled) and the passing of time."""
        return {"call": self.call, "call_cancelled": self.call_cancelled, "advance": self.advance}

    async def call(self) -> None:
        """Make a call that runs to its end."""
        await self._call(cancel=False)

    async def call_cancelled(self) -> None:
        """Make a call whose caller cancels it at a drawn instant."""
        await self._call(cancel=True)

    async def _call(self, *, cancel: bool) -> None:
        session = self.session
        number = next(self.calls)
        # One step more than allowed: a retrier that overruns still has a script to follow.
        length = self.driver.max_attempts + 1
        script = session.draw(st.lists(_STEP, min_size=length, max_size=length), label="script")
        cancel_at = session.draw(st.sampled_from(_CANCEL_AT), label="cancel_at") if cancel else None
        session.step(f"call #{number} script={script} cancel_at={cancel_at}")
        await self.driver.call(number, script, cancel_at)
