"""Hostile or impossible ``check-trace`` input is one line on stderr naming what is wrong, exit 2.

Deep JSON was an internal error (RecursionError, exit 3), ``/dev/zero`` grew memory without
bound, and impossible parameters (capacity -5, workers 0, rate 0, an unknown ``--param``) were
accepted and gave nonsense verdicts or an error blamed on a later line.
"""

from __future__ import annotations

import io
import json
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.events import MAX_LINE_BYTES, MAX_NESTING
from harness.offline import TraceInputError, check_lines

RATE = {"pattern": "rate", "factory": "token_bucket", "rate": 10.0, "burst": 2}
QUEUE = {"pattern": "queue", "factory": "bounded_queue", "capacity": 2, "policy": None}
POOL = {
    "pattern": "pool",
    "factory": "worker_pool",
    "workers": 2,
    "jobs_buffer": 1,
    "results_buffer": 0,
    "job_timeout": None,
}
PATTERN_PARAMS = {"rate": RATE, "queue": QUEUE, "pool": POOL}


def line(t: float, kind: str, ident: Any = None, **data: Any) -> str:
    record: dict[str, Any] = {"v": 1, "t": t, "kind": kind}
    if ident is not None:
        record["id"] = ident
    if data:
        record["data"] = data
    return json.dumps(record)


def rate_trace(params: dict[str, Any]) -> list[str]:
    """A short token-bucket trace whose admissions a rate of 0 would divide by."""
    return [
        line(0, "params", **params),
        line(0, "created"),
        line(0, "idle"),
        line(0, "admit", 0, weight=1, via="try_acquire"),
        line(1, "admit", 1, weight=1, via="try_acquire"),
        line(1, "idle"),
        line(1, "end"),
    ]


def run_cli(
    capsys: pytest.CaptureFixture[str], path: Path, pattern: str, *extra: str
) -> tuple[int, str, str]:
    code = main(["check-trace", str(path), "--pattern", pattern, *extra])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert err.startswith("poolcheck: error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert "internal error" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


# -- lines that are too deep or too long -----------------------------------------------------


def nested(depth: int) -> str:
    return '{"t": 0, "kind": "x", "data": {"a": ' + "[" * depth + "]" * depth + "}}"


def test_json_nested_1000_deep_is_a_malformed_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_text(line(0, "params", **QUEUE) + "\n" + nested(1000) + "\n")
    code, out, err = run_cli(capsys, path, "queue")
    assert_one_line(code, err, f"{path}:2:", "nested")
    assert out == ""


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 100_000])
def test_nesting_past_the_limit_is_refused_at_any_depth(depth: int) -> None:
    with pytest.raises(TraceInputError, match=r"t\.jsonl:2: .*nested"):
        check_lines([line(0, "params", **QUEUE), nested(depth)], _queue(), source="t.jsonl")


def test_nesting_at_the_limit_and_brackets_in_strings_are_accepted() -> None:
    # The record object and "data" are two levels; the list fills the rest.
    deepest = nested(MAX_NESTING - 2)
    brackets = line(0, "x", "[[[[", note="{" * 5000 + "[" * 5000)
    result = check_lines([line(0, "params", **QUEUE), deepest, brackets], _queue())
    assert result.events == 3


def _queue() -> Any:
    from harness.rules import Pattern

    return Pattern.QUEUE


def test_a_2_mib_line_of_zero_bytes_is_refused_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "zero.jsonl"
    path.write_bytes(b"\0" * (2 << 20))
    code, out, err = run_cli(capsys, path, "queue")
    assert_one_line(code, err, f"{path}:1:", f"line longer than {MAX_LINE_BYTES} bytes")
    assert out == ""


def test_an_overlong_valid_json_line_is_refused_and_one_at_the_limit_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = line(0, "params", **QUEUE) + "\n"
    record = line(0, "x", note="")
    pad = MAX_LINE_BYTES - len(record)
    at_limit = record.replace('"note": ""', '"note": "' + "a" * pad + '"')
    assert len(at_limit.encode()) == MAX_LINE_BYTES
    ok = tmp_path / "ok.jsonl"
    ok.write_text(head + at_limit + "\n" + line(0, "idle") + "\n")
    assert run_cli(capsys, ok, "queue")[0] == 0
    over = tmp_path / "over.jsonl"
    over.write_text(head + at_limit.replace('"a', '"aa') + "\n")
    code, _, err = run_cli(capsys, over, "queue")
    assert_one_line(code, err, f"{over}:2:", "longer than")


