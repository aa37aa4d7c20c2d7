"""Metrics stay small however long the run, and summarise what was recorded."""

from __future__ import annotations

import pytest

from harness.stress.metrics import MAX_BUCKETS, Metrics, TimeSeries


def test_time_series_halve_their_resolution_instead_of_growing() -> None:
    series = TimeSeries({"done": "sum", "level": "level"}, width=0.01)
    for second in range(3600):
        series.add("done", second + 0.5, 2.0)
        series.level("level", second + 0.5, second % 7)
    series.close(3600.0)
    assert len(series.columns["done"]) <= MAX_BUCKETS
    assert sum(series.columns["done"]) == pytest.approx(7200.0)
    assert max(series.columns["level"]) == 6
    assert series.width * len(series.columns["done"]) >= 3600
    # Levels 0..6 held one second each, over and over: the mean over the hour is near 3.
    means = series.to_json()["level_mean"]
    assert sum(means) * series.width == pytest.approx(sum(s % 7 for s in range(3600)), rel=1e-3)


def test_a_level_band_shows_bursts_and_lulls_within_a_bucket() -> None:
    series = TimeSeries({"queue": "level"}, width=1.0)
    # Within the first second: empty, a burst to 10 for a tenth of a second, then 2.
    series.level("queue", 0.2, 10)
    series.level("queue", 0.3, 2)
    series.level("queue", 1.5, 0)
    series.close(2.0)
    out = series.to_json()
    assert out["queue"] == [10, 2]
    assert out["queue_min"] == [0, 0]
    # 0.2 s at 0, 0.1 s at 10, 0.7 s at 2 -> mean 2.4; then 0.5 s at 2, 0.5 s at 0 -> 1.
    assert out["queue_mean"] == pytest.approx([2.4, 1.0])


def test_latency_percentiles_and_mean_come_from_the_samples() -> None:
    metrics = Metrics()
    for ms in range(1, 1001):
        metrics.latency("end_to_end", ms / 1000)
    summary = metrics.summary(virtual_seconds=10.0, workers=None)
    latency = summary["latency_seconds"]["end_to_end"]
    assert latency["count"] == 1000
    assert latency["mean"] == pytest.approx(0.5005)
    assert latency["p50"] == pytest.approx(0.5, rel=1e-2)
    assert latency["p99"] == pytest.approx(0.99, rel=1e-2)
    assert "service" not in summary["latency_seconds"]


def test_utilization_integrates_busy_workers_over_time() -> None:
    metrics = Metrics()
    metrics.set_busy(0.0, 2)
    metrics.set_busy(5.0, 1)
    summary = metrics.summary(virtual_seconds=10.0, workers=2)
    # 2 busy for 5 s, then 1 busy for 5 s, out of 2 workers for 10 s.
    assert summary["worker_utilization"] == pytest.approx(0.75)
