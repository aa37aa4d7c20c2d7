"""Stress runs: the reference passes, broken implementations are flagged by the right rule."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.checking import Verdict
from harness.plugin import ConfigError, load_implementation
from harness.stress.runner import RING, run_scenario, why_not_runnable
from harness.stress.scenario import catalog, load_scenario, parse

REFERENCE = "reference.plugin:implementation"


def verdicts(result: object) -> dict[str, Verdict]:
    return {rule.rule_id: rule.verdict for rule in result.rules}  # type: ignore[attr-defined]


def test_the_reference_passes_a_small_pool_run(small_pool: Path) -> None:
    result = run_scenario(load_scenario(str(small_pool)), load_implementation(REFERENCE))
    found = verdicts(result)
    assert Verdict.FAIL not in found.values()
    assert found["POOL-EXACTLY-ONCE"] is Verdict.PASS
    assert found["POOL-CONCURRENCY"] is Verdict.PASS
    assert result.metrics["counters"]["completed"] == 200
    # Two workers, 0.1 s per job, 200 jobs: 10 virtual seconds, all busy.
    assert abs(result.virtual_seconds - 10.0) < 0.01
    assert result.metrics["worker_utilization"] > 0.99


def test_an_extra_worker_is_flagged_as_pool_concurrency(small_pool: Path) -> None:
    implementation = load_implementation("tests.stress.broken:extra_worker")
    result = run_scenario(load_scenario(str(small_pool)), implementation)
    failed = [rule for rule in result.rules if rule.verdict is Verdict.FAIL]
    assert [rule.rule_id for rule in failed] == ["POOL-CONCURRENCY"]
    first = failed[0].first[0]
    assert "3 jobs run at once with 2 worker(s)" in first["message"]
    assert any("job_start" in line for line in first["events"])
    assert 0 < len(failed[0].context) <= RING


def test_a_too_fast_bucket_is_flagged_as_rate_bound() -> None:
    scenario = dataclasses.replace(load_scenario("rate-token-bucket-hour"), seconds=30.0)
    result = run_scenario(scenario, load_implementation("tests.stress.broken:fast_bucket"))
    assert verdicts(result)["RATE-BOUND"] is Verdict.FAIL


def test_a_hanging_submit_is_a_no_hang_verdict_not_a_hang(small_pool: Path) -> None:
    implementation = load_implementation("tests.stress.broken:hanging_pool")
    result = run_scenario(load_scenario(str(small_pool)), implementation)
    assert verdicts(result)["NO-HANG"] is Verdict.FAIL


def test_a_crashing_handler_path_is_a_no_crash_verdict() -> None:
    raw = {
        "pattern": "group",
        "load": {"tasks": 3, "duration": 0.5},
        "run": {"jobs": 6},
    }
    scenario = parse(raw)

    class Exploding:
        def __init__(self) -> None:
            raise RuntimeError("boom")

    implementation = dataclasses.replace(
        load_implementation(REFERENCE),
        factories={**load_implementation(REFERENCE).factories, "first_error_group": Exploding},
    )
    result = run_scenario(scenario, implementation)
    assert verdicts(result)["NO-CRASH"] is Verdict.FAIL


def test_every_pattern_runs_small_on_the_reference() -> None:
    implementation = load_implementation(REFERENCE)
    for name in (
        "queue-backpressure",
        "queue-bursts-dropping",
        "group-first-error",
        "retry-flaky",
        "idempotency-flaky-duplicates",
        "ordering-out-of-order",
        "batch-steady",
        "rate-shedding-gate",
        "pool-cancel-midstream",
    ):
        scenario = load_scenario(name)
        if scenario.jobs is not None:
            scenario = dataclasses.replace(scenario, jobs=min(scenario.jobs, 300))
        else:
            scenario = dataclasses.replace(scenario, seconds=5.0)
        result = run_scenario(scenario, implementation)
        failed = [rule.rule_id for rule in result.rules if rule.verdict is Verdict.FAIL]
        assert failed == [], name
        assert result.events > 0, name


def test_checking_off_still_measures(small_pool: Path) -> None:
    result = run_scenario(
        load_scenario(str(small_pool)), load_implementation(REFERENCE), check=False
    )
    assert result.rules == []
    assert result.metrics["counters"]["completed"] == 200


ASYNCIO = "examples.asyncio_impl:implementation"


def test_a_pattern_the_backend_cannot_drive_is_a_clear_config_error(small_pool: Path) -> None:
    queue = load_scenario("queue-backpressure")
    implementation = load_implementation("examples.thread_pool:implementation")
    with pytest.raises(ConfigError, match="drives only the worker pool"):
        run_scenario(queue, implementation)


def test_a_missing_factory_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigError, match="needs factory 'first_error_group'"):
        run_scenario(load_scenario("group-first-error"), load_implementation(ASYNCIO))


def _catalog_for(spec: str) -> list[str]:
    implementation = load_implementation(spec)
    return [
        name for name in catalog() if why_not_runnable(load_scenario(name), implementation) is None
    ]


def test_the_asyncio_example_runs_every_catalog_scenario_it_provides() -> None:
    names = _catalog_for(ASYNCIO)
    # A pool, a bounded queue, a token bucket and a shedding gate.
    assert {"pool-drain", "pool-cancel-midstream", "queue-backpressure"} <= set(names)
    assert {"rate-token-bucket-hour", "rate-shedding-gate"} <= set(names)
    implementation = load_implementation(ASYNCIO)
    for name in names:
        scenario = load_scenario(name)
        if scenario.jobs is not None:
            scenario = dataclasses.replace(scenario, jobs=min(scenario.jobs, 300))
        else:
            scenario = dataclasses.replace(scenario, seconds=min(scenario.seconds or 5.0, 30.0))
        result = run_scenario(scenario, implementation)
        failed = [rule.rule_id for rule in result.rules if rule.verdict is Verdict.FAIL]
        assert failed == [], name
        assert verdicts(result)["NO-HANG"] is Verdict.PASS, name
        assert result.events > 0, name


def test_a_wrong_asyncio_pool_fails_its_scenario_rule(small_pool: Path) -> None:
    implementation = load_implementation("tests.stress.broken:asyncio_extra_worker")
    result = run_scenario(load_scenario(str(small_pool)), implementation)
    failed = [rule for rule in result.rules if rule.verdict is Verdict.FAIL]
    assert [rule.rule_id for rule in failed] == ["POOL-CONCURRENCY"]
    assert "3 jobs run at once with 2 worker(s)" in failed[0].first[0]["message"]


def test_a_wrong_asyncio_bucket_fails_rate_bound() -> None:
    scenario = dataclasses.replace(load_scenario("rate-token-bucket-hour"), seconds=30.0)
    implementation = load_implementation("tests.stress.broken:asyncio_fast_bucket")
    assert verdicts(run_scenario(scenario, implementation))["RATE-BOUND"] is Verdict.FAIL


def test_the_threads_example_runs_the_pool_scenarios_on_the_real_clock(small_pool: Path) -> None:
    scenario = dataclasses.replace(load_scenario(str(small_pool)), jobs=40)
    result = run_scenario(scenario, load_implementation("examples.thread_pool:implementation"))
    assert [rule.rule_id for rule in result.rules if rule.verdict is Verdict.FAIL] == []
    assert result.metrics["counters"]["completed"] == 40
    assert "real clock" in result.backend_note


def test_a_seeded_run_repeats_exactly() -> None:
    scenario = dataclasses.replace(load_scenario("rate-leaky-cancelled"), seconds=20.0)
    implementation = load_implementation(REFERENCE)
    first, second = (run_scenario(scenario, implementation) for _ in range(2))
    assert first.events == second.events
    assert first.metrics["counters"] == second.metrics["counters"]
    assert first.metrics["latency_seconds"] == second.metrics["latency_seconds"]
