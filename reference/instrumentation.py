"""Instrumentation (guide §8): counters and gauges that every pattern reports into.

The guide asks to "instrument queue lengths, worker utilizations, and error rates". One
:class:`Metrics` object can be shared by several components (a queue, a pool, a limiter), so a
single :meth:`Metrics.snapshot` shows the whole pipeline at one instant.

Counters only ever go up and are cheap (a dict update); gauges are callables read lazily at
snapshot time, so a queue's length costs nothing until someone looks at it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import trio

# The counter names the reference uses; other code may add its own.
JOBS_SUBMITTED = "jobs_submitted"
JOBS_COMPLETED = "jobs_completed"
JOBS_FAILED = "jobs_failed"
JOBS_TIMED_OUT = "jobs_timed_out"
JOBS_CANCELLED = "jobs_cancelled"
DROPS = "drops"
RETRIES = "retries"
REJECTIONS = "rejections"
ADMISSIONS = "admissions"


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """Counters and gauge readings taken at one virtual instant ``at``."""

    at: float
    counters: Mapping[str, int]
    gauges: Mapping[str, float]

    def counter(self, name: str) -> int:
        """Return the counter ``name``, or 0 if nothing ever counted it."""
        return self.counters.get(name, 0)


@dataclass(slots=True)
class Metrics:
    """A registry of named counters and gauges, readable as one :class:`MetricsSnapshot`."""

    _counters: dict[str, int] = field(default_factory=dict)
    _gauges: dict[str, Callable[[], float]] = field(default_factory=dict)

    def incr(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the counter ``name``."""
        self._counters[name] = self._counters.get(name, 0) + n

    def gauge(self, name: str, read: Callable[[], float]) -> None:
        """Register ``read`` as the source of the gauge ``name`` (a later call replaces it)."""
        self._gauges[name] = read

    def snapshot(self) -> MetricsSnapshot:
        """Read every counter and gauge now; the result does not change afterwards."""
        return MetricsSnapshot(
            at=trio.current_time(),
            counters=MappingProxyType(dict(self._counters)),
            gauges=MappingProxyType({name: float(read()) for name, read in self._gauges.items()}),
        )


@dataclass(slots=True)
class Utilization:
    """Tracks how much of the time ``workers`` workers spent busy, for a utilization gauge.

    Call :meth:`begin` when a worker picks up a job and :meth:`end` when it finishes; the
    busy time is integrated piecewise, so the reading is exact on virtual time.
    """

    workers: int
    started_at: float = field(default_factory=trio.current_time)
    busy: int = 0
    _busy_seconds: float = 0.0
    _last_change: float = field(default_factory=trio.current_time)

    def _advance(self) -> None:
        now = trio.current_time()
        self._busy_seconds += self.busy * (now - self._last_change)
        self._last_change = now

    def begin(self) -> None:
        """One more worker is busy from now on."""
        self._advance()
        self.busy += 1

    def end(self) -> None:
        """One fewer worker is busy from now on."""
        self._advance()
        self.busy -= 1

    def ratio(self) -> float:
        """Busy worker-seconds over available worker-seconds since start, in [0, 1]."""
        self._advance()
        elapsed = self._last_change - self.started_at
        if elapsed <= 0 or self.workers <= 0:
            return 0.0
        return self._busy_seconds / (elapsed * self.workers)
