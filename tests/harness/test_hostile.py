"""The implementation's faults are verdicts, never "harness error".

Each declaration of :mod:`tests.hostile.catalog` does something a careless or hostile
implementation does: a factory returns junk, a method ends the process or fakes a Ctrl-C, a
cancellation leaks out, one of its own threads or tasks dies where nobody looks, it exits while
being imported or declared. Each must come out as a NO-CRASH verdict with a message that says
what happened, minimal steps and a replay line (or, while loading, a one-line configuration
error), and no rule may read "harness error", which means a bug in poolcheck. The user's own
Ctrl-C must still stop poolcheck.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import pytest

from harness.checking import Verdict
from harness.cli import main
from harness.conformance import RuleResult, run_pattern, verdicts
from harness.plugin import ConfigError, load_implementation
from harness.rules import Pattern
from harness.search.engine import Profile, search_model
from harness.search.models.queue import QueueModel
from reference.queues import UnboundedQueue

CATALOG = "tests.hostile.catalog"
#: Small budgets: each of these faults shows in the first examples.
PROFILE = Profile("hostile", max_examples=20, derandomize=True)


def judged(name: str, pattern: str, examples: int = 20) -> dict[str, RuleResult]:
    """The verdict per rule of one catalog declaration on one pattern, searched briefly."""
    implementation = load_implementation(f"{CATALOG}:{name}")
    profile = Profile("hostile", max_examples=examples, derandomize=True)
    run = run_pattern(implementation, Pattern(pattern), profile)
    assert run.error is None, run.error
    results = verdicts(implementation, [run])
    harness_errors = [r.rule.id for r in results if "harness error" in r.reason]
    assert harness_errors == [], harness_errors
    return {result.rule.id: result for result in results}


def crash_of(results: dict[str, RuleResult]) -> dict[str, Any]:
    """NO-CRASH's counterexample, which must have failed with steps and a replay line."""
    crash = results["NO-CRASH"]
    assert crash.verdict is Verdict.FAIL, (crash.verdict, crash.reason)
    assert crash.counterexample is not None
    assert crash.counterexample["replay"], "a crash replays with one command"
    assert isinstance(crash.counterexample["steps"], list)
    return crash.counterexample


# -- factories that return junk ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "pattern", "expected"),
    [
        (
            "pool_factory_returns_none",
            "pool",
            "worker_pool() raised nothing, but returned None, not a pool",
        ),
        ("bucket_factory_returns_42", "rate", "returned 42, not a limiter (no acquire)"),
        ("bucket_lacks_acquire", "rate", "not a limiter (no acquire)"),
    ],
    ids=["None", "42", "no-acquire"],
)
def test_a_factory_returning_junk_is_a_crash_that_says_so(
    name: str, pattern: str, expected: str
) -> None:
    counterexample = crash_of(judged(name, pattern))
    assert expected in counterexample["message"]


def test_a_missing_optional_method_is_no_crash_and_the_rest_is_judged() -> None:
    results = judged("bucket_lacks_try_acquire", "rate")
    for rule in ("NO-CRASH", "RATE-BOUND", "RATE-NO-OVERTHROTTLE"):
        assert results[rule].verdict is Verdict.PASS, (rule, results[rule])


def test_an_attribute_error_from_inside_a_method_is_a_crash() -> None:
    counterexample = crash_of(judged("queue_len_typo", "queue"))
    assert "has no attribute 'items'" in counterexample["message"]


# -- methods that end the process or fake a Ctrl-C ----------------------------------------------
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("queue_put_nowait_exits", "raised SystemExit("),
        ("queue_put_nowait_interrupts", "raised KeyboardInterrupt()"),
        ("queue_put_nowait_generator_exit", "raised GeneratorExit()"),
        ("asyncio_put_exits", "raised SystemExit(1)"),
    ],
    ids=["trio-exit", "trio-interrupt", "trio-generator-exit", "asyncio-exit"],
)
def test_an_exit_or_interrupt_raised_by_a_method_is_a_crash(name: str, expected: str) -> None:
    counterexample = crash_of(judged(name, "queue"))
    assert expected in counterexample["message"]
    assert counterexample["steps"], "the steps that lead to the exit"


# -- cancellation that leaks out ---------------------------------------------------------------
@pytest.mark.parametrize("name", ["group_cancels_parent", "group_raises_cancelled"])
def test_a_leaked_cancellation_is_a_crash(name: str) -> None:
    counterexample = crash_of(judged(name, "group"))
    assert "leaked out of the implementation" in counterexample["message"]


