"""The retry driver: calls through one ``retrier`` whose ``fn`` follows a given script.

The harness supplies ``fn``. A call's script gives, per attempt, how long the attempt sleeps
in model time and how it then ends: ``ok`` (returns a value unique to the attempt), ``retry``
(raises a retryable error) or ``fatal`` (raises a non-retryable one); attempts past the script
sleep 0.1 and fail retryably. Every exception ``fn`` raises is a fresh :class:`ScriptedError`
with a unique name, so the checker can tell which one came out of the call. The caller may
cancel a call natively for the backend (:class:`~harness.drivers.host.CallerScope`): before it
starts, at an offset from its start (once, twice at once, or again while the retrier handles
the first), or at any instant through :meth:`RetryDriver.cancel`.

Events (``id`` is the call number; see :mod:`harness.checkers.retry` for the fields):
``call_begin`` (``cancel_at``: the offset, or None; ``how``: how the caller will cancel, or
None), ``attempt_begin``, ``attempt_ok``,
``attempt_fail`` (with the retrier's declared delay bounds, read through ``bounds``),
``attempt_cancelled``, ``cancel``, ``call_end`` and, after each call when the implementation
declares ``metrics``, ``metrics`` (id None, ``counters``); plus the shared ``hang``/``crash``.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import anyio

from harness.checkers.retry import RetryChecker, RetryMetricsChecker
from harness.checking import Checker
from harness.drivers.base import Driver
from harness.drivers.host import CallerScope, Host
from harness.events import as_scalar
from harness.rules import Pattern

__all__ = ["SCHEDULE", "RetryDriver", "ScriptedError", "Step", "retryable"]

T = TypeVar("T")

#: One attempt of a script: its duration in model seconds, then ``ok``, ``retry`` or ``fatal``.
Step = tuple[float, str]
#: The retrier's parameters, passed to its factory as they are.
SCHEDULE = ("max_attempts", "base", "factor", "cap", "jitter", "seed")
#: What an attempt past the end of its script does (only a retrier that overruns reaches it).
_PAST_SCRIPT: Step = (0.1, "retry")


class ScriptedError(Exception):
    """The exception an attempt raises; ``name`` is unique to this one object."""

    def __init__(self, name: str, retryable: bool) -> None:
        super().__init__(name)
        self.name = name
        self.retryable = retryable


def retryable(exc: Exception) -> bool:
    """Tell the retrier which errors to retry: only scripted retryable ones."""
    return isinstance(exc, ScriptedError) and exc.retryable


class RetryDriver(Driver):
    """One ``retrier``: the harness's ``fn``, and scripted calls, each cancellable."""

    pattern: ClassVar[Pattern] = Pattern.RETRY
    factories: ClassVar[tuple[str, ...]] = ("retrier",)

    def __init__(self, host: Host, params: Mapping[str, Any]) -> None:
        super().__init__(host, params)
        self.retrier: Any = None
        self.max_attempts = int(self.params["max_attempts"])
        #: The caller's scope of every call still running, by call number.
        self.open: dict[int, CallerScope] = {}

    @classmethod
    def make_checkers(cls, params: Mapping[str, Any]) -> list[Checker]:
        """Check the retry rules and the retries counter."""
        return [RetryChecker(params), RetryMetricsChecker(params)]

    async def setup(self) -> None:
        """Build the retrier from the run's schedule, with the harness's ``retryable``."""
        kwargs = {name: self.params[name] for name in SCHEDULE}
        self.retrier = self.host.call_sync(
            "retrier()", self.host.factory("retrier"), retryable=retryable, **kwargs
        )

    def _fn(
        self,
        number: int,
        script: Sequence[Step],
        errors: list[ScriptedError],
        caller: CallerScope,
    ) -> Callable[[], Awaitable[str]]:
        """The ``fn`` of call ``number``: each attempt follows the next step of ``script``.

        A cancellation that interrupts an attempt is ``caller``'s: it reached the retrier's
        call (:meth:`CallerScope.arrived`), which must now let it out.
        """
        record = self.record
        attempts = itertools.count(1)

        async def fn() -> str:
            attempt = next(attempts)
            record("attempt_begin", number, attempt=attempt)
            duration, outcome = script[attempt - 1] if attempt <= len(script) else _PAST_SCRIPT
            try:
                await self.host.sleep(duration)
            except anyio.get_cancelled_exc_class():
                caller.arrived()
                record("attempt_cancelled", number, attempt=attempt)
                raise
            if outcome == "ok":
                value = f"c{number}a{attempt}"
                record("attempt_ok", number, attempt=attempt, value=value)
                return value
            name = f"c{number}a{attempt}!"
            error = ScriptedError(name, retryable=outcome == "retry")
            errors.append(error)
            # Without bounds() the checker holds the delays to the guide's own schedule.
            low, high = (
                self.host.call_sync("bounds()", self.retrier.bounds, attempt)
                if self.has(self.retrier, "bounds")
                else (None, None)
            )
            record(
                "attempt_fail",
                number,
                attempt=attempt,
                retryable=error.retryable,
                error=name,
                low=None if low is None else float(low),
                high=None if high is None else float(high),
            )
            raise error

        return fn

    # -- operations --------------------------------------------------------------------------
    async def call(
        self,
        number: int,
        script: Sequence[Step],
        cancel_at: float | None = None,
        how: str = "once",
    ) -> str:
        """Make call ``number`` through the retrier and record how it ended.

        ``script`` has one step per attempt. Its caller cancels it natively for the backend
        (:class:`CallerScope`), ``how`` one of ``CANCEL_HOWS``: ``entry`` before it starts,
        else ``cancel_at`` (when given) model seconds into it. Returns the call's outcome:
        ``ok``, ``error``, ``refused`` (max_attempts=0 refused with a ValueError) or
        ``cancelled``.
        """
        record = self.record
        errors: list[ScriptedError] = []
        caller = self.open[number] = CallerScope(self.host, "cancel", number)
        fn = self._fn(number, script, errors, caller)

        async def run() -> tuple[str, Any]:
            try:
                value = await self.retrier.call(fn)
            except ScriptedError as exc:
                named = [e.name for e in errors if e is exc]
                return "error", named[0] if named else "foreign"
            except ValueError as exc:
                # -- boundary values (docs/patterns/retry.md): max_attempts=0 is refused.
                if self.max_attempts >= 1:
                    raise
                return "refused", f"{exc!r:.200}"
            return "ok", value

        if how == "entry":
            caller.cancel("entry")
        elif cancel_at is not None:
            caller.cancel_after(cancel_at, how)
        planned = how if how == "entry" or cancel_at is not None else None
        record("call_begin", number, cancel_at=cancel_at, how=planned)
        try:
            # An error or a refusal is no return: the retrier raised.
            ended = await caller.call(
                f"call #{number}", run, returned=lambda ended: ended[0] == "ok"
            )
        finally:
            del self.open[number]
        if ended is None:
            record("call_end", number, outcome="cancelled", value=None, error=None)
        elif ended[0] == "ok":
            record("call_end", number, outcome="ok", value=as_scalar(ended[1]), error=None)
        else:
            # "error", or "refused" (a ValueError for max_attempts=0, with its text).
            record("call_end", number, outcome=ended[0], value=None, error=ended[1])
        counters = self.read_counters(self.retrier)
        if counters is not None:
            record("metrics", None, counters=dict(counters))
        return "cancelled" if ended is None else ended[0]

    def cancel(self, number: int, how: str = "once") -> None:
        """The caller of call ``number`` cancels it now (if it still runs), ``how`` as above."""
        caller = self.open.get(number)
        if caller is not None:
            caller.cancel(how)

    def cancel_all(self) -> None:
        """Every caller cancels its open call, in call order."""
        for number in sorted(self.open):
            self.cancel(number)
