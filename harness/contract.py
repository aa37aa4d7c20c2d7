"""The plug-in contract: what an implementation under test declares and provides.

An implementation is named on the command line as ``module:callable``. Calling it returns a
declaration (an object with these attributes, or a mapping with these keys):

``name``
    a short label for reports.
``backend``
    ``"trio"`` (driven under trio's virtual clock); other backends come later.
``capabilities``
    the optional features it has (see :data:`CAPABILITIES`); rules that need a missing one are
    reported not-applicable.
``factories``
    a mapping from factory name (see :data:`FACTORIES`) to a constructor. Each constructor
    takes the keyword arguments listed there and returns an object with the methods of the
    matching Protocol below. A pattern whose factories are all absent is not-applicable.
``closed_errors`` (optional)
    the exception types its queue/pool raise when used after close (default:
    ``trio.ClosedResourceError``).
``counters`` (optional)
    a function reading an object's metric counters as ``{name: int}`` (capability
    ``metrics``); the names are those of ``reference.instrumentation``: ``jobs_submitted``,
    ``jobs_completed``, ``jobs_failed``, ``jobs_timed_out``, ``jobs_cancelled``, ``drops``,
    ``retries``, ``rejections``, ``admissions``.

The reference implementation declares itself the same way, in ``reference/plugin.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Protocol

import trio

from harness.rules import Pattern

#: Factory name -> (pattern, keyword arguments it is called with).
FACTORIES: Final[dict[str, tuple[Pattern, tuple[str, ...]]]] = {
    "unbounded_queue": (Pattern.QUEUE, ()),
    "bounded_queue": (Pattern.QUEUE, ("capacity",)),
    "dropping_queue": (Pattern.QUEUE, ("capacity", "policy")),
    "worker_pool": (
        Pattern.POOL,
        ("handler", "workers", "jobs_buffer", "results_buffer", "job_timeout"),
    ),
    "first_error_group": (Pattern.GROUP, ()),
    "retrier": (
        Pattern.RETRY,
        ("max_attempts", "base", "factor", "cap", "jitter", "seed", "retryable"),
    ),
    "idempotent_sink": (Pattern.IDEMPOTENCY, ("effect",)),
    "reorderer": (Pattern.ORDERING, ("window",)),
    "token_bucket": (Pattern.RATE, ("rate", "burst")),
    "leaky_bucket": (Pattern.RATE, ("interval",)),
    "shedding_gate": (Pattern.RATE, ("rate", "burst")),
    "batcher": (Pattern.BATCH, ("max_size", "max_age")),
}

#: Optional features a declaration may list, and what each means.
CAPABILITIES: Final[dict[str, str]] = {
    "drop_policy": "dropping_queue supports policy='newest' and policy='oldest'",
    "job_timeout": "worker_pool honours job_timeout (seconds, or None)",
    "weighted_acquire": "token_bucket.acquire/try_acquire take a weight",
    "metrics": "the declaration's counters() reads the objects' counters",
}

BACKENDS: Final = frozenset({"trio"})


@dataclass(frozen=True, slots=True)
class Implementation:
    """A validated declaration of one implementation under test."""

    spec: str
    name: str
    backend: str
    capabilities: frozenset[str]
    factories: Mapping[str, Callable[..., Any]]
    closed_errors: tuple[type[BaseException], ...] = (trio.ClosedResourceError,)
    counters: Callable[[Any], Mapping[str, int]] | None = None

    def has(self, capability: str) -> bool:
        """Whether the implementation declares ``capability``."""
        return capability in self.capabilities

    def factories_for(self, pattern: Pattern) -> dict[str, Callable[..., Any]]:
        """The factories this implementation provides for ``pattern``."""
        return {
            name: make
            for name, make in self.factories.items()
            if FACTORIES.get(name, (None,))[0] is pattern
        }

    def read_counters(self, obj: object) -> Mapping[str, int] | None:
        """The counters of ``obj``, or None without the ``metrics`` capability."""
        if self.counters is None or not self.has("metrics"):
            return None
        return self.counters(obj)


class QueueUnderTest(Protocol):
    """Queue contract: ``trio.WouldBlock`` from *_nowait, ``trio.EndOfChannel`` at the end."""

    async def put(self, item: Any) -> None:
        """Enqueue, blocking while full (bounded); never blocks when dropping or unbounded."""

    def put_nowait(self, item: Any) -> None:
        """Enqueue or raise ``trio.WouldBlock`` when full."""

    async def get(self) -> Any:
        """Dequeue the head, waiting while empty; ``EndOfChannel`` once closed and drained."""

    def get_nowait(self) -> Any:
        """Dequeue the head or raise ``trio.WouldBlock``; ``EndOfChannel`` when drained."""

    def close(self) -> None:
        """Refuse further puts; remaining items can still be taken."""

    def __len__(self) -> int:
        """Items held now."""


class DroppingQueueUnderTest(QueueUnderTest, Protocol):
    """A queue that sheds load when full instead of blocking."""

    def offer(self, item: Any) -> bool:
        """Enqueue without blocking; False when the item itself was dropped."""


class ResultUnderTest(Protocol):
    """One job's outcome: ``status`` is ok, error, timeout or cancelled."""

    id: Hashable
    status: str


