"""token-bucket's ``Limiter`` as poolcheck's shedding gate (backend ``sync``).

    poolcheck check --impl harness.adapters.token_bucket:implementation

PyPI distribution ``token-bucket`` (checked at 0.3.0, from the Falcon project). Its users
write ``limiter = Limiter(rate, capacity, MemoryStorage())`` and, for each request,
``if not limiter.consume(key, num_tokens): reject``. ``consume`` never waits (its docstring:
"True if the requested number of tokens were removed ... otherwise False ... all or
nothing"), so the library is a load-shedding gate: ``try_admit(weight)`` is
``limiter.consume(KEY, weight)`` on one fixed key, and ``rate`` and ``burst`` are ``rate``
and ``capacity``. It has no blocking acquire, so it is not declared as a token bucket.

What the library is, read from its source: per key, a token count and the
``time.monotonic()`` instant of the last refill; a bucket is created full on its key's first
``consume`` (indistinguishable from one created full earlier, since a full bucket stays full)
and refills continuously up to ``capacity``. The race notes in ``MemoryStorage`` concern
threads calling ``consume`` at once; the gate is called from one thread here.
"""

from __future__ import annotations

from typing import Any, Final

from token_bucket import Limiter, MemoryStorage  # type: ignore[import-untyped]

__all__ = ["KEY", "TokenBucketGate", "implementation"]

#: The one bucket the gate uses (a global limit: the same key for every call).
KEY: Final = b"poolcheck"


class TokenBucketGate:
    """A ``token_bucket.Limiter`` with the contract's ``try_admit``."""

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter

    def try_admit(self, weight: int = 1) -> bool:
        """``limiter.consume(KEY, weight)``: take the tokens now, or reject."""
        return bool(self.limiter.consume(KEY, weight))


def _shedding_gate(*, rate: float, burst: int) -> TokenBucketGate:
    return TokenBucketGate(Limiter(rate, burst, MemoryStorage()))


def implementation() -> dict[str, Any]:
    """The declaration of ``token_bucket.Limiter`` for poolcheck."""
    return {
        "name": "token-bucket",
        "backend": "sync",
        "capabilities": ["weighted_acquire"],
        "factories": {"shedding_gate": _shedding_gate},
    }
