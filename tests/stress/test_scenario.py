"""Scenario files: the catalog parses; bad input is one ConfigError line (exit 2 via the CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.plugin import ConfigError
from harness.rules import Pattern
from harness.stress.scenario import catalog, load_scenario, parse
from harness.stress.workloads import workload_for

BASE = {"pattern": "pool", "params": {"workers": 1, "jobs_buffer": 1, "results_buffer": 0}}


def scenario(**overrides: object) -> dict[str, object]:
    raw: dict[str, object] = {**BASE, "run": {"jobs": 10}}
    raw.update(overrides)
    return raw


def test_the_catalog_covers_every_pattern_and_every_entry_validates() -> None:
    loaded = [load_scenario(name) for name in catalog()]
    for item in loaded:
        workload_for(item.pattern).validate(item)
    assert {item.pattern for item in loaded} == set(Pattern)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (scenario(colour="blue"), "unknown key colour"),
        (scenario(load={"rate": -5.0}), "load.rate must be greater than 0"),
        (scenario(load={"producers": 0}), "load.producers must be at least 1"),
        (scenario(load={"producers": "many"}), "load.producers must be an integer"),
        (scenario(load={"failure_rate": 1.5}), "load.failure_rate must be at most 1"),
        (scenario(load={"rate": 1.0, "burst": {"size": 2, "every": 1.0}}), "either 'rate' or"),
        (scenario(load={"duration": {"dist": "pareto"}}), "load.duration.dist"),
        (scenario(load={"duration": {"dist": "uniform", "low": 2, "high": 1}}), "low must not"),
        (scenario(run={}), "exactly one of 'jobs' or 'seconds'"),
        (scenario(run={"jobs": 1, "seconds": 2.0}), "exactly one of 'jobs' or 'seconds'"),
        (scenario(pattern="teapot"), "pattern 'teapot' is not one of"),
        (scenario(backend="gevent"), "backend must be one of"),
        (scenario(params={"workers": 1}), "missing ['jobs_buffer', 'results_buffer']"),
        (scenario(params={"workers": 0, "jobs_buffer": 1, "results_buffer": 0}), "at least 1"),
        (scenario(params={"workers": 1, "jobs_buffer": 1, "results_buffer": 0, "x": 1}), "x"),
    ],
)
def test_bad_scenarios_are_one_config_error(raw: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(raw)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_load_key_the_pattern_ignores_is_refused() -> None:
    parsed = parse(scenario(load={"duplicate_rate": 0.5}))
    with pytest.raises(ConfigError, match=r"load\.duplicate_rate is not used by pattern pool"):
        workload_for(parsed.pattern).validate(parsed)


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (None, "no-such-scenario"),
        ("pattern = [", "broken.toml"),
        ('pattern = "pool"\n[load]\nrate = -1.0\n[run]\njobs = 1\n', "negative.toml"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, name: str
) -> None:
    target = name
    if content is not None:
        path = tmp_path / name
        path.write_text(content)
        target = str(path)
    code = main(["stress", target, "--report-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("poolcheck: error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_an_unknown_implementation_exits_2(
    small_pool: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["stress", str(small_pool), "--impl", "no_such_module:x", "--report-dir", str(tmp_path)]
    )
    assert code == 2
    assert "cannot import module" in capsys.readouterr().err


def test_no_scenario_named_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stress"]) == 2
    assert "name a scenario" in capsys.readouterr().err