class PoolUnderTest(Protocol):
    """Worker pool contract, used as ``async with pool:``."""

    results: trio.abc.ReceiveChannel[Any]
    undelivered: list[Any]

    async def __aenter__(self) -> Any:
        """Start the workers."""

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """Wait for the workers (drain), or for their cancellation."""

    async def submit(self, job_id: Hashable, payload: Any) -> None:
        """Queue a job, blocking while the jobs buffer is full."""

    def submit_nowait(self, job_id: Hashable, payload: Any) -> None:
        """Queue a job or raise ``trio.WouldBlock``."""

    def close(self) -> None:
        """No more jobs: drain and then end the results."""

    def cancel(self) -> None:
        """Stop now: no job starts afterwards."""


class GroupUnderTest(Protocol):
    """First-error group contract, used as ``async with group:``."""

    async def __aenter__(self) -> Any:
        """Open the group."""

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """Wait for every task; raise the first error."""

    def start_soon(self, fn: Callable[[], Awaitable[object]]) -> None:
        """Run ``fn`` in the group."""


class RetrierUnderTest(Protocol):
    """Retry contract: ``call`` runs ``fn`` with retries; ``bounds`` exposes the schedule."""

    async def call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        """Call ``fn`` until success, a non-retryable error, or attempts run out."""

    def bounds(self, attempt: int) -> tuple[float, float]:
        """Inclusive bounds of the delay after failed attempt number ``attempt`` (from 1)."""


class SinkUnderTest(Protocol):
    """Idempotent sink contract."""

    async def apply(self, key: Hashable, value: Any) -> bool:
        """Apply the effect for ``key`` unless already applied; True if it ran now."""


class ReordererUnderTest(Protocol):
    """Reorder stage contract."""

    async def put(self, seq: int, item: Any) -> None:
        """Hand in item ``seq``; blocks while it lies beyond the window."""

    async def get(self) -> tuple[int, Any]:
        """The next item in sequence order."""

    def close(self) -> None:
        """No more items."""


class LimiterUnderTest(Protocol):
    """Token or leaky bucket contract."""

    async def acquire(self, weight: int = 1) -> None:
        """Wait (FIFO) until admitted."""

    def try_acquire(self, weight: int = 1) -> bool:
        """Admit now or refuse."""


class GateUnderTest(Protocol):
    """Load-shedding gate contract."""

    def try_admit(self, weight: int = 1) -> bool:
        """Admit now or reject (never waits)."""


class BatcherUnderTest(Protocol):
    """Batcher contract, used as ``async with batcher:``; batches come out of ``batches``."""

    batches: trio.abc.ReceiveChannel[list[Any]]

    async def __aenter__(self) -> Any:
        """Start the flusher."""

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """Stop the flusher."""

    async def put(self, item: Any) -> None:
        """Add an item to the current batch."""

    def close(self) -> None:
        """Flush what remains and end ``batches``."""
