"""The standard library's and trio's bundled adapters: declarations and a short check each.

Each adapter's declaration loads through its short name and validates; then one pattern of it
goes through ``poolcheck check --pattern P --profile quick``, and the verdicts are those the
ecosystem matrix records for the interpreter running the tests: what passes, what the
declaration makes not-applicable (with the library's documented reason), and the FAIL that
``docs/findings/asyncio_taskgroup_leaks_cancel_request.py`` shows without poolcheck.
``ThreadPoolExecutor`` runs on the threads backend's real clock, where the CLI's search takes
minutes; it gets a few examples in-process instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.adapters import ADAPTERS
from harness.plugin import load_implementation
from harness.search.engine import Profile, search_model
from harness.search.models.pool import PoolModel

ROOT = Path(__file__).resolve().parents[2]

#: Short name -> (backend, factories) each declaration must give.
DECLARED = {
    "asyncio-queue": ("asyncio", {"bounded_queue", "unbounded_queue"}),
    "asyncio-taskgroup": ("asyncio", {"first_error_group"}),
    "asyncio-semaphore": ("asyncio", {"concurrency_limiter"}),
    "thread-pool-executor": ("threads", {"worker_pool"}),
    "trio-channels": ("trio", {"bounded_queue", "unbounded_queue"}),
    "trio-nursery": ("trio", {"first_error_group"}),
    "trio-capacity-limiter": ("trio", {"concurrency_limiter"}),
}
GUARDS = {"NO-HANG": "pass", "NO-CRASH": "pass", "NO-LEAK": "pass"}
#: asyncio.Queue.shutdown and TaskGroup's kept cancellation count came with Python 3.13.
PY313 = sys.version_info >= (3, 13)


def check(name: str, pattern: str, report_dir: Path) -> tuple[int, dict[str, dict[str, Any]], str]:
    """``poolcheck check --impl NAME --pattern P --profile quick``: exit code, rules, output."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "check",
            "--impl",
            name,
            "--pattern",
            pattern,
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
    output = done.stdout + done.stderr
    assert (report_dir / "conformance.json").exists(), output
    report = json.loads((report_dir / "conformance.json").read_text())
    (implementation,) = report["implementations"]
    return done.returncode, {rule["id"]: rule for rule in implementation["rules"]}, output


def verdicts(rules: dict[str, dict[str, Any]], prefix: str) -> dict[str, str]:
    """Rule ID -> verdict, for the rules starting with ``prefix`` and the guards."""
    wanted = (prefix, *GUARDS)
    return {rid: rule["verdict"] for rid, rule in rules.items() if rid.startswith(wanted)}


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_each_declaration_loads_by_its_short_name(name: str) -> None:
    implementation = load_implementation(ADAPTERS[name].spec)
    backend, factories = DECLARED[name]
    assert implementation.backend == backend
    assert set(implementation.factories) == factories
    assert load_implementation(name).factories.keys() == implementation.factories.keys()


def test_asyncio_queue_closes_with_shutdown_where_python_has_it(tmp_path: Path) -> None:
    code, rules, out = check("asyncio-queue", "queue", tmp_path)
    expected = {
        "QUEUE-BOUND": "pass",
        "QUEUE-BACKPRESSURE": "pass",
        "QUEUE-DROP-POLICY": "not-applicable",  # asyncio has no dropping queue
        "QUEUE-CONSERVATION": "pass",
        "QUEUE-FIFO": "pass",
        "QUEUE-CLOSE": "pass" if PY313 else "not-applicable",
        "QUEUE-FIFO-WAITERS": "not-applicable",  # CPython gh-83055: see docs/findings/
        **GUARDS,
    }
    assert verdicts(rules, "QUEUE-") == expected, out
    if not PY313:
        assert "no close()" in rules["QUEUE-CLOSE"]["reason"]
    assert code == 0, out


def test_asyncio_taskgroup_raises_the_first_error_in_a_group(tmp_path: Path) -> None:
    code, rules, out = check("asyncio-taskgroup", "group", tmp_path)
    got = verdicts(rules, "GROUP-")
    assert got["GROUP-FIRST-ERROR"] == "pass", out
    if PY313:
        assert got == {"GROUP-FIRST-ERROR": "pass", **GUARDS}, out
        assert code == 0, out
    else:
        # The finding: a failed task leaves the caller's task a cancellation request.
        assert got["NO-CRASH"] == "fail", out
        assert "cancellation request nobody asked for" in rules["NO-CRASH"]["reason"] + out
        assert code == 1, out


def test_trio_nursery_raises_the_first_error_in_a_group(tmp_path: Path) -> None:
    code, rules, out = check("trio-nursery", "group", tmp_path)
    assert verdicts(rules, "GROUP-") == {"GROUP-FIRST-ERROR": "pass", **GUARDS}, out
    assert code == 0, out


def test_trio_channels_pass_every_queue_rule_but_dropping(tmp_path: Path) -> None:
    code, rules, out = check("trio-channels", "queue", tmp_path)
    assert verdicts(rules, "QUEUE-") == {
        "QUEUE-BOUND": "pass",
        "QUEUE-BACKPRESSURE": "pass",
        "QUEUE-DROP-POLICY": "not-applicable",
        "QUEUE-CONSERVATION": "pass",
        "QUEUE-FIFO": "pass",
        "QUEUE-CLOSE": "pass",
        "QUEUE-FIFO-WAITERS": "pass",  # trio hands a slot or an item over in the same step
        **GUARDS,
    }, out
    assert code == 0, out


def test_asyncio_semaphore_lets_anyone_release(tmp_path: Path) -> None:
    code, rules, out = check("asyncio-semaphore", "concurrency", tmp_path)
    assert verdicts(rules, "CONC-") == {
        "CONC-BOUND": "pass",
        "CONC-CANCEL-NO-LEAK": "pass",
        "CONC-FIFO": "pass",
        "CONC-RELEASE-BY-HOLDER": "not-applicable",  # release() increments, whoever calls
        "CONC-NO-IDLE-WAIT": "pass",
        **GUARDS,
    }, out
    assert "strict_release" in rules["CONC-RELEASE-BY-HOLDER"]["reason"]
    assert code == 0, out


def test_trio_capacity_limiter_passes_every_concurrency_rule(tmp_path: Path) -> None:
    code, rules, out = check("trio-capacity-limiter", "concurrency", tmp_path)
    assert verdicts(rules, "CONC-") == {
        "CONC-BOUND": "pass",
        "CONC-CANCEL-NO-LEAK": "pass",
        "CONC-FIFO": "pass",
        "CONC-RELEASE-BY-HOLDER": "pass",
        "CONC-NO-IDLE-WAIT": "pass",
        **GUARDS,
    }, out
    assert code == 0, out


def test_thread_pool_executor_runs_jobs_exactly_once() -> None:
    implementation = load_implementation("thread-pool-executor")
    outcome = search_model(
        PoolModel, implementation, Profile("short", max_examples=3, derandomize=True)
    )
    assert outcome.error is None
    assert outcome.failures == {}
    assert outcome.complete
    assert outcome.judged.get("POOL-EXACTLY-ONCE", 0) >= 1, outcome.judged
