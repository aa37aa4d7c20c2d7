"""Core pieces: the event format, the rule registry, the plug-in loader, the guards, the CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import trio
import trio.lowlevel

from harness.cli import main
from harness.events import Event, TraceFormatError, read_jsonl, write_jsonl
from harness.plugin import ConfigError, load_implementation
from harness.rules import RULES, Pattern, rules_for
from reference.queues import UnboundedQueue


def test_events_round_trip_through_json_lines() -> None:
    events = [Event(0.0, "params", None, {"capacity": 2}), Event(1.5, "put_ok", 3)]
    out = io.StringIO()
    assert write_jsonl(events, out) == 2
    assert list(read_jsonl(out.getvalue().splitlines())) == events


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not json", "not JSON"),
        ('{"t": "x", "kind": "put"}', "'t' must be a finite number"),
        ('{"t": 1}', "'kind'"),
        ('{"v": 9, "t": 1, "kind": "put"}', "unsupported trace version"),
        ('{"t": 1, "kind": "put", "extra": 1}', "unknown field"),
    ],
)
def test_malformed_trace_line_names_its_line(line: str, reason: str) -> None:
    with pytest.raises(TraceFormatError) as info:
        list(read_jsonl(['{"t": 0, "kind": "params"}', line]))
    assert info.value.line == 2
    assert reason in str(info.value)


def test_catalog_has_the_required_ids_once_each() -> None:
    required = {
        "QUEUE-BOUND",
        "QUEUE-BACKPRESSURE",
        "QUEUE-DROP-POLICY",
        "QUEUE-CONSERVATION",
        "QUEUE-FIFO",
        "QUEUE-CLOSE",
        "POOL-EXACTLY-ONCE",
        "POOL-RESULTS-CLOSED-ONCE",
        "POOL-CONCURRENCY",
        "POOL-NO-LEAK",
        "POOL-CANCEL-PROMPT",
        "POOL-TIMEOUT",
        "POOL-DRAIN",
        "GROUP-FIRST-ERROR",
        "RETRY-MAX-ATTEMPTS",
        "RETRY-BACKOFF",
        "RETRY-CANCEL",
        "RETRY-LAST-ERROR",
        "IDEMPOTENT-EFFECT",
        "ORDER-RESTORED",
        "RATE-BOUND",
        "RATE-NO-OVERTHROTTLE",
        "RATE-SHED-ONLY-WHEN-EMPTY",
        "RATE-CANCEL-NO-LOSS",
        "BATCH-BOUNDS",
        "METRICS-CONSISTENT",
        "NO-HANG",
        "NO-CRASH",
    }
    assert required <= set(RULES)
    for pattern in Pattern:
        assert any(r.pattern is pattern for r in rules_for(pattern))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon", "expected MODULE:CALLABLE"),
        ("no_such_module_xyz:f", "cannot import module"),
        ("reference.plugin:nothing", "has no attribute"),
        ("json:dumps", "the factory raised"),
        ("tests.harness.test_core:wrong_shape", "no 'name'"),
    ],
)
def test_bad_impl_is_a_config_error(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_implementation(spec)


def wrong_shape() -> object:
    return {"backend": "trio"}


def test_reference_loads_through_the_plugin_path() -> None:
    implementation = load_implementation("reference.plugin:implementation")
    assert implementation.backend == "trio"
    assert implementation.has("drop_policy")
    assert implementation.factories_for(Pattern.POOL)


def test_cli_bad_impl_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--impl", "no_such_module_xyz:f"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("poolcheck: error:")


def test_cli_unknown_pattern_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["check", "--pattern", "nope"])
    assert info.value.code == 2


def test_cli_rules_lists_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    for rule_id in RULES:
        assert rule_id in out


def test_cli_check_flags_a_broken_queue_and_writes_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "check",
            "--impl",
            "tests.mutants.queue:lifo",
            "--pattern",
            "queue",
            "--profile",
            "quick",
            "--jobs",
            "1",
            "--report-dir",
            str(tmp_path),
        ]
    )
    assert code == 1
    report = json.loads((tmp_path / "conformance.json").read_text())
    verdicts = {r["id"]: r for r in report["implementations"][0]["rules"]}
    assert verdicts["QUEUE-FIFO"]["verdict"] == "fail"
    assert verdicts["QUEUE-FIFO"]["counterexample"]["replay"].startswith("poolcheck replay")
    assert "QUEUE-FIFO" in (tmp_path / "conformance.md").read_text()
    assert "<failure" in (tmp_path / "conformance.junit.xml").read_text()
    # The replay command reproduces exactly that failure.
    blob = verdicts["QUEUE-FIFO"]["counterexample"]["blob"]
    capsys.readouterr()
    assert (
        main(
            [
                "replay",
                "--impl",
                "tests.mutants.queue:lifo",
                "--pattern",
                "queue",
                "--blob",
                blob,
            ]
        )
        == 1
    )
    assert "QUEUE-FIFO" in capsys.readouterr().out


def test_a_task_that_swallows_cancellation_cannot_hang_the_harness() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from harness.guards import Budgets
    from harness.search.model import run_example
    from harness.search.models.queue import QueueModel

    implementation = load_implementation("tests.harness.test_core:stubborn")

    seen: set[str] = set()

    @settings(max_examples=40, database=None, deadline=None, derandomize=True)
    @given(st.data())
    def examples(data: st.DataObject) -> None:
        outcome = run_example(
            QueueModel, implementation, data, Budgets(max_steps_between_idle=20_000)
        )
        seen.update(v.rule_id for v in outcome.violations)

    examples()
    assert "NO-HANG" in seen


class StubbornQueue:
    """A queue whose get never gives up, even when cancelled: a livelock."""

    def __len__(self) -> int:
        return 0

    def put_nowait(self, item: object) -> None:
        raise trio.WouldBlock

    async def put(self, item: object) -> None:
        await self.get()

    def get_nowait(self) -> object:
        raise trio.WouldBlock

    async def get(self) -> object:
        while True:
            try:  # noqa: SIM105 - the bug under test: swallowing cancellation
                await trio.lowlevel.checkpoint()
            except trio.Cancelled:
                pass

    def close(self) -> None:
        pass


def stubborn() -> object:
    return {"name": "stubborn", "backend": "trio", "factories": {"unbounded_queue": StubbornQueue}}


@pytest.mark.parametrize(
    ("kind", "rule_id", "params"),
    [
        ("hang", "NO-HANG", {"pattern": "queue"}),
        ("crash", "NO-CRASH", {"pattern": "queue"}),
        ("leak", "NO-LEAK", {"pattern": "queue"}),
    ],
)
def test_guard_checker_flags_hand_written_traces(
    kind: str, rule_id: str, params: dict[str, object]
) -> None:
    from harness.checkers.general import GuardChecker
    from harness.checking import TraceChecker

    checker = TraceChecker([GuardChecker(params)])
    checker.feed_all([Event(0, "params", None, params), Event(1, kind, "x", {}), Event(1, "end")])
    assert [v.rule_id for v in checker.violations()] == [rule_id]
    clean = TraceChecker([GuardChecker(params)])
    clean.feed_all([Event(0, "params", None, params), Event(1, "idle"), Event(1, "end")])
    assert clean.violations() == []


class CrashingQueue(StubbornQueue):
    """get_nowait raises an unexpected error."""

    def get_nowait(self) -> object:
        raise RuntimeError("boom")


class LeakyQueue(UnboundedQueue[object]):
    """A correct queue that starts a system task outliving every run."""

    def __init__(self) -> None:
        super().__init__()

        async def forever() -> None:
            await trio.sleep_forever()

        trio.lowlevel.spawn_system_task(forever)


def crashing() -> object:
    return {"name": "crashing", "backend": "trio", "factories": {"unbounded_queue": CrashingQueue}}


def leaky() -> object:
    return {"name": "leaky", "backend": "trio", "factories": {"unbounded_queue": LeakyQueue}}


@pytest.mark.parametrize(("spec", "rule_id"), [("crashing", "NO-CRASH"), ("leaky", "NO-LEAK")])
def test_guard_rules_catch_broken_implementations(spec: str, rule_id: str) -> None:
    from harness.search.engine import PROFILES, search_model
    from harness.search.models.queue import QueueModel

    implementation = load_implementation(f"tests.harness.test_core:{spec}")
    outcome = search_model(QueueModel, implementation, PROFILES["quick"])
    assert outcome.error is None
    assert rule_id in outcome.failures, sorted(outcome.failures)


def test_rule_factories_name_factories_of_the_rules_pattern() -> None:
    from harness.contract import FACTORIES

    for rule in RULES.values():
        for name in rule.factories:
            assert name in FACTORIES, (rule.id, name)
            # A general rule (CANCEL-PROPAGATES) names the factories of several patterns.
            assert rule.pattern in (None, FACTORIES[name][0]), (rule.id, name)
