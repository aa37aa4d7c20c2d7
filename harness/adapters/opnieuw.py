"""opnieuw's ``retry`` decorator as poolcheck's retrier (backends ``asyncio`` and ``sync``).

    poolcheck check --impl harness.adapters.opnieuw:implementation        # async functions
    poolcheck check --impl harness.adapters.opnieuw:sync_implementation   # blocking ones

PyPI distribution ``opnieuw`` (checked at 4.0.0). Its users decorate a function once::

    @opnieuw.retry(
        retry_on_exceptions=(SomeError,),
        max_calls_total=3,
        retry_window_after_first_call_in_seconds=60,
    )
    async def fetch() -> ...: ...

Since 4.0.0 ``retry`` wraps async functions itself; ``retry_async`` is kept as a deprecated
alias that returns ``retry(...)`` unchanged, so the adapter uses ``retry``, which is the same
code. The adapter decorates one async trampoline ``attempt(fn) = await fn()`` once per
retrier, and ``call(fn)`` is ``await attempt(fn)``: each attempt is one call of the harness's
``fn``, and the sleeps between attempts are opnieuw's own ``asyncio.sleep``. The same decorator
on a plain function retries blocking calls with ``time.sleep``; ``sync_implementation``
declares that form on the ``sync`` backend, where ``time.sleep`` and ``time.monotonic`` (opnieuw
reads its retry window on it) run on the virtual clock.

Mapping the contract's parameters onto opnieuw's three knobs:

* ``max_calls_total`` is ``max_attempts``.
* opnieuw's schedule is fixed in form (its docstring: "a Full Jitter exponential backoff"):
  after failed attempt ``n`` it sleeps ``uniform(0, m * 2**(n-1))`` with
  ``m = window / max(2**(max_calls_total-1) - 1, 1)``. The window is chosen so that ``m`` is
  the contract's ``base``: ``window = base * max(2**(max_attempts-1) - 1, 1)``. ``factor``
  (always 2), ``cap`` (none), ``jitter`` (always full) and ``seed`` (opnieuw draws from the
  global ``random`` module) cannot be passed, so ``bounds(n)`` declares opnieuw's own schedule,
  ``(0, base * 2**(n-1))``, not the drawn one.
* ``retry_on_exceptions`` takes exception types, and the harness says which errors are
  retryable with a predicate. opnieuw tests ``isinstance(error, retry_on_exceptions)``, so the
  adapter passes one exception type whose ``isinstance`` check is the predicate: the least
  plumbing that hands a predicate to a type-based filter.

opnieuw documents (in ``retry``'s docstring, "This function will NOT") that it does not time
the decorated function, that it does not guarantee that ``max_calls_total`` is reached, and
that no new call is made once the retry window is over: a retry whose jittered delay would end
after the window is not made, and the last error is raised early. Giving up before
``max_attempts`` retryable failures is what RETRY-MAX-ATTEMPTS reports as giving up early, so
that rule is declared a deviation.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import opnieuw

#: The version this adapter was checked at (opnieuw keeps it in ``opnieuw.__version__``).
VERSION: str = getattr(opnieuw, "__version__", "unknown")


def _predicate_type(retryable: Callable[[Exception], bool]) -> type[Exception]:
    """An exception type ``T`` with ``isinstance(error, T) == retryable(error)``."""

    class _Predicate(type):
        def __instancecheck__(cls, instance: object) -> bool:
            return isinstance(instance, Exception) and retryable(instance)

    class Retryable(Exception, metaclass=_Predicate):
        """Matches exactly the errors the harness's ``retryable`` accepts."""

    return Retryable


def _doubled(n: int) -> float:
    """``2.0 ** n``, infinite past the float range (a long schedule is no error of ours)."""
    try:
        return 2.0**n
    except OverflowError:
        return math.inf


def _decorator(
    max_attempts: int, base: float, retryable: Callable[[Exception], bool]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``opnieuw.retry(...)`` for the contract's parameters (see the module's docstring)."""
    window = base * max(_doubled(max_attempts - 1) - 1, 1) if base else 0.0
    return opnieuw.retry(
        retry_on_exceptions=_predicate_type(retryable),
        max_calls_total=max_attempts,
        # opnieuw annotates the window as int seconds; it only does arithmetic on it.
        retry_window_after_first_call_in_seconds=window,  # type: ignore[arg-type,unused-ignore]
    )


class OpnieuwRetrier:
    """``opnieuw.retry`` around an async trampoline that awaits the function it is given."""

    def __init__(
        self,
        *,
        max_attempts: int,
        base: float,
        factor: float,
        cap: float,
        jitter: Literal["none", "full", "equal"],
        seed: int,
        retryable: Callable[[Exception], bool],
    ) -> None:
        self.base = base
        self._attempt = _decorator(max_attempts, base, retryable)(self._trampoline)

    @staticmethod
    async def _trampoline(fn: Callable[[], Awaitable[Any]]) -> Any:
        return await fn()

    async def call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        """Call ``fn`` through the decorated trampoline: opnieuw retries it."""
        return await self._attempt(fn)

    def bounds(self, attempt: int) -> tuple[float, float]:
        """The full-jitter delay after failed attempt ``n``: ``[0, base * 2**(n-1)]``."""
        return 0.0, self.base * _doubled(attempt - 1) if self.base else 0.0


class OpnieuwSyncRetrier(OpnieuwRetrier):
    """``opnieuw.retry`` around a plain trampoline: blocking calls, ``time.sleep`` between."""

    def __init__(
        self,
        *,
        max_attempts: int,
        base: float,
        factor: float,
        cap: float,
        jitter: Literal["none", "full", "equal"],
        seed: int,
        retryable: Callable[[Exception], bool],
    ) -> None:
        self.base = base
        self._sync_attempt = _decorator(max_attempts, base, retryable)(self._sync_trampoline)

    @staticmethod
    def _sync_trampoline(fn: Callable[[], Any]) -> Any:
        return fn()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Call the blocking ``fn`` through the decorated trampoline: opnieuw retries it."""
        return self._sync_attempt(fn)


#: opnieuw's documented reason for giving up before ``max_calls_total`` calls.
_RETRY_WINDOW = (
    "opnieuw documents that it does not guarantee max_calls_total is reached: it makes no new "
    "call once the retry window after the first call is over (a retry whose jittered delay "
    "would end past it is not made), and it does not count the decorated function's own run "
    "time, so a slow retryable failure can end the retries early with the last error"
)


def implementation() -> dict[str, Any]:
    """The declaration of ``opnieuw.retry`` on an async function for poolcheck."""
    return {
        "name": f"opnieuw-{VERSION}",
        "backend": "asyncio",
        "capabilities": ["own_schedule"],
        "factories": {"retrier": OpnieuwRetrier},
        "deviations": {"RETRY-MAX-ATTEMPTS": _RETRY_WINDOW},
    }


def sync_implementation() -> dict[str, Any]:
    """The declaration of ``opnieuw.retry`` on a blocking function (backend ``sync``)."""
    return {
        "name": f"opnieuw-{VERSION}-sync",
        "backend": "sync",
        "capabilities": ["own_schedule"],
        "factories": {"retrier": OpnieuwSyncRetrier},
        "deviations": {"RETRY-MAX-ATTEMPTS": _RETRY_WINDOW},
    }
