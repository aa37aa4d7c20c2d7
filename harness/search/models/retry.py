"""The retry model: calls through a ``retrier`` whose ``fn`` follows a drawn script.

Each example draws a schedule (``max_attempts``, ``base``, ``factor``, ``cap``, ``jitter``,
``seed``) and builds one retrier. A ``call`` operation draws a script, one entry per attempt
(how long the attempt sleeps in virtual time, then whether it succeeds, fails with a retryable
error or fails with a non-retryable one), and possibly an instant at which the caller cancels
the call. The harness's ``fn`` records each attempt's start and end, and every exception it
raises is a fresh object with a unique name, so the checker can tell which one came out.

Events recorded (``id`` is the call number): ``call_begin`` (``cancel_at``: the drawn offset
or None); ``attempt_begin`` (``attempt``); ``attempt_ok`` (``attempt``, ``value``);
``attempt_fail`` (``attempt``, ``retryable``, ``error``, ``low``, ``high``: the retrier's
declared delay bounds after this attempt, read through ``bounds``); ``attempt_cancelled``
(``attempt``); ``cancel`` (the caller cancelled while the call was running); ``call_end``
(``outcome`` ok/error/cancelled, ``value``, ``error``: the name of the attempt exception
raised, or ``"foreign"``); ``metrics`` (id None, ``counters``) after each call when the
implementation declares ``metrics``. See :mod:`harness.checkers.retry`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import anyio
from hypothesis import strategies as st

from harness.checkers.retry import RetryChecker, RetryMetricsChecker
from harness.checking import Checker
from harness.contract import Implementation
from harness.rules import Pattern
from harness.search.model import Model, StepFailed

#: Attempt durations: a coarse grid, so attempts and backoffs rarely end together.
_DURATIONS = (0.0, 0.1, 0.2, 0.5)
#: Offsets (from the call's start) at which a caller may cancel: off the duration grid.
_CANCEL_AT = (0.013, 0.137, 0.31, 0.77, 1.29, 2.43)


class ScriptedError(Exception):
    """The exception an attempt raises; ``name`` is unique to this one object."""

    def __init__(self, name: str, retryable: bool) -> None:
        super().__init__(name)
        self.name = name
        self.retryable = retryable


def _retryable(exc: Exception) -> bool:
    """Tell the retrier which errors to retry: only scripted retryable ones."""
    return isinstance(exc, ScriptedError) and exc.retryable


_STEP = st.tuples(
    st.sampled_from(_DURATIONS),
    st.sampled_from(["retry", "retry", "retry", "ok", "fatal"]),
)


class RetryModel(Model):
    """Drives ``retrier``: scripted calls, some cancelled during an attempt or a backoff."""

    pattern: ClassVar[Pattern] = Pattern.RETRY
    factories: ClassVar[tuple[str, ...]] = ("retrier",)
    max_steps: ClassVar[int] = 8

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

    @classmethod
    def make_checkers(cls, params: dict[str, Any]) -> list[Checker]:
        """Check the retry rules and the retries counter."""
        return [RetryChecker(params), RetryMetricsChecker(params)]

    def __init__(self, session: Any) -> None:
        super().__init__(session)
        self.retrier: Any = None
        self.max_attempts = 1
        self.calls = itertools.count()

    async def setup(self, params: dict[str, Any]) -> None:
        """Build the retrier through the implementation's factory."""
        self.max_attempts = params["max_attempts"]
        kwargs = {k: params[k] for k in ("max_attempts", "base", "factor", "cap", "jitter", "seed")}
        factory = self.session.factory("retrier")
        self.retrier = self.session.call_sync("retrier()", factory, retryable=_retryable, **kwargs)

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
        script = session.draw(
            st.lists(_STEP, min_size=self.max_attempts + 1, max_size=self.max_attempts + 1),
            label="script",
        )
        cancel_at = session.draw(st.sampled_from(_CANCEL_AT), label="cancel_at") if cancel else None
        session.step(f"call #{number} script={script} cancel_at={cancel_at}")
        errors: list[ScriptedError] = []
        attempts = itertools.count(1)
        done = False

        async def fn() -> str:
            attempt = next(attempts)
            session.record("attempt_begin", number, attempt=attempt)
            duration, outcome = script[attempt - 1] if attempt <= len(script) else (0.1, "retry")
            try:
                await session.sleep(duration)
            except anyio.get_cancelled_exc_class():
                session.record("attempt_cancelled", number, attempt=attempt)
                raise
            if outcome == "ok":
                value = f"c{number}a{attempt}"
                session.record("attempt_ok", number, attempt=attempt, value=value)
                return value
            name = f"c{number}a{attempt}!"
            error = ScriptedError(name, retryable=outcome == "retry")
            errors.append(error)
            low, high = session.call_sync("bounds()", self.retrier.bounds, attempt)
            session.record(
                "attempt_fail",
                number,
                attempt=attempt,
                retryable=error.retryable,
                error=name,
                low=float(low),
                high=float(high),
            )
            raise error

        async def run() -> tuple[str, Any]:
            try:
                value = await self.retrier.call(fn)
            except ScriptedError as exc:
                named = [e.name for e in errors if e is exc]
                return "error", named[0] if named else "foreign"
            return "ok", value

        scope = anyio.CancelScope()

        async def canceller() -> None:
            assert cancel_at is not None
            await session.sleep(cancel_at)
            if not done:
                session.record("cancel", number)
                scope.cancel()

        session.record("call_begin", number, cancel_at=cancel_at)
        outcome: tuple[str, Any] | None = None
        async with anyio.create_task_group() as nursery:
            if cancel_at is not None:
                nursery.start_soon(canceller)
            try:
                with scope:
                    outcome = await session.call(f"call #{number}", run)
            except anyio.get_cancelled_exc_class():
                # Cancelled from anywhere but our scope: the session's own deadline
                # propagates; a stray one came out of the implementation unprovoked.
                if anyio.current_effective_deadline() == -math.inf:
                    raise
                session.record("crash", f"call #{number}", error="stray cancellation")
                raise StepFailed("call") from None
            finally:
                done = True
                nursery.cancel_scope.cancel()
        if outcome is None:
            session.record("call_end", number, outcome="cancelled", value=None, error=None)
        elif outcome[0] == "ok":
            value = outcome[1]
            shown = (
                value
                if isinstance(value, str | int | float | bool) or value is None
                else repr(value)
            )
            session.record("call_end", number, outcome="ok", value=shown, error=None)
        else:
            session.record("call_end", number, outcome="error", value=None, error=outcome[1])
        counters = self.implementation.read_counters(self.retrier)
        if counters is not None:
            session.record("metrics", None, counters=dict(counters))
