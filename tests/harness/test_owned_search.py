"""``poolcheck check`` owns its searches: a process per pattern, watched; verdicts in one place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.checking import Verdict
from harness.cli import main
from harness.conformance import verdicts
from harness.plugin import load_implementation
from harness.rules import Pattern
from harness.search.engine import PROFILES
from harness.search.parallel import run_patterns
from reference.plugin import implementation as reference_implementation
from reference.queues import BoundedQueue


class SpinningQueue(BoundedQueue[Any]):
    """A bounded queue whose ``put_nowait`` never returns and never yields."""

    def put_nowait(self, item: Any) -> None:
        while True:
            pass


def spinning_queue() -> dict[str, Any]:
    declaration = reference_implementation()
    return {
        "name": "spinning-queue",
        "backend": "trio",
        "factories": {"bounded_queue": lambda *, capacity: SpinningQueue(capacity)},
        "closed_errors": declaration.closed_errors,
    }


def spinning_asyncio_bucket() -> dict[str, Any]:
    from examples.asyncio_impl import TokenBucket

    class Spinning(TokenBucket):
        def try_acquire(self, weight: int = 1) -> bool:
            while True:
                pass

    return {
        "name": "spinning-bucket",
        "backend": "asyncio",
        "factories": {"token_bucket": Spinning},
    }


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        (f"{__name__}:spinning_queue", Pattern.QUEUE),
        (f"{__name__}:spinning_asyncio_bucket", Pattern.RATE),
    ],
    ids=["trio", "asyncio"],
)
def test_a_busy_loop_becomes_no_hang_and_the_other_rules_unknown(
    spec: str, pattern: Pattern
) -> None:
    implementation = load_implementation(spec)
    [run] = run_patterns(implementation, [pattern], PROFILES["ci"], jobs=1, stall_seconds=2.0)
    assert run.stopped is not None
    assert "did not yield" in run.stopped
    assert run.error is None, "a stuck implementation is not a harness error"
    results = {x.rule.id: x for x in verdicts(implementation, [run])}
    assert results["NO-HANG"].verdict is Verdict.FAIL
    others = [
        x
        for x in results.values()
        if x.rule.pattern is pattern and x.verdict is not Verdict.NOT_APPLICABLE
    ]
    assert others, "the pattern has rules that could have been judged"
    for x in others:
        assert x.verdict is Verdict.UNKNOWN, x.rule.id
        assert "search was stopped" in x.reason


def test_every_pattern_is_searched_once_and_runs_come_back_in_order() -> None:
    implementation = load_implementation("reference.plugin:implementation")
    selected = [Pattern.RATE, Pattern.QUEUE, Pattern.ORDERING]
    finished: list[str] = []
    runs = run_patterns(
        implementation,
        selected,
        PROFILES["dev"],
        jobs=2,
        on_done=lambda r: finished.append(r.pattern),
    )
    assert [run.pattern for run in runs] == [str(p) for p in selected]
    assert sorted(finished) == sorted(str(p) for p in selected)
    assert all(run.examples > 0 and run.error is None for run in runs)


def test_a_violation_found_in_a_child_fails_the_check(tmp_path: Path) -> None:
    code = main(
        [
            "check",
            "--impl",
            "examples.wrong_token_bucket:implementation",
            "--profile",
            "quick",
            "--jobs",
            "2",
            "--report-dir",
            str(tmp_path),
        ]
    )
    assert code == 1
    report = json.loads((tmp_path / "conformance.json").read_text())
    rules = {r["id"]: r["verdict"] for r in report["implementations"][0]["rules"]}
    assert rules["RATE-BOUND"] == "fail"


def test_a_search_killed_from_outside_is_unknown_not_a_harness_error() -> None:
    # What the out-of-memory killer does to a search whose implementation allocates without
    # bound: the search process dies by a signal, in the middle of an example.
    implementation = load_implementation(f"{__name__}:self_killing_queue")
    [run] = run_patterns(implementation, [Pattern.QUEUE], PROFILES["ci"], jobs=1)
    assert run.error is None
    assert run.stopped is not None
    assert "killed by signal 9" in run.stopped
    results = {x.rule.id: x for x in verdicts(implementation, [run])}
    assert results["QUEUE-FIFO"].verdict is Verdict.UNKNOWN


class _SelfKillingQueue(BoundedQueue[Any]):
    def put_nowait(self, item: Any) -> None:
        import os
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def self_killing_queue() -> dict[str, Any]:
    declaration = reference_implementation()
    return {
        "name": "self-killing-queue",
        "backend": "trio",
        "factories": {"bounded_queue": lambda *, capacity: _SelfKillingQueue(capacity)},
        "closed_errors": declaration.closed_errors,
    }
