"""The reference's declaration for poolcheck's plug-in path (``reference.plugin:implementation``).

Any implementation reaches the conformance harness by a callable that returns a declaration:
a name, a backend, the capabilities it has and a factory per pattern. This module is that
callable for the reference. It imports only the reference, as a third-party adapter would import
only its own library: the harness finds it by name, never by import.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from reference.batching import Batcher
from reference.concurrency import ConcurrencyLimiter
from reference.errgroup import FirstErrorGroup
from reference.idempotency import IdempotentSink
from reference.instrumentation import Metrics
from reference.ordering import Reorderer
from reference.pool import WorkerPool
from reference.queues import BoundedQueue, DroppingQueue, DropPolicy, QueueClosed, UnboundedQueue
from reference.ratelimit import LeakyBucket, SheddingGate, TokenBucket
from reference.retry import Backoff, retry

T = TypeVar("T")


class Retrier:
    """Adapts :func:`reference.retry.retry` to an object with ``call`` and ``bounds``."""

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
        self.max_attempts = max_attempts
        self.backoff = Backoff(base=base, factor=factor, cap=cap, jitter=jitter)
        self.retryable = retryable
        self.rng = random.Random(seed)
        self.metrics = Metrics()

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn`` with retries."""
        return await retry(
            fn,
            max_attempts=self.max_attempts,
            backoff=self.backoff,
            retryable=self.retryable,
            rng=self.rng,
            metrics=self.metrics,
        )

    def bounds(self, attempt: int) -> tuple[float, float]:
        """The declared delay bounds after failed attempt ``attempt``."""
        return self.backoff.bounds(attempt)


def _counters(obj: Any) -> Mapping[str, int]:
    counters: Mapping[str, int] = obj.metrics.snapshot().counters
    return counters


def _dropping_queue(*, capacity: int, policy: str) -> DroppingQueue[Any]:
    return DroppingQueue(capacity, DropPolicy[policy.upper()])


def _worker_pool(
    *,
    handler: Callable[[Any], Awaitable[Any]],
    workers: int,
    jobs_buffer: int,
    results_buffer: int,
    job_timeout: float | None,
) -> WorkerPool[Any, Any]:
    return WorkerPool(
        handler,
        workers=workers,
        jobs_buffer=jobs_buffer,
        results_buffer=results_buffer,
        job_timeout=job_timeout,
    )


def _idempotent_sink(
    *, effect: Callable[[Hashable, Any], Awaitable[None]]
) -> IdempotentSink[Any, Any]:
    return IdempotentSink(effect)


@dataclass(frozen=True)
class Declaration:
    """What the harness reads: see ``harness.contract`` for each field's meaning."""

    name: str = "reference"
    backend: str = "trio"
    capabilities: frozenset[str] = frozenset(
        {
            "drop_policy",
            "job_timeout",
            "weighted_acquire",
            "metrics",
            "fifo",
            "strict_release",
            "fifo_waiters",
        }
    )
    factories: Mapping[str, Callable[..., Any]] = field(
        default_factory=lambda: {
            "unbounded_queue": UnboundedQueue,
            "bounded_queue": lambda *, capacity: BoundedQueue(capacity),
            "dropping_queue": _dropping_queue,
            "worker_pool": _worker_pool,
            "first_error_group": FirstErrorGroup,
            "retrier": Retrier,
            "idempotent_sink": _idempotent_sink,
            "reorderer": lambda *, window: Reorderer(window),
            "token_bucket": lambda *, rate, burst: TokenBucket(rate, burst),
            "leaky_bucket": lambda *, interval: LeakyBucket(interval),
            "shedding_gate": lambda *, rate, burst: SheddingGate(rate, burst),
            "batcher": lambda *, max_size, max_age: Batcher(max_size, max_age),
            "concurrency_limiter": lambda *, limit: ConcurrencyLimiter(limit),
        }
    )
    closed_errors: tuple[type[BaseException], ...] = (QueueClosed,)
    counters: Callable[[Any], Mapping[str, int]] = _counters


def implementation() -> Declaration:
    """The reference implementation's declaration."""
    return Declaration()