def test_a_taskgroup_that_leaves_a_cancellation_request_is_a_crash() -> None:
    # asyncio.TaskGroup as a first-error group: on Python 3.11 and 3.12, a task that fails
    # while the block is being left makes the group cancel its caller's task and never take
    # the request back (fixed in 3.13, where the same group is correct).
    results = judged("taskgroup_first_error", "group")
    if sys.version_info >= (3, 13):
        assert results["NO-CRASH"].verdict is Verdict.PASS
    else:
        counterexample = crash_of(results)
        assert "left its caller's task with a cancellation request" in counterexample["message"]


# -- faults outside the harness's calls --------------------------------------------------------
def test_a_thread_of_the_implementation_that_dies_is_a_crash() -> None:
    counterexample = crash_of(judged("thread_worker_dies", "pool", examples=5))
    assert "thread 'pool-worker-" in counterexample["message"]
    assert "IndexError('pop from empty list')" in counterexample["message"]


def test_a_task_exception_nobody_retrieves_is_a_crash() -> None:
    counterexample = crash_of(judged("asyncio_task_never_retrieved", "queue"))
    assert "LookupError('audit log has no slot for" in counterexample["message"]
    assert "nobody retrieved it" in counterexample["message"]


# -- faults while loading the declaration -------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (f"{CATALOG}:declaration_exits", "raised SystemExit(3) (from inside the implementation"),
        (f"{CATALOG}:declaration_interrupts", "raised KeyboardInterrupt() (from inside the"),
        ("tests.hostile.exits_at_import:implementation", "raised SystemExit(7) (from inside the"),
        (f"{CATALOG}:capabilities_five", "'capabilities' must be a list of names, not 5"),
    ],
    ids=["declaration-exits", "declaration-interrupts", "exits-at-import", "capabilities-5"],
)
def test_a_fault_while_loading_is_a_one_line_config_error(spec: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_implementation(spec)
    message = str(raised.value)
    assert expected in message
    assert spec in message
    assert "\n" not in message


def test_exit_at_import_is_exit_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--impl", "tests.hostile.exits_at_import:implementation"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1
    assert "SystemExit(7)" in err[0]


# -- the user's own Ctrl-C ---------------------------------------------------------------------
class CtrlCQueue(UnboundedQueue[Any]):
    """A correct queue, but the user presses Ctrl-C while its ``put_nowait`` runs."""

    def put_nowait(self, item: Any) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        super().put_nowait(item)


def ctrl_c_queue() -> dict[str, Any]:
    """A trio queue during whose calls the user presses Ctrl-C."""
    return {"name": "ctrl-c", "backend": "trio", "factories": {"unbounded_queue": CtrlCQueue}}


def test_the_users_ctrl_c_still_stops_the_search() -> None:
    implementation = load_implementation("tests.harness.test_hostile:ctrl_c_queue")
    with pytest.raises(KeyboardInterrupt):
        search_model(QueueModel, implementation, PROFILE)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("trio_busy_loop", "queue"),
        ("asyncio_busy_loop", "queue"),
        # threads: a busy call runs off the loop thread, so it is NO-HANG at its call deadline
        # (tests/harness/test_threads_backend.py), not a stalled search.
    ],
)
def test_a_busy_loop_on_each_backend_is_no_hang_with_the_report_written(
    name: str, pattern: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    spec = f"{CATALOG}:{name}"
    args = ["check", "--impl", spec, "--pattern", pattern, "--stall-seconds", "2"]
    assert main([*args, "--report-dir", str(tmp_path)]) == 1
    assert "FAIL NO-HANG: the implementation did not yield" in capsys.readouterr().out
    report = json.loads((tmp_path / "conformance.json").read_text())
    rules = {r["id"]: r for r in report["implementations"][0]["rules"]}
    assert rules["NO-HANG"]["verdict"] == "fail"
    assert not any("harness error" in (r["reason"] or "") for r in rules.values())


def test_a_huge_allocation_is_a_crash() -> None:
    results = judged("huge_allocation", "queue")
    assert results["NO-CRASH"].verdict is Verdict.FAIL
    assert "MemoryError" in results["NO-CRASH"].counterexample["message"]  # type: ignore[index]


def test_a_leaked_task_is_a_verdict_and_nothing_on_stderr(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import gc

    results = judged("asyncio_stubborn_task", "queue")
    gc.collect()
    assert results["NO-LEAK"].verdict is Verdict.FAIL
    # Before, asyncio logged "Task was destroyed but it is pending!" (stderr, in the CLI) for
    # each leaked task whenever the collector met it, in the middle of poolcheck's output.
    assert not [r for r in caplog.records if "Task was destroyed" in r.getMessage()]
