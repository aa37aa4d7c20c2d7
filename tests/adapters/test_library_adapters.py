"""Bundled adapters of janus, culsans, aiometer, opnieuw, asyncio-pool and pebble.

For each library that is installed (the others are skipped), the adapter loads by its short
name and one pattern of it goes through ``poolcheck check --pattern P --profile quick``; the
verdicts are those the ecosystem matrix records: what passes, what the declaration makes
not-applicable (with the library's documented reason), and the FAILs that the scripts in
``docs/findings/`` show without poolcheck. Pebble's thread pool runs on the threads backend's
real clock, where a CLI search takes minutes; it gets a few examples in-process instead.
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
FINDINGS = ROOT / "docs" / "findings"

#: Short name -> (import name, backend, factories) each declaration must give.
DECLARED = {
    "janus": ("janus", "asyncio", {"bounded_queue", "unbounded_queue"}),
    "culsans": ("culsans", "asyncio", {"bounded_queue", "unbounded_queue"}),
    "aiometer": ("aiometer", "asyncio", {"first_error_group"}),
    "opnieuw": ("opnieuw", "asyncio", {"retrier"}),
    "asyncio-pool": ("asyncio_pool", "asyncio", {"worker_pool"}),
    "pebble": ("pebble", "threads", {"worker_pool"}),
}
GUARDS = {"NO-HANG": "pass", "NO-CRASH": "pass", "NO-LEAK": "pass"}
#: Every queue rule but the dropping queue's, which neither mixed queue has.
QUEUE_PASSES = {
    "QUEUE-BOUND": "pass",
    "QUEUE-BACKPRESSURE": "pass",
    "QUEUE-DROP-POLICY": "not-applicable",
    "QUEUE-CONSERVATION": "pass",
    "QUEUE-FIFO": "pass",
    "QUEUE-CLOSE": "pass",
    # A put_nowait may take the slot a woken putter was given (CPython gh-83055, which janus
    # and culsans share: docs/findings/asyncio_queue_nowait_overtakes_woken_waiter.py).
    "QUEUE-FIFO-WAITERS": "not-applicable",
    **GUARDS,
}


def needs(name: str) -> None:
    """Skip unless the library adapter ``name`` wraps is installed."""
    pytest.importorskip(DECLARED[name][0])


def check(
    name: str, pattern: str, report_dir: Path, profile: str = "quick"
) -> tuple[int, dict[str, dict[str, Any]], str]:
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
            profile,
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


def message(rule: dict[str, Any]) -> str:
    """A failed rule's message, or a not-applicable rule's reason."""
    counterexample = rule.get("counterexample") or {}
    return str(counterexample.get("message") or rule.get("reason") or "")


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_each_declaration_loads_by_its_short_name(name: str) -> None:
    needs(name)
    implementation = load_implementation(ADAPTERS[name].spec)
    _, backend, factories = DECLARED[name]
    assert ADAPTERS[name].module == f"harness.adapters.{name.replace('-', '_')}"
    assert implementation.backend == backend
    assert set(implementation.factories) == factories
    assert load_implementation(name).factories.keys() == implementation.factories.keys()


@pytest.mark.parametrize("name", ["janus", "culsans"])
def test_the_async_side_of_a_mixed_queue_passes_every_queue_rule(name: str, tmp_path: Path) -> None:
    needs(name)
    code, rules, out = check(name, "queue", tmp_path)
    assert verdicts(rules, "QUEUE-") == QUEUE_PASSES, out
    assert "drop_policy" in message(rules["QUEUE-DROP-POLICY"])
    assert code == 0, out


def test_aiometer_run_all_raises_the_first_error_of_its_group(tmp_path: Path) -> None:
    needs("aiometer")
    code, rules, out = check("aiometer", "group", tmp_path)
    assert verdicts(rules, "GROUP-") == {"GROUP-FIRST-ERROR": "pass", **GUARDS}, out
    assert code == 0, out


@pytest.fixture(scope="module")
def opnieuw_check(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], str]:
    """One ci check of opnieuw's retry pattern, shared by the tests that read it."""
    needs("opnieuw")
    # The overflow needs a long schedule, which only the full ci budget is sure to draw.
    return check("opnieuw", "retry", tmp_path_factory.mktemp("opnieuw"), "ci")


#: opnieuw 4.0.0 overflows on a schedule of more than 1,024 calls (docs/findings/).
OPNIEUW_GUARDS = {**GUARDS, "NO-CRASH": "fail"}


def test_opnieuw_raises_the_last_error_and_stops_when_cancelled(
    opnieuw_check: tuple[int, dict[str, Any], str],
) -> None:
    _, rules, out = opnieuw_check
    got = verdicts(rules, "RETRY-")
    assert {rid: got[rid] for rid in ("RETRY-CANCEL", "RETRY-LAST-ERROR", *GUARDS)} == {
        "RETRY-CANCEL": "pass",
        "RETRY-LAST-ERROR": "pass",
        **OPNIEUW_GUARDS,
    }, out
    assert "OverflowError" in message(rules["NO-CRASH"]), out


def test_opnieuw_on_blocking_functions_raises_the_last_error_on_the_sync_backend(
    tmp_path: Path,
) -> None:
    needs("opnieuw")
    _, rules, out = check("opnieuw-sync", "retry", tmp_path, "ci")
    got = verdicts(rules, "RETRY-")
    assert {rid: got[rid] for rid in ("RETRY-CANCEL", "RETRY-LAST-ERROR", *GUARDS)} == {
        "RETRY-CANCEL": "not-applicable",  # a blocking call cannot be cancelled
        "RETRY-LAST-ERROR": "pass",
        **OPNIEUW_GUARDS,
    }, out
    assert "sync backend" in message(rules["RETRY-CANCEL"]), out


