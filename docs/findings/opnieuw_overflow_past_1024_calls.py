"""opnieuw 4.0.0: a retry schedule of more than 1,024 calls raises OverflowError before any call.

Needs no poolcheck. ``opnieuw.retry(max_calls_total=1100, ...)`` works out its backoff bound
as ``2.0 ** (max_calls_total - 1)`` in floats, which overflows past 1,024 calls: the decorated
function is never called, and the caller gets an ``OverflowError`` instead of the function's
last error. Exits 1 when that happens.
"""

import asyncio
import sys

import opnieuw

calls = 0


@opnieuw.retry(
    retry_on_exceptions=(ValueError,),
    max_calls_total=1100,
    retry_window_after_first_call_in_seconds=60,
)
async def always_fails() -> None:
    """A retryable failure, every time."""
    global calls
    calls += 1
    raise ValueError("boom")


def main() -> int:
    """Call it once: 0 when opnieuw called the function, 1 when it overflowed first."""
    try:
        asyncio.run(always_fails())
    except OverflowError as exc:
        print(
            f"opnieuw {opnieuw.__version__ if hasattr(opnieuw, '__version__') else ''}: "
            f"{exc!r} after {calls} calls of the function"
        )
        return 1
    except ValueError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
