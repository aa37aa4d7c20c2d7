"""The threads backend: cancel() driven, every call off the loop thread, settles proven.

Thread pools run on the real clock, so each test runs a fixed, derandomized set of examples
(stopping early once it has seen what it looks for) rather than a search that would shrink on
the real clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from examples.thread_pool import PoolClosed, Result, ThreadPool
from harness.backends.threads_run import ThreadsBackend, _waits, run_blocking
from harness.plugin import load_implementation
from harness.search.engine import PROFILES, _settings
from harness.search.model import ExampleOutcome, run_example
from harness.search.models.pool import PoolModel


@dataclass
class Seen:
    """What a run of examples showed."""

    examples: int = 0
    #: Rule ID -> the first example's outcome that violated it.
    violated: dict[str, ExampleOutcome] = field(default_factory=dict)
    #: How many events of each kind all the examples recorded.
    events: Counter[str] = field(default_factory=Counter)


def run_pool(spec: str, examples: int, until: Callable[[Seen], bool] | None = None) -> Seen:
    """Run up to ``examples`` derandomized pool examples of ``spec``; stop once ``until``."""
    implementation = load_implementation(spec)
    seen = Seen()

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        outcome = run_example(PoolModel, implementation, data)
        seen.examples += 1
        seen.events.update(event.kind for event in outcome.events)
        for violation in outcome.violations:
            seen.violated.setdefault(violation.rule_id, outcome)
        if until is not None and until(seen):
            raise _Enough

    with contextlib.suppress(_Enough):
        run()
    return seen


class _Enough(BaseException):
    """Stops the examples at once (no replay: Hypothesis lets a ``BaseException`` through)."""


def declared(pool: type[ThreadPool]) -> dict[str, Any]:
    """A declaration of a thread pool class."""
    return {
        "name": pool.__name__,
        "backend": "threads",
        "factories": {"worker_pool": pool},
        "closed_errors": [PoolClosed],
    }


# -- a call that blocks forever is NO-HANG, not a frozen harness ------------------------------
FOREVER = threading.Event()


class BlockingSubmitNowait(ThreadPool):
    """``submit_nowait`` waits for something that never happens (until the test ends)."""

    def submit_nowait(self, job_id: Hashable, payload: Any) -> None:
        """Block."""
        FOREVER.wait()


def blocking_submit_nowait() -> dict[str, Any]:
    return declared(BlockingSubmitNowait)


def test_a_submit_nowait_that_blocks_forever_is_no_hang_within_its_deadline() -> None:
    # Before, submit_nowait ran on the harness's loop thread: the whole run froze for good.
    started = time.monotonic()
    try:
        seen = run_pool(f"{__name__}:blocking_submit_nowait", 10, lambda s: "NO-HANG" in s.violated)
    finally:
        FOREVER.set()
    assert "NO-HANG" in seen.violated
    hang = next(e for e in seen.violated["NO-HANG"].events if e.kind == "hang")
    assert str(hang.id).startswith("submit_nowait(")
    # A 60 model-second deadline is 1.2 real seconds: a few examples, not a frozen run.
    assert time.monotonic() - started < 60


def test_a_submit_nowait_that_spins_is_no_hang_and_is_stopped() -> None:
    # Before, the spin ran on the harness's loop thread: only a watchdog could end the search.
    seen = run_pool(
        "tests.hostile.catalog:threads_busy_loop", 10, lambda s: "NO-HANG" in s.violated
    )
    hang = next(e for e in seen.violated["NO-HANG"].events if e.kind == "hang")
    assert str(hang.id).startswith("submit_nowait(")
    # The abandoned call was sent CallAbandoned: no thread spins on behind the harness's back.
    assert _eventually(
        lambda: not any("SpinningThreadPool" in t.name for t in threading.enumerate()), 5.0
    )


# -- cancel() is driven: a pool that loses queued jobs on cancel fails -----------------------
def test_a_pool_that_drops_its_queued_jobs_on_cancel_fails_exactly_once() -> None:
    # Before, cancel() was never drawn on threads and this pool passed every rule.
    seen = run_pool(
        "tests.mutants.threads:drops_queued_on_cancel",
        400,
        lambda s: "POOL-EXACTLY-ONCE" in s.violated,
    )
    assert "POOL-EXACTLY-ONCE" in seen.violated, seen.violated.keys()
    outcome = seen.violated["POOL-EXACTLY-ONCE"]
    assert any(step.endswith("cancel()") for step in outcome.steps), outcome.steps
    message = next(v.message for v in outcome.violations if v.rule_id == "POOL-EXACTLY-ONCE")
    assert "no outcome" in message


def test_a_pool_that_runs_queued_jobs_after_cancel_fails_no_leak() -> None:
    seen = run_pool(
        "tests.mutants.threads:runs_queued_after_cancel",
        400,
        lambda s: "POOL-NO-LEAK" in s.violated,
    )
    assert "POOL-NO-LEAK" in seen.violated, seen.violated.keys()
    outcome = seen.violated["POOL-NO-LEAK"]
    message = next(v.message for v in outcome.violations if v.rule_id == "POOL-NO-LEAK")
    assert "started after cancel()" in message


# -- no false alarm on correct thread pools, cancel() included -------------------------------
class JoiningCancel(ThreadPool):
    """A correct pool whose ``cancel()`` returns only once its workers have exited.

    While it waits for them the backend must let finished handlers return to their workers,
    or the hold that keeps cancels fair would deadlock it.
    """

    def cancel(self) -> None:
        """Cancel, then wait for the running jobs to finish."""
        super().cancel()
        for thread in self._threads:
            if thread.is_alive():
                thread.join()


def joining_cancel() -> dict[str, Any]:
    return declared(JoiningCancel)


@pytest.mark.parametrize(
    ("spec", "examples", "cancels"),
    [
        ("examples.thread_pool:implementation", 150, True),
        (f"{__name__}:joining_cancel", 100, True),
        ("thread-pool-executor", 100, True),
        ("pebble", 30, False),  # Pebble's adapter maps no cancel(); its exit polls every 0.1 s
    ],
)
def test_a_correct_thread_pool_raises_no_false_alarm(
    spec: str, examples: int, cancels: bool
) -> None:
    if spec == "pebble":
        pytest.importorskip("pebble")
    seen = run_pool(spec, examples)
    assert seen.violated == {}, {
        rule: [v.describe() for v in outcome.violations] for rule, outcome in seen.violated.items()
    }
    assert seen.examples == examples
    assert (seen.events["cancel"] > 0) is cancels
    assert seen.events["job_start"] > examples / 2  # the pools did run jobs


# -- every call into the implementation runs off the loop thread -----------------------------
CALLERS: dict[str, set[int]] = {}


def _called(what: str) -> None:
    CALLERS.setdefault(what, set()).add(threading.get_ident())


class Recording(ThreadPool):
    """Notes the thread every contract call into it runs in."""

    def __init__(self, **kwargs: Any) -> None:
        _called("factory")
        super().__init__(**kwargs)

    def __enter__(self) -> Recording:
        _called("__enter__")
        return super().__enter__()  # type: ignore[return-value]

    def __exit__(self, *exc_info: Any) -> None:
        _called("__exit__")
        super().__exit__(*exc_info)

    def submit(self, job_id: Hashable, payload: Any) -> None:
        """Noted, then queued."""
        _called("submit")
        super().submit(job_id, payload)

    def submit_nowait(self, job_id: Hashable, payload: Any) -> None:
        """Noted, then queued or refused."""
        _called("submit_nowait")
        super().submit_nowait(job_id, payload)

    def close(self) -> None:
        """Noted, then closed."""
        _called("close")
        super().close()

    def cancel(self) -> None:
        """Noted, then cancelled."""
        _called("cancel")
        super().cancel()

    @property
    def results(self) -> Iterator[Result]:
        """Noted, then the results."""
        _called("results")
        return super().results

    @property
    def undelivered(self) -> list[Result]:
        """Noted, then the undelivered jobs."""
        _called("undelivered")
        return self._undelivered

    @undelivered.setter
    def undelivered(self, value: list[Result]) -> None:
        self._undelivered = value


def recording() -> dict[str, Any]:
    return declared(Recording)


def test_no_call_into_the_implementation_runs_on_the_loop_thread() -> None:
    CALLERS.clear()
    seen = run_pool(f"{__name__}:recording", 40)
    assert seen.violated == {}
    methods = {"factory", "__enter__", "__exit__", "submit", "submit_nowait", "close", "cancel"}
    assert methods | {"results", "undelivered"} <= CALLERS.keys()
    loop_thread = threading.get_ident()  # the examples' loops ran on this thread
    assert {what for what, idents in CALLERS.items() if loop_thread in idents} == set()


# -- settled instants are proven ---------------------------------------------------------------
def _eventually(condition: Callable[[], bool], seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def test_a_notified_thread_that_has_not_run_yet_is_not_taken_for_a_waiting_one() -> None:
    condition = threading.Condition()

    def wait() -> None:
        with condition:
            condition.wait()

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    assert _eventually(lambda: _waits(waiter))
    with condition:
        condition.notify()
        # Woken but unable to go on while this thread holds the condition's lock.
        assert not _waits(waiter)
    waiter.join(2)
    assert not waiter.is_alive()


def test_a_join_waits_while_the_joined_thread_runs() -> None:
    release = threading.Event()
    worker = threading.Thread(target=release.wait, daemon=True)
    worker.start()
    joiner = threading.Thread(target=worker.join, daemon=True)
    joiner.start()
    assert _eventually(lambda: _waits(joiner))
    release.set()
    joiner.join(2)


def test_only_known_polling_loops_sleep_as_waiting() -> None:
    pebble = pytest.importorskip("pebble")
    pool = pebble.ThreadPool(max_workers=1)
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        assert pool.schedule(sum, args=([1, 2],)).result(timeout=5) == 3
        manager = pool._pool_manager_loop
        # Pebble's manager sleeps between its checks for dead workers: a timer, not work.
        assert _eventually(lambda: _waits(manager))
        # Any other sleep may be a poll that hands out work: never taken for a wait.
        time.sleep(0.01)
        assert poller.is_alive()
        assert not _waits(poller)
    finally:
        stop.set()
        pool.close()
        pool.join()


def test_an_abandoned_call_that_spins_is_stopped() -> None:
    spinning = threading.Event()

    def spin() -> None:
        spinning.set()
        while True:
            pass

    async def give_up() -> None:
        with anyio.move_on_after(0.05):
            await run_blocking(spin)

    asyncio.run(give_up())
    assert spinning.is_set()
    assert _eventually(
        lambda: not any("spin" in thread.name for thread in threading.enumerate()), 5.0
    )


def test_threads_run_the_profiles_example_count() -> None:
    # Before, a cap of 20 examples per search applied whatever the profile.
    assert ThreadsBackend.max_examples is None
    implementation = load_implementation("examples.thread_pool:implementation")
    for profile in PROFILES.values():
        assert _settings(implementation, profile).max_examples == profile.max_examples


def test_a_thread_that_was_there_before_the_example_never_keeps_it_unsettled() -> None:
    # pytest-xdist's execnet reader is such a thread: started with _thread.start_new_thread
    # (no Thread object), blocked in a pipe read. Before, every settle under xdist waited for
    # the 0.6 s limit because of it, and the threads tests ran past their timeout.
    import _thread
    import os

    from harness.backends.threads_run import _snapshot

    read_end, write_end = os.pipe()
    started = threading.Event()
    idents: list[int] = []

    def reader() -> None:
        idents.append(threading.get_ident())
        started.set()
        os.read(read_end, 1)
        os.close(read_end)

    _thread.start_new_thread(reader, ())
    try:
        assert started.wait(5.0)
        # Every other thread of this process (a test runner's own) is a bystander too.
        import sys

        others = frozenset(sys._current_frames()) - {threading.get_ident()}
        assert _eventually(lambda: _snapshot(others - set(idents)) is None, 5.0)
        assert _snapshot(others) is not None
    finally:
        os.write(write_end, b"x")
        os.close(write_end)
