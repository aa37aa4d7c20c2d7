"""The examples run through the command line: the right ones pass, the wrong one fails."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.rules import Pattern, rules_for

ROOT = Path(__file__).resolve().parents[2]


def check(spec: str, report_dir: Path) -> tuple[int, dict[str, dict[str, Any]], str]:
    """Run ``poolcheck check`` on ``spec``; the exit code, verdicts by rule ID, and stdout."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "check",
            "--impl",
            spec,
            "--profile",
            "quick",
            "--jobs",
            "1",
            "--report-dir",
            str(report_dir),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads((report_dir / "conformance.json").read_text())
    (implementation,) = report["implementations"]
    return done.returncode, {rule["id"]: rule for rule in implementation["rules"]}, done.stdout


def ids(*patterns: Pattern) -> set[str]:
    return {rule.id for pattern in patterns for rule in rules_for(pattern)}


def test_the_asyncio_example_passes_every_applicable_rule(tmp_path: Path) -> None:
    code, rules, out = check("examples.asyncio_impl:implementation", tmp_path)
    assert code == 0, out
    verdicts = {rule_id: rule["verdict"] for rule_id, rule in rules.items()}
    assert set(verdicts.values()) <= {"pass", "not-applicable"}, verdicts
    # Every pool rule, the queue rules of a bounded queue, the rate rules of a bucket and gate.
    must_pass = ids(Pattern.POOL) | {
        "QUEUE-BOUND",
        "QUEUE-BACKPRESSURE",
        "QUEUE-CONSERVATION",
        "QUEUE-FIFO",
        "QUEUE-CLOSE",
        "RATE-BOUND",
        "RATE-NO-OVERTHROTTLE",
        "RATE-SHED-ONLY-WHEN-EMPTY",
        "RATE-CANCEL-NO-LOSS",
        "NO-HANG",
        "NO-LEAK",
        "NO-CRASH",
    }
    must_pass -= {rule_id for rule_id, rule in rules.items() if rule["capability"] == "metrics"}
    assert {r for r in must_pass if verdicts[r] != "pass"} == set()


def test_the_thread_pool_passes_and_says_what_threads_cannot_judge(tmp_path: Path) -> None:
    code, rules, out = check("examples.thread_pool:implementation", tmp_path)
    assert code == 0, out
    for rule_id in ("POOL-EXACTLY-ONCE", "POOL-CONCURRENCY", "POOL-DRAIN", "NO-LEAK"):
        assert rules[rule_id]["verdict"] == "pass", rules[rule_id]
    # Timing rules are not silently passed: they are not applicable, with the reason.
    waived = rules["POOL-CANCEL-PROMPT"]
    assert waived["verdict"] == "not-applicable"
    assert "threads" in waived["reason"]
    assert rules["QUEUE-FIFO"]["verdict"] == "not-applicable"
    # It has no queue at all: that, not what the threads backend could drive, is the reason.
    assert "provides no factory" in rules["QUEUE-FIFO"]["reason"]
    report = json.loads((tmp_path / "conformance.json").read_text())
    assert "real clock" in report["implementations"][0]["backend_note"]
    assert "real clock" in (tmp_path / "conformance.md").read_text()


def test_the_wrong_token_bucket_fails_on_rate_bound_with_a_counterexample(
    tmp_path: Path,
) -> None:
    code, rules, out = check("examples.wrong_token_bucket:implementation", tmp_path)
    assert code == 1
    failed = {rule_id for rule_id, rule in rules.items() if rule["verdict"] == "fail"}
    assert failed == {"RATE-BOUND"}
    counterexample = rules["RATE-BOUND"]["counterexample"]
    assert counterexample["rule"] == "RATE-BOUND"
    assert any(step.split(" ", 1)[1].startswith("acquire") for step in counterexample["steps"])
    assert counterexample["evidence"][0]["kind"] == "admit"
    assert counterexample["replay"].startswith(
        "poolcheck replay --impl examples.wrong_token_bucket"
    )
    assert "RATE-BOUND" in out
    # The replay command reproduces it exactly on the asyncio backend.
    replay = shlex.split(counterexample["replay"])[1:]
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", *replay],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "RATE-BOUND" in done.stdout


@pytest.mark.parametrize(
    "spec", ["examples.asyncio_impl:nothing", "examples.nowhere:implementation"]
)
def test_a_bad_spec_is_one_line_and_exit_2(spec: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "check",
            "--impl",
            spec,
            "--report-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert spec in done.stderr


def test_the_readme_token_bucket_passes_and_gate_rules_do_not_apply(tmp_path: Path) -> None:
    code, rules, out = check("examples.tiny_bucket:implementation", tmp_path)
    assert code == 0, out
    for rule_id in ("RATE-BOUND", "RATE-NO-OVERTHROTTLE", "RATE-CANCEL-NO-LOSS", "NO-HANG"):
        assert rules[rule_id]["verdict"] == "pass", rules[rule_id]
    # Only a shedding gate can break this rule, and the example has none: not a silent pass.
    shed = rules["RATE-SHED-ONLY-WHEN-EMPTY"]
    assert shed["verdict"] == "not-applicable"
    assert "shedding_gate" in shed["reason"]
