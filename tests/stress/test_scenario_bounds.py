"""Every scenario field has a documented range; a value outside it is one line naming the field.

Before these bounds, ``workers = 100000000`` segfaulted, ``producers`` that large ran out of
memory, ``seconds = 1e18`` ran forever and ``rate = 1e-300`` came out as the implementation's
NO-HANG. Each case below is a value just past a bound (or a combination of fields no run can
honour), and the field's name must be in the message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.plugin import ConfigError
from harness.stress.scenario import load_scenario, parse

#: A valid scenario of each pattern, to put one bad value into.
BASES: dict[str, dict[str, Any]] = {
    "pool": {"params": {"workers": 2, "jobs_buffer": 2, "results_buffer": 0}},
    "queue": {"params": {"factory": "bounded_queue", "capacity": 4}, "load": {"consumers": 1}},
    "rate": {"params": {"factory": "token_bucket", "rate": 10.0, "burst": 2}},
    "leaky": {"params": {"factory": "leaky_bucket", "interval": 0.1}},
    "retry": {
        "params": {"max_attempts": 3, "base": 0.1, "factor": 2.0, "cap": 1.0, "jitter": "none"}
    },
    "ordering": {"params": {"window": 4}},
    "batch": {"params": {"max_size": 4, "max_age": 0.5}},
    "group": {"load": {"tasks": 4}},
    "idempotency": {"load": {"keys": 4}},
}


def build(which: str, section: str = "", /, **values: Any) -> dict[str, Any]:
    """The base scenario ``which`` with ``values`` put into ``section`` (top level if empty)."""
    pattern = "rate" if which == "leaky" else which
    raw: dict[str, Any] = {"pattern": pattern, "run": {"jobs": 10}}
    for key, table in BASES[which].items():
        raw[key] = dict(table)
    if section:
        raw[section] = {**raw.get(section, {}), **values}
    else:
        raw.update(values)
    return raw


def refused(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(raw)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_the_bases_are_valid() -> None:
    for base in BASES:
        parse(build(base))


# -- one table per class of field ------------------------------------------------------------

#: Things that run at once (tasks, threads): at most 10,000.
CONCURRENT = [
    ("pool", "load", "producers", 10_001),
    ("queue", "load", "consumers", 10_001),
    ("group", "load", "tasks", 10_001),
    ("pool", "params", "workers", 10_001),
    ("pool", "params", "workers", 100_000_000),
]


@pytest.mark.parametrize(("base", "section", "key", "value"), CONCURRENT)
def test_concurrency_is_bounded(base: str, section: str, key: str, value: int) -> None:
    message = refused(build(base, section, **{key: value}))
    assert f"{section}.{key}" in message
    assert "10,000" in message or "10000" in message


#: Sizes of buffers and counts held at once: at most 1,000,000.
SIZES = [
    ("queue", "params", "capacity", 1_000_001),
    ("pool", "params", "jobs_buffer", 1_000_001),
    ("pool", "params", "results_buffer", 1_000_001),
    ("ordering", "params", "window", 1_000_001),
    ("batch", "params", "max_size", 1_000_001),
    ("rate", "params", "burst", 1_000_001),
    ("retry", "params", "max_attempts", 1_000_001),
]


@pytest.mark.parametrize(("base", "section", "key", "value"), SIZES)
def test_sizes_are_bounded(base: str, section: str, key: str, value: int) -> None:
    assert f"{section}.{key}" in refused(build(base, section, **{key: value}))


def test_a_burst_size_is_bounded() -> None:
    raw = build("pool", "load", burst={"size": 1_000_001, "every": 1.0})
    assert "load.burst.size" in refused(raw)


#: Totals over a run: at most 100,000,000.
TOTALS = [
    ("pool", "run", "jobs", 100_000_001),
    ("idempotency", "load", "keys", 100_000_001),
    ("idempotency", "params", "keys", 100_000_001),
]


@pytest.mark.parametrize(("base", "section", "key", "value"), TOTALS)
def test_totals_are_bounded(base: str, section: str, key: str, value: int) -> None:
    assert f"{section}.{key}" in refused(build(base, section, **{key: value}))


@pytest.mark.parametrize("seconds", [1e7 * 1.001, 1e18])
def test_run_seconds_are_bounded(seconds: float) -> None:
    raw = build("pool")
    raw["run"] = {"seconds": seconds}
    assert "run.seconds" in refused(raw)


#: Rates (per virtual second): between 1e-6 and 1e9.
RATES = [
    ("pool", "load", "rate", 1e-300),
    ("pool", "load", "rate", 1e-7),
    ("pool", "load", "rate", 1e10),
    ("rate", "params", "rate", 1e-7),
    ("rate", "params", "rate", 1e10),
]


@pytest.mark.parametrize(("base", "section", "key", "value"), RATES)
def test_rates_are_bounded(base: str, section: str, key: str, value: float) -> None:
    assert f"{section}.{key}" in refused(build(base, section, **{key: value}))


#: Times (virtual seconds): at most 1e6, and those that must be positive at least 1e-6.
TIMES = [
    ("pool", "load", "deadline", 1e6 * 1.001),
    ("pool", "load", "deadline", 1e-9),
    ("pool", "params", "job_timeout", 1e7),
    ("pool", "params", "job_timeout", -1e-9),  # 0 is a boundary value: a deadline at the start
    ("leaky", "params", "interval", 1e7),
    ("leaky", "params", "interval", 1e-9),
    ("batch", "params", "max_age", 1e7),
    ("batch", "params", "max_age", 1e-9),
    ("retry", "params", "base", 1e7),
    ("retry", "params", "cap", 1e7),
    ("retry", "params", "factor", 1e7),
]


@pytest.mark.parametrize(("base", "section", "key", "value"), TIMES)
def test_times_are_bounded(base: str, section: str, key: str, value: float) -> None:
    assert f"{section}.{key}" in refused(build(base, section, **{key: value}))


@pytest.mark.parametrize(
    ("duration", "field"),
    [
        (1e7, "load.duration"),
        ({"dist": "fixed", "value": 1e7}, "load.duration.value"),
        ({"dist": "uniform", "low": 0.0, "high": 1e7}, "load.duration.high"),
        ({"dist": "exponential", "mean": 1e7}, "load.duration.mean"),
    ],
)
def test_durations_are_bounded(duration: Any, field: str) -> None:
    assert field in refused(build("pool", "load", duration=duration))


def test_a_burst_period_is_bounded() -> None:
    raw = build("pool", "load", burst={"size": 2, "every": 1e-9})
    assert "load.burst.every" in refused(raw)


@pytest.mark.parametrize("seed", [2**64, -1])
def test_seeds_are_bounded(seed: int) -> None:
    assert "seed" in refused(build("pool", seed=seed))
    assert "params.seed" in refused(build("retry", "params", seed=seed))


# -- combinations no run can honour ----------------------------------------------------------


def test_a_timed_run_may_not_offer_more_jobs_than_a_run_may_have() -> None:
    raw = build("pool", "load", rate=1e9)
    raw["run"] = {"seconds": 1e6}
    message = refused(raw)
    assert "run.seconds" in message
    assert "load.rate" in message


def test_a_burst_timed_run_is_bounded_the_same_way() -> None:
    raw = build("pool", "load", burst={"size": 1_000_000, "every": 1e-3})
    raw["run"] = {"seconds": 1e3}
    message = refused(raw)
    assert "run.seconds" in message
    assert "load.burst" in message


def test_a_job_count_at_a_slow_rate_may_not_outlast_the_longest_run() -> None:
    raw = build("pool", "load", rate=1e-5)
    raw["run"] = {"jobs": 1000}
    message = refused(raw)
    assert "run.jobs" in message
    assert "load.rate" in message


@pytest.mark.parametrize(
    ("base", "params"),
    [
        ("rate", {"rate": 0.05}),  # 7 waiters in line, one token per 20 s: the last waits 140 s
        ("leaky", {"interval": 20.0}),
    ],
)
def test_a_limiter_line_must_drain_within_the_deadline(base: str, params: dict[str, Any]) -> None:
    raw = build(base, "load", producers=8)
    raw["params"].update(params)
    message = refused(raw)
    assert "load.deadline" in message
    assert "load.producers" in message


def test_a_limiter_line_within_the_deadline_is_accepted() -> None:
    raw = build("rate", "load", producers=8, deadline=200.0)
    raw["params"]["rate"] = 0.05
    parse(raw)


@pytest.mark.parametrize(
    ("section", "values"),
    [
        ("load", {"producers": 10_000, "rate": 1e-6, "deadline": 1e6}),
        ("params", {"workers": 10_000, "jobs_buffer": 1_000_000, "results_buffer": 1_000_000}),
    ],
)
def test_values_at_the_bounds_are_accepted(section: str, values: dict[str, Any]) -> None:
    raw = build("pool", section, **values)
    raw["run"] = {"seconds": 1e7} if section == "load" else {"jobs": 100_000_000}
    parse(raw)


# -- through the command line: exit 2, one line naming the field -----------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("[params]\nworkers = 100000000\njobs_buffer = 1\nresults_buffer = 0\n", "workers"),
        ("[load]\nproducers = 100000000\n", "load.producers"),
        ("[load]\nrate = 1e-300\n", "load.rate"),
    ],
)
def test_the_cli_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, field: str
) -> None:
    params = "" if "[params]" in body else "[params]\nworkers = 1\njobs_buffer = 1\n"
    params += "" if "[params]" in body else "results_buffer = 0\n"
    path = tmp_path / "bad.toml"
    path.write_text(f'pattern = "pool"\n{params}{body}[run]\njobs = 10\n')
    code = main(["stress", str(path), "--report-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert field in err
    assert not (tmp_path / "out").exists()


def test_the_cli_refuses_an_endless_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "endless.toml"
    path.write_text(
        'pattern = "pool"\n[params]\nworkers = 1\njobs_buffer = 1\nresults_buffer = 0\n'
        "[load]\nrate = 10.0\n[run]\nseconds = 1e18\n"
    )
    assert main(["stress", str(path), "--report-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "run.seconds" in err
    assert err.count("\n") == 1


def test_the_catalog_is_within_bounds() -> None:
    from harness.stress.scenario import catalog

    for name in catalog():
        load_scenario(name)


@pytest.mark.parametrize(
    ("load", "run", "span"),
    [
        ({"rate": 0.01}, {"jobs": 100}, 10_000.0),
        ({"burst": {"size": 10, "every": 2.0}}, {"jobs": 100}, 20.0),
        ({}, {"seconds": 30.0}, 30.0),
        ({}, {"jobs": 100}, None),
    ],
)
def test_span_is_the_run_length_the_runner_must_budget_for(
    load: dict[str, Any], run: dict[str, Any], span: float | None
) -> None:
    raw = build("pool", "load", **load)
    raw["run"] = run
    assert parse(raw).span == span
