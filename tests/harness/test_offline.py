"""Offline traces: the JSON Schema, the parser, ``check-trace`` and the trace-writer example."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checking import Verdict
from harness.drivers import patterns
from harness.events import TraceFormatError, event_from_json, write_jsonl
from harness.offline import (
    SCHEMA_PATH,
    TraceInputError,
    check_lines,
    check_trace,
    parse_param,
)
from harness.plugin import load_implementation
from harness.rules import Pattern, rules_for
from harness.search.model import run_example
from harness.search.models.registry import model_for

ROOT = Path(__file__).resolve().parents[2]
WRITER = ROOT / "examples" / "trace_writer.py"
QUEUE_PARAMS = {"pattern": "queue", "factory": "bounded_queue", "capacity": 1, "policy": None}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def line(t: float, kind: str, ident: Any = None, **data: Any) -> str:
    record: dict[str, Any] = {"v": 1, "t": t, "kind": kind}
    if ident is not None:
        record["id"] = ident
    if data:
        record["data"] = data
    return json.dumps(record)


def poolcheck(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


# -- the schema and the parser -------------------------------------------------------------

GOOD = [
    '{"v": 1, "t": 0, "kind": "params", "data": {"capacity": 2}}',
    '{"t": 0.5, "kind": "put_ok", "id": 3}',
    '{"t": 1, "kind": "get_ok", "id": "getter-1", "data": {"item": [1, 2]}}',
    '{"t": 1, "kind": "idle", "id": null}',
    '{"t": 2, "kind": "admit", "id": true, "data": {}}',
    '{"v": 1.0, "t": -1e-3, "kind": "x"}',
]
BAD = [
    "not json",
    "[1, 2]",
    '{"t": "0", "kind": "put"}',
    '{"t": true, "kind": "put"}',
    '{"t": NaN, "kind": "put"}',
    '{"t": Infinity, "kind": "put"}',
    '{"t": 1}',
    '{"kind": "put"}',
    '{"t": 1, "kind": ""}',
    '{"t": 1, "kind": 7}',
    '{"t": 1, "kind": "put", "id": [1]}',
    '{"t": 1, "kind": "put", "id": {"a": 1}}',
    '{"t": 1, "kind": "put", "data": [1]}',
    '{"t": 1, "kind": "put", "data": "x"}',
    '{"v": 2, "t": 1, "kind": "put"}',
    '{"v": true, "t": 1, "kind": "put"}',
    '{"t": 1, "kind": "put", "extra": 1}',
]


def schema_accepts(validator: jsonschema.Draft202012Validator, text: str) -> bool:
    def reject(name: str) -> Any:
        raise ValueError(name)

    try:
        record = json.loads(text, parse_constant=reject)
    except ValueError:
        return False  # not JSON: no schema can accept it
    return validator.is_valid(record)


def parser_accepts(text: str) -> bool:
    try:
        event_from_json(text, 1)
    except TraceFormatError:
        return False
    return True


@pytest.mark.parametrize("text", GOOD)
def test_schema_and_parser_accept_good_lines(
    validator: jsonschema.Draft202012Validator, text: str
) -> None:
    assert schema_accepts(validator, text)
    assert parser_accepts(text)


@pytest.mark.parametrize("text", BAD)
def test_schema_and_parser_reject_bad_lines(
    validator: jsonschema.Draft202012Validator, text: str
) -> None:
    assert not schema_accepts(validator, text)
    assert not parser_accepts(text)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    st.dictionaries(
        st.sampled_from(["v", "t", "kind", "id", "data", "x"]),
        st.none()
        | st.booleans()
        | st.integers(-3, 3)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.sampled_from(["", "put", "1"])
        | st.lists(st.integers(), max_size=2)
        | st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), max_size=2),
    )
)
def test_schema_and_parser_agree_on_any_object(record: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    text = json.dumps(record)
    assert jsonschema.Draft202012Validator(schema).is_valid(record) == parser_accepts(text)


def _model_traces(pattern: Pattern) -> Any:
    implementation = load_implementation("reference.plugin:implementation")
    model = model_for(pattern)
    outcomes = []

    @settings(
        max_examples=8,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def collect(data: st.DataObject) -> None:
        outcomes.append(run_example(model, implementation, data))

    collect()
    return outcomes


@pytest.mark.parametrize("pattern", patterns(), ids=str)
def test_model_traces_satisfy_the_schema_and_check_the_same_offline(
    validator: jsonschema.Draft202012Validator, pattern: Pattern
) -> None:
    outcomes = _model_traces(pattern)
    assert outcomes
    for outcome in outcomes:
        out = io.StringIO()
        write_jsonl(outcome.events, out)
        lines = out.getvalue().splitlines()
        for number, text in enumerate(lines, start=1):
            errors = [e.message for e in validator.iter_errors(json.loads(text))]
            assert not errors, f"line {number} {text}: {errors}"
        result = check_lines(lines, pattern)
        assert result.events == len(outcome.events)
        assert result.exercised == outcome.exercised
        failed = {v.rule.id for v in result.verdicts if v.verdict is Verdict.FAIL}
        assert failed == {v.rule_id for v in outcome.violations}


# -- check_lines: verdicts, params, line numbers ---------------------------------------------


QUEUE_OK = [
    line(0, "params", **QUEUE_PARAMS),
    line(0, "put", 0, mode="blocking"),
    line(0, "put_ok", 0),
    line(0, "idle"),
    line(1, "get", 0, mode="blocking"),
    line(1, "get_ok", 0, item=0),
    line(1, "idle"),
    line(1, "end"),
]


def verdict_of(result: Any, rule_id: str) -> Verdict:
    return next(v.verdict for v in result.verdicts if v.rule.id == rule_id)


def test_a_valid_trace_passes_what_it_exercised_and_leaves_the_rest_unknown() -> None:
    result = check_lines(QUEUE_OK, Pattern.QUEUE)
    assert not result.failed
    assert verdict_of(result, "QUEUE-CONSERVATION") is Verdict.PASS
    assert verdict_of(result, "QUEUE-BOUND") is Verdict.PASS
    # Nothing was closed or dropped: those rules are unknown, never passed.
    assert verdict_of(result, "QUEUE-CLOSE") is Verdict.UNKNOWN
    assert verdict_of(result, "QUEUE-DROP-POLICY") is Verdict.UNKNOWN
    assert [v.rule.id for v in result.verdicts] == [r.id for r in rules_for(Pattern.QUEUE)]


def test_a_trace_without_params_event_leaves_the_guards_unknown() -> None:
    result = check_lines(QUEUE_OK[1:], Pattern.QUEUE, {"capacity": 1})
    assert verdict_of(result, "NO-HANG") is Verdict.UNKNOWN
    assert verdict_of(result, "QUEUE-CONSERVATION") is Verdict.PASS


def test_a_violation_names_its_rule_and_the_lines_of_its_events() -> None:
    lines = [*QUEUE_OK[:-1], line(2, "get", 1, mode="nowait"), line(2, "get_ok", 1, item=0)]
    result = check_lines(lines, Pattern.QUEUE, source="q.jsonl")
    assert result.failed
    failing = next(v for v in result.verdicts if v.verdict is Verdict.FAIL)
    assert failing.rule.id == "QUEUE-CONSERVATION"
    assert [e.line for e in failing.violations[0].events] == [len(lines)]  # type: ignore[attr-defined]


def test_param_overrides_the_trace_params() -> None:
    lines = [
        line(0, "params", **{**QUEUE_PARAMS, "capacity": 2}),
        line(0, "put", 0, mode="nowait"),
        line(0, "put_ok", 0),
        line(0, "put", 1, mode="nowait"),
        line(0, "put_ok", 1),
        line(0, "idle"),
    ]
    assert not check_lines(lines, Pattern.QUEUE).failed
    overridden = check_lines(lines, Pattern.QUEUE, {"capacity": 1})
    assert overridden.params["capacity"] == 1
    assert verdict_of(overridden, "QUEUE-BOUND") is Verdict.FAIL


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("capacity=3", ("capacity", 3)),
        ("max_age=0.5", ("max_age", 0.5)),
        ("job_timeout=null", ("job_timeout", None)),
        ("weighted=true", ("weighted", True)),
        ("policy=oldest", ("policy", "oldest")),
        ("factory=", ("factory", "")),
    ],
)
def test_parse_param(text: str, expected: tuple[str, Any]) -> None:
    assert parse_param(text) == expected


@pytest.mark.parametrize("text", ["capacity", "=3", "capacity=[1]", 'capacity={"a":1}'])
def test_parse_param_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="param"):
        parse_param(text)


@pytest.mark.parametrize(
    ("lines", "overrides", "message"),
    [
        ([*QUEUE_OK[:2], "{oops", *QUEUE_OK[2:]], {}, "q.jsonl:3: not JSON"),
        ([QUEUE_OK[0], line(1, "put", 0), line(0.5, "put_ok", 0)], {}, "q.jsonl:3: t goes back"),
        ([*QUEUE_OK[:3], QUEUE_OK[0]], {}, "q.jsonl:4: a params event may only be the first"),
        ([], {}, "q.jsonl: the trace holds no event"),
        (QUEUE_OK, {"pattern": "pool"}, "pattern 'pool', not 'queue'"),
        ([line(0, "params", pattern="pool")], {}, "'workers'"),
        ([QUEUE_OK[0], line(0, "length", n="many")], {}, "q.jsonl:2: cannot check this length"),
    ],
)
def test_bad_input_is_one_located_error(
    lines: list[str], overrides: dict[str, Any], message: str
) -> None:
    pattern = Pattern.POOL if "workers" in message else Pattern.QUEUE
    with pytest.raises(TraceInputError, match=message.replace("(", r"\(")) as info:
        check_lines(lines, pattern, overrides, source="q.jsonl")
    assert "\n" not in str(info.value)


def test_a_missing_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(TraceInputError, match="no such file"):
        check_trace(tmp_path / "absent.jsonl", Pattern.QUEUE)


def test_a_non_utf8_line_is_located(tmp_path: Path) -> None:
    path = tmp_path / "bin.jsonl"
    path.write_bytes(QUEUE_OK[0].encode() + b"\n\xff\xfe\n")
    with pytest.raises(TraceInputError, match=r"bin.jsonl:2: not UTF-8"):
        check_trace(path, Pattern.QUEUE)


def test_a_long_trace_streams_in_flat_memory() -> None:
    def lines(count: int) -> Iterator[str]:
        yield line(0, "params", pattern="rate", factory="token_bucket", rate=100.0, burst=1)
        for i in range(count):
            yield line(i * 0.01, "admit", i, weight=1, via="try_acquire")
            yield line(i * 0.01, "idle")

    peaks = []
    for count in (1_000, 5_000):
        tracemalloc.start()
        try:
            result = check_lines(lines(count), Pattern.RATE)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert result.events == 2 * count + 1
        assert not result.failed
    # Five times the events, not five times the memory: the trace is never held whole.
    assert peaks[1] < peaks[0] * 1.5 + 10_000, peaks


# -- the command line and the trace-writer example -------------------------------------------


def write_trace(path: Path, *extra: str) -> None:
    done = subprocess.run(
        [sys.executable, str(WRITER), "--out", str(path), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_trace_writer_imports_neither_harness_nor_reference() -> None:
    source = WRITER.read_text(encoding="utf-8")
    assert "import harness" not in source
    assert "from harness" not in source
    assert "import reference" not in source
    assert "from reference" not in source


def test_check_trace_passes_the_correct_writer(tmp_path: Path) -> None:
    trace = tmp_path / "ok.jsonl"
    write_trace(trace)
    done = poolcheck("check-trace", trace, "--pattern", "queue")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pass     QUEUE-CONSERVATION" in done.stdout
    assert "FAIL" not in done.stdout


def test_check_trace_flags_the_broken_writer_with_line_numbers(tmp_path: Path) -> None:
    trace = tmp_path / "bad.jsonl"
    write_trace(trace, "--broken")
    done = poolcheck("check-trace", trace, "--pattern", "queue", "--report-dir", tmp_path / "r")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL     QUEUE-CONSERVATION" in done.stdout
    kinds = [json.loads(text)["kind"] for text in trace.read_text().splitlines()]
    get_end = kinds.index("get_end") + 1
    assert f"{trace}:{get_end}  " in done.stdout
    report = json.loads((tmp_path / "r" / "conformance.json").read_text())
    assert report["exit_code"] == 1
    rules = {rule["id"]: rule for rule in report["implementations"][0]["rules"]}
    assert rules["QUEUE-CONSERVATION"]["verdict"] == "fail"
    assert rules["QUEUE-CONSERVATION"]["counterexample"]["evidence"][0]["line"] == get_end
    assert rules["QUEUE-DROP-POLICY"]["verdict"] == "unknown"


def test_check_trace_malformed_file_exits_2_with_file_and_line(tmp_path: Path) -> None:
    trace = tmp_path / "bad.jsonl"
    trace.write_text("\n".join([*QUEUE_OK[:4], '{"t": 1, "kind": }', *QUEUE_OK[4:]]) + "\n")
    done = poolcheck("check-trace", trace, "--pattern", "queue")
    assert done.returncode == 2
    assert done.stderr.startswith(f"poolcheck: error: {trace}:5: not JSON")
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pattern", "nope"], "invalid choice"),
        (["--pattern", "queue", "--param", "capacity"], "key=value"),
        (["--pattern", "pool"], "pattern 'queue', not 'pool'"),
    ],
)
def test_check_trace_usage_errors_exit_2_in_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    trace = tmp_path / "ok.jsonl"
    trace.write_text("\n".join(QUEUE_OK) + "\n")
    done = poolcheck("check-trace", trace, *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_check_trace_missing_file_exits_2(tmp_path: Path) -> None:
    done = poolcheck("check-trace", tmp_path / "nothing.jsonl", "--pattern", "queue")
    assert done.returncode == 2
    assert "no such file" in done.stderr


def test_strict_fails_on_required_rules_left_unknown(tmp_path: Path) -> None:
    trace = tmp_path / "ok.jsonl"
    trace.write_text("\n".join(QUEUE_OK) + "\n")
    assert poolcheck("check-trace", trace, "--pattern", "queue").returncode == 0
    strict = poolcheck("check-trace", trace, "--pattern", "queue", "--strict")
    assert strict.returncode == 1
    assert "unknown  QUEUE-CLOSE" in strict.stdout


def test_check_trace_reads_standard_input(tmp_path: Path) -> None:
    bad = [*QUEUE_OK[:-1], line(2, "get", 1, mode="nowait"), line(2, "get_ok", 1, item=0)]
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "check-trace", "-", "--pattern", "queue"],
        input="\n".join(bad) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"<stdin>:{len(bad)}  " in done.stdout