def test_opnieuw_keeps_its_own_schedule_and_declares_its_retry_window(
    opnieuw_check: tuple[int, dict[str, Any], str],
) -> None:
    code, rules, out = opnieuw_check
    assert verdicts(rules, "RETRY-") == {
        "RETRY-MAX-ATTEMPTS": "not-applicable",  # gives up once its retry window is over
        "RETRY-BACKOFF": "pass",
        "RETRY-CANCEL": "pass",
        "RETRY-LAST-ERROR": "pass",
        **OPNIEUW_GUARDS,
    }, out
    assert "max_calls_total" in message(rules["RETRY-MAX-ATTEMPTS"])
    assert code == 1, out


def test_opnieuw_overflow_finding_shows_it_without_poolcheck() -> None:
    needs("opnieuw")
    script = ROOT / "docs" / "findings" / "opnieuw_overflow_past_1024_calls.py"
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "OverflowError" in done.stdout


@pytest.fixture(scope="module")
def asyncio_pool_check(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[int, dict[str, Any], str]:
    """One ci check of asyncio-pool's pool pattern, shared by the tests that read it."""
    needs("asyncio-pool")
    return check("asyncio-pool", "pool", tmp_path_factory.mktemp("asyncio_pool"))


def test_asyncio_pool_cancel_lets_a_waiting_spawn_start_its_job(
    asyncio_pool_check: tuple[int, dict[str, Any], str],
) -> None:
    code, rules, out = asyncio_pool_check
    got = verdicts(rules, "POOL-")
    assert got["POOL-CONCURRENCY"] == "pass", out
    assert {guard: got[guard] for guard in GUARDS} == GUARDS, out
    # docs/findings/asyncio_pool_cancel_misses_waiting_spawn.py shows it without poolcheck.
    assert got["POOL-NO-LEAK"] == "fail", out
    # Whichever of its two leaks the search meets first: a waiting spawn's job started after
    # cancel(), or jobs left running by a cancelled exit
    # (asyncio_pool_cancelled_exit_leaves_jobs_running.py).
    leak = message(rules["POOL-NO-LEAK"])
    assert "started after cancel()" in leak or "exited while job(s)" in leak, out
    assert got["POOL-CANCEL-PROMPT"] == "fail", out
    # Or a body cancelled inside the block, whose exit joins the jobs (the same script).
    prompt = message(rules["POOL-CANCEL-PROMPT"])
    assert "still run after cancel()" in prompt or "waited for jobs to finish" in prompt, out
    assert (FINDINGS / "asyncio_pool_cancel_misses_waiting_spawn.py").exists()
    assert code == 1, out


def test_asyncio_pool_fails_only_on_its_three_findings(
    asyncio_pool_check: tuple[int, dict[str, Any], str],
) -> None:
    code, rules, out = asyncio_pool_check
    got = verdicts(rules, "POOL-")
    assert got == {
        # docs/findings/asyncio_pool_spawn_swallows_cancel.py: a cancelled submit returns.
        "POOL-EXACTLY-ONCE": "fail",
        "POOL-RESULTS-CLOSED-ONCE": got["POOL-RESULTS-CLOSED-ONCE"],  # below
        "POOL-CONCURRENCY": "pass",
        "POOL-NO-LEAK": "fail",
        "POOL-CANCEL-PROMPT": "fail",
        "POOL-TIMEOUT": "not-applicable",  # AioPool has no per-job timeout
        "POOL-DRAIN": "fail",  # the same, after close(): read as a job cancelled in a drain
        "POOL-BACKPRESSURE": "not-applicable",  # declared: its job queue is unbounded
        **GUARDS,
    }, out
    if got["POOL-RESULTS-CLOSED-ONCE"] != "pass":
        # asyncio_pool_cancelled_exit_leaves_jobs_running.py: the adapter ends results once the
        # pool has joined, which a cancelled exit never waits for.
        assert "results never ended" in message(rules["POOL-RESULTS-CLOSED-ONCE"]), out
    assert "submit" in json.dumps(rules["POOL-EXACTLY-ONCE"]["counterexample"]), out
    # asyncio_pool_spawn_swallows_cancel.py again: the cancellation reached spawn(), which
    # returned normally.
    assert rules["CANCEL-PROPAGATES"]["verdict"] == "fail", out
    assert "swallowed" in message(rules["CANCEL-PROPAGATES"]), out
    assert code == 1, out


def test_pebble_thread_pool_runs_jobs_exactly_once() -> None:
    needs("pebble")
    implementation = load_implementation("pebble")
    outcome = search_model(
        PoolModel, implementation, Profile("short", max_examples=5, derandomize=True)
    )
    assert outcome.error is None
    assert outcome.failures == {}
    assert outcome.complete
    for rule in ("POOL-EXACTLY-ONCE", "POOL-RESULTS-CLOSED-ONCE", "POOL-DRAIN"):
        assert outcome.judged.get(rule, 0) >= 1, (rule, outcome.judged)


@pytest.mark.parametrize(
    "script",
    [
        "asyncio_pool_cancel_misses_waiting_spawn.py",
        "asyncio_pool_spawn_swallows_cancel.py",
        "asyncio_pool_cancelled_exit_leaves_jobs_running.py",
    ],
)
def test_each_asyncio_pool_finding_script_shows_its_misbehaviour(script: str) -> None:
    needs("asyncio-pool")
    done = subprocess.run(
        [sys.executable, str(FINDINGS / script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "MISBEHAVIOUR" in done.stdout