class _Zeros(io.RawIOBase):
    """``size`` zero bytes, made as they are read (a bounded stand-in for /dev/zero)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = b"\0" * count
        self.left -= count
        return count


def test_an_endless_line_on_stdin_is_read_in_bounded_memory(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin = io.TextIOWrapper(io.BufferedReader(_Zeros(64 << 20)))
    monkeypatch.setattr(sys, "stdin", stdin)
    tracemalloc.start()
    try:
        code = main(["check-trace", "-", "--pattern", "queue"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err
    assert_one_line(code, err, "<stdin>:1:", "longer than")
    # 64 MiB offered; what is held is about one line's cap, never the whole stream.
    assert peak < 4 * MAX_LINE_BYTES, peak


# -- impossible parameters in the params event -------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "change", "name"),
    [
        ("queue", {"capacity": -5}, "params.capacity"),
        ("queue", {"capacity": 0}, "params.capacity"),
        ("queue", {"capacity": "big"}, "params.capacity"),
        ("queue", {"policy": "sideways"}, "params.policy"),
        ("queue", {"factory": "teapot"}, "params.factory"),
        ("queue", {"factory": "unbounded_queue", "capacity": 3}, "params.capacity"),
        ("queue", {"colour": "blue"}, "params.colour"),
        ("pool", {"workers": 0}, "params.workers"),
        ("pool", {"workers": None}, "params.workers"),
        ("pool", {"workers": 2.5}, "params.workers"),
        ("pool", {"jobs_buffer": -1}, "params.jobs_buffer"),
        ("pool", {"job_timeout": -1.0}, "params.job_timeout"),
        ("rate", {"rate": -1.0}, "params.rate"),
        ("rate", {"rate": 0}, "params.rate"),
        ("rate", {"burst": -3}, "params.burst"),
        ("rate", {"burst": 0}, "params.burst"),
        ("rate", {"weighted": "yes"}, "params.weighted"),
    ],
)
def test_an_impossible_params_event_is_refused_naming_the_parameter(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    pattern: str,
    change: dict[str, Any],
    name: str,
) -> None:
    params = {**PATTERN_PARAMS[pattern], **change}
    path = tmp_path / "t.jsonl"
    lines = rate_trace(params) if pattern == "rate" else [line(0, "params", **params)]
    path.write_text("\n".join([*lines, line(1, "idle"), line(1, "end")]) + "\n")
    code, out, err = run_cli(capsys, path, pattern)
    assert_one_line(code, err, f"{path}:1:", name)
    assert out == ""


def test_rate_zero_is_blamed_on_the_params_line_not_a_later_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rate0.jsonl"
    path.write_text("\n".join(rate_trace({**RATE, "rate": 0})) + "\n")
    code, _, err = run_cli(capsys, path, "rate")
    assert_one_line(code, err, f"{path}:1:", "params.rate")
    assert "ZeroDivisionError" not in err


def test_json_integral_floats_count_as_integers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(rate_trace({**RATE, "burst": 2.0})) + "\n")
    code, out, err = run_cli(capsys, path, "rate")
    assert code == 0, err
    assert "burst=2" in out
    assert "burst=2.0" not in out


# -- --param: the same validation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "param", "fragment"),
    [
        ("rate", "rate=0", "--param rate"),
        ("rate", "rate=-2", "--param rate"),
        ("rate", "burst=-1", "--param burst"),
        ("rate", "rate=fast", "--param rate"),
        ("rate", "rate=NaN", "--param rate"),
        ("rate", "rate=Infinity", "--param rate"),
        ("queue", "colour=blue", "--param colour"),
        ("queue", "capacity=-5", "--param capacity"),
        ("queue", "workers=2", "--param workers"),
        ("pool", "workers=0", "--param workers"),
        ("queue", "factory=teapot", "--param factory"),
    ],
)
def test_a_bad_param_option_is_refused_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pattern: str, param: str, fragment: str
) -> None:
    path = tmp_path / "t.jsonl"
    params = PATTERN_PARAMS[pattern]
    lines = rate_trace(params) if pattern == "rate" else [line(0, "params", **params)]
    path.write_text("\n".join(lines) + "\n")
    code, out, err = run_cli(capsys, path, pattern, "--param", param)
    assert_one_line(code, err, fragment)
    assert out == ""


def test_a_param_option_is_checked_before_the_trace_is_read(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # /dev/null is empty: a bad option is reported, not "the trace holds no event".
    code = main(["check-trace", "/dev/null", "--pattern", "queue", "--param", "colour=blue"])
    assert_one_line(code, capsys.readouterr().err, "--param colour")


def test_a_param_option_may_repair_a_bad_params_event(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(rate_trace({**RATE, "rate": 0})) + "\n")
    code, _, err = run_cli(capsys, path, "rate", "--param", "rate=10")
    assert code == 0, err


def test_the_model_params_of_every_pattern_are_accepted() -> None:
    from harness.params import check_recorded
    from harness.rules import Pattern

    samples: dict[Pattern, dict[str, Any]] = {
        Pattern.QUEUE: {"factory": "unbounded_queue", "capacity": None, "policy": None},
        Pattern.POOL: {k: v for k, v in POOL.items() if k != "pattern"},
        Pattern.GROUP: {"factory": "first_error_group"},
        Pattern.RETRY: {
            "factory": "retrier",
            "max_attempts": 4,
            "base": 0.05,
            "factor": 1.0,
            "cap": 2.0,
            "jitter": "full",
            "seed": 65536,
        },
        Pattern.IDEMPOTENCY: {"factory": "idempotent_sink", "keys": 3},
        Pattern.ORDERING: {"factory": "reorderer", "window": 4},
        Pattern.RATE: {"factory": "leaky_bucket", "interval": 0.25, "weighted": False},
        Pattern.BATCH: {"factory": "batcher", "max_size": 5, "max_age": 0.1},
        Pattern.CONCURRENCY: {"factory": "concurrency_limiter", "limit": 3, "fifo": True},
    }
    for pattern, params in samples.items():
        assert check_recorded(pattern, {"pattern": str(pattern), **params}, where="params.")
