"""What a stress run measures, in memory that does not grow with the run's length.

Latencies go to HDR histograms (microseconds of virtual time, 3 significant digits), counts to
plain counters, and time series to :class:`TimeSeries` (sums per bucket, and levels as their
minimum, mean and maximum per bucket), which halves its resolution whenever it would need
more than ``MAX_BUCKETS`` buckets, so an hour-long run and a second-long one
both plot from a few hundred points.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Final

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

MAX_BUCKETS: Final = 400
LATENCIES: Final = ("queue_wait", "service", "end_to_end")
PERCENTILES: Final = (50.0, 90.0, 99.0, 99.9)
_MICROS: Final = 1_000_000


class TimeSeries:
    """Per-bucket series over virtual time, in memory that does not grow with the run.

    A ``sum`` column adds amounts per bucket (completions, offers). A ``level`` column is a
    gauge that holds its value until the next sample (a queue's length, busy workers): each
    bucket keeps the level's minimum, maximum and time-weighted mean over the bucket, so a plot
    shows bursts and lulls as a band rather than only the peak. Levels start at 0 at time 0.
    """

    def __init__(self, columns: dict[str, str], width: float = 0.01) -> None:
        self.kinds = columns
        self.width = width
        self.columns: dict[str, list[float]] = {}
        #: The level each ``level`` column holds since the instant it was set.
        self.held: dict[str, tuple[float, float]] = {}
        for name, kind in columns.items():
            if kind == "sum":
                self.columns[name] = []
            else:
                self.columns.update({name: [], f"{name}_min": [], f"{name}_area": []})
                self.held[name] = (0.0, 0.0)
        self.merge = {
            name: max if name in self.held else min if name.endswith("_min") else _add
            for name in self.columns
        }

    def _index(self, t: float) -> int:
        index = int(t / self.width)
        while index >= MAX_BUCKETS:
            self._coarsen()
            index = int(t / self.width)
        for name, values in self.columns.items():
            if len(values) <= index:
                fill = math.inf if name.endswith("_min") else 0.0
                values.extend([fill] * (index + 1 - len(values)))
        return index

    def _coarsen(self) -> None:
        self.width *= 2
        for name, values in self.columns.items():
            merge = self.merge[name]
            self.columns[name] = [
                merge(values[i], values[i + 1]) if i + 1 < len(values) else values[i]
                for i in range(0, len(values), 2)
            ]

    def add(self, name: str, t: float, amount: float = 1.0) -> None:
        """Add ``amount`` to a ``sum`` column at instant ``t``."""
        index = self._index(t)
        self.columns[name][index] += amount

    def level(self, name: str, t: float, value: float) -> None:
        """The ``level`` column ``name`` reads ``value`` from instant ``t`` on."""
        self._hold(name, t)
        index = self._index(t)
        self._touch(name, index, value)
        self.held[name] = (t, value)

    def close(self, t: float) -> None:
        """Carry every level up to the run's end ``t``."""
        for name in self.held:
            self._hold(name, t)

    def _hold(self, name: str, until: float) -> None:
        # Spread the held level over every bucket from where it was set up to ``until``.
        since, value = self.held[name]
        while since < until:
            index = self._index(since)
            end = min(until, (index + 1) * self.width)
            if end <= since:  # float rounding put ``since`` on a bucket's edge
                since = math.nextafter(since, math.inf)
                continue
            self._touch(name, index, value)
            self.columns[f"{name}_area"][index] += value * (end - since)
            since = end
        self.held[name] = (max(since, until), value)

    def _touch(self, name: str, index: int, value: float) -> None:
        maxima, minima = self.columns[name], self.columns[f"{name}_min"]
        maxima[index] = max(maxima[index], value)
        minima[index] = min(minima[index], value)

    def to_json(self) -> dict[str, Any]:
        """The series as bucket width plus one list per column (``_min``/``_mean`` of levels)."""
        out: dict[str, Any] = {"bucket_seconds": self.width}
        for name, values in self.columns.items():
            if name.endswith("_area"):
                out[name.removesuffix("_area") + "_mean"] = [v / self.width for v in values]
            elif name.endswith("_min"):
                out[name] = [0.0 if v == math.inf else v for v in values]
            else:
                out[name] = list(values)
        return out


def _add(a: float, b: float) -> float:
    return a + b


class Metrics:
    """Throughput, latency percentiles, gauges over time and outcome counters of one run."""

    def __init__(self) -> None:
        self.histograms = {name: HdrHistogram(1, 10**12, 3) for name in LATENCIES}
        self.counters: Counter[str] = Counter()
        # hdrh's own mean walks the whole histogram in Python; a running sum is exact and free.
        self.latency_sums: dict[str, float] = dict.fromkeys(LATENCIES, 0.0)
        self.series = TimeSeries(
            {
                "completed": "sum",
                "queue_length": "level",
                "busy": "level",
                "admitted": "sum",
                "offered": "sum",
            }
        )
        self.busy = 0
        self._busy_since = 0.0
        self.busy_seconds = 0.0
        self.first_t: float | None = None
        self.last_t = 0.0

    def latency(self, name: str, seconds: float) -> None:
        """Record one latency sample (virtual seconds)."""
        self.histograms[name].record_value(max(1, round(seconds * _MICROS)))
        self.latency_sums[name] += seconds

    def count(self, name: str, amount: int = 1) -> None:
        """Count an outcome (completed, failed, dropped, rejected, retries, ...)."""
        self.counters[name] += amount

    def completed(self, t: float, outcome: str = "completed") -> None:
        """A unit of work finished at ``t`` with ``outcome``."""
        self.counters[outcome] += 1
        self.series.add("completed", t)
        self._stamp(t)

    def offered(self, t: float) -> None:
        """A unit of work was offered at ``t``."""
        self.counters["offered"] += 1
        self.series.add("offered", t)
        self._stamp(t)

    def admitted(self, t: float, weight: int = 1) -> None:
        """A rate limiter admitted ``weight`` at ``t``."""
        self.counters["admitted"] += weight
        self.series.add("admitted", t, weight)
        self._stamp(t)

    def queue_length(self, t: float, n: int) -> None:
        """The queue's length at a settled instant."""
        self.series.level("queue_length", t, n)

    def set_busy(self, t: float, busy: int) -> None:
        """How many workers are busy from ``t`` on (integrated for utilization)."""
        self.busy_seconds += self.busy * (t - self._busy_since)
        self._busy_since = t
        self.busy = busy
        self.series.level("busy", t, busy)

    def _stamp(self, t: float) -> None:
        if self.first_t is None:
            self.first_t = t
        self.last_t = t

    def summary(self, virtual_seconds: float, workers: int | None) -> dict[str, Any]:
        """Everything measured, as JSON-ready numbers."""
        finished = self.series.columns["completed"]
        done = sum(finished)
        latencies = {}
        for name, histogram in self.histograms.items():
            if histogram.get_total_count() == 0:
                continue
            count = histogram.get_total_count()
            # One pass over the histogram for every percentile at once.
            values = histogram.get_percentile_to_value_dict(list(PERCENTILES))
            latencies[name] = {
                "count": count,
                "mean": self.latency_sums[name] / count,
                "max": histogram.get_max_value() / _MICROS,
                **{f"p{p:g}": values[p] / _MICROS for p in PERCENTILES},
            }
        self.series.close(virtual_seconds)
        utilization = None
        if workers and virtual_seconds > 0:
            self.set_busy(virtual_seconds, self.busy)
            utilization = self.busy_seconds / (workers * virtual_seconds)
        return {
            "throughput_per_virtual_second": done / virtual_seconds if virtual_seconds else None,
            "counters": dict(sorted(self.counters.items())),
            "latency_seconds": latencies,
            "worker_utilization": utilization,
            "series": self.series.to_json(),
        }
