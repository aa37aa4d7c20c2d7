"""The hang guards tell waiting from spinning, on trio and on asyncio (issue 12, item 6).

A wait on a timer moves virtual time on and is no livelock; an instant that spins is one. A
sleep shorter than the float clock can tell apart ends as it would on a real clock (the guard
nudges the clock on by a tick), so a correct token bucket without an epsilon passes, while a
genuine spin (``sleep(0)`` forever, a task that swallows its cancellation) is still NO-HANG,
at a bounded cost. An aborted run's tasks are closed at once, so none of them acts on a later
run (the cause of a verdict that depended on which tests ran before it, item 3).
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import sniffio
import trio
import trio.lowlevel

from harness.backends import Runtime, backend_for
from harness.guards import Budgets
from harness.plugin import load_implementation
from harness.search.engine import PROFILES, Profile, search_model
from harness.search.models.rate import RateModel

BACKENDS = ("trio", "asyncio")
Main = Callable[[Runtime], Awaitable[None]]


# -- the token bucket of the issue: correct on a real loop, no epsilon ------------------------
class NoEpsilonBucket:
    """``burst`` tokens refilled at ``rate`` per second on ``loop.time()``; FIFO waiters.

    ``acquire`` sleeps off the missing tokens with no epsilon: a float remainder of 1e-16
    tokens becomes a sleep too short for the clock to tell apart from no sleep at all.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst, self.tokens = rate, burst, float(burst)
        self.stamp = asyncio.get_running_loop().time()
        self.line = asyncio.Lock()

    def _refill(self) -> None:
        now = asyncio.get_running_loop().time()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def try_acquire(self, weight: int = 1) -> bool:
        """Take ``weight`` tokens now, or refuse (waiters in line come first)."""
        self._refill()
        if self.line.locked() or self.tokens < weight:
            return False
        self.tokens -= weight
        return True

    async def acquire(self, weight: int = 1) -> None:
        """Wait in line until ``weight`` tokens are there, then take them."""
        async with self.line:
            self._refill()
            while self.tokens < weight:
                await asyncio.sleep((weight - self.tokens) / self.rate)
                self._refill()
            self.tokens -= weight


class TrioNoEpsilonBucket:
    """The same bucket on ``trio.current_time()`` and ``trio.sleep``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst, self.tokens = rate, burst, float(burst)
        self.stamp = trio.current_time()
        self.line = trio.Lock()

    def _refill(self) -> None:
        now = trio.current_time()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def try_acquire(self, weight: int = 1) -> bool:
        """Take ``weight`` tokens now, or refuse (waiters in line come first)."""
        self._refill()
        if self.line.locked() or self.tokens < weight:
            return False
        self.tokens -= weight
        return True

    async def acquire(self, weight: int = 1) -> None:
        """Wait in line until ``weight`` tokens are there, then take them."""
        async with self.line:
            self._refill()
            while self.tokens < weight:
                await trio.sleep((weight - self.tokens) / self.rate)
                self._refill()
            self.tokens -= weight


class SpinningBucket(NoEpsilonBucket):
    """``acquire`` spins on ``sleep(0)`` forever: a livelock."""

    async def acquire(self, weight: int = 1) -> None:
        """Never waits, never returns."""
        while True:
            await asyncio.sleep(0)


class StubbornBucket(NoEpsilonBucket):
    """``acquire`` swallows its cancellation and waits again: a livelock once cancelled."""

    async def acquire(self, weight: int = 1) -> None:
        """Waits for ever, whatever the caller says."""
        while True:
            try:  # noqa: SIM105 - the bug under test: swallowing cancellation
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                pass


def _declare(name: str, backend: str, bucket: type[Any]) -> dict[str, Any]:
    return {
        "name": name,
        "backend": backend,
        "capabilities": ["weighted_acquire"],
        "factories": {"token_bucket": bucket},
    }


def no_epsilon() -> dict[str, Any]:
    return _declare("no-epsilon-bucket", "asyncio", NoEpsilonBucket)


def trio_no_epsilon() -> dict[str, Any]:
    return _declare("trio-no-epsilon-bucket", "trio", TrioNoEpsilonBucket)


def spinning() -> dict[str, Any]:
    return _declare("spinning-bucket", "asyncio", SpinningBucket)


def stubborn() -> dict[str, Any]:
    return _declare("stubborn-bucket", "asyncio", StubbornBucket)


# -- whole searches -------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["no_epsilon", "trio_no_epsilon"])
def test_a_correct_bucket_without_epsilon_passes_every_rate_rule(spec: str) -> None:
    # Before: NO-HANG "livelock: 200001 ... without settling" after a 50 s (asyncio) or 175 s
    # (trio) search; the tiny sleeps never moved virtual time on.
    implementation = load_implementation(f"{__name__}:{spec}")
    outcome = search_model(RateModel, implementation, PROFILES["quick"])
    assert outcome.error is None
    assert {rule: c.message for rule, c in outcome.failures.items()} == {}
    assert "RATE-BOUND" in outcome.exercised


@pytest.mark.parametrize("spec", ["spinning", "stubborn"])
def test_a_genuine_spin_is_still_no_hang_and_each_trip_is_cheap(
    spec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.backends import asyncio_run

    most: list[int] = [0]
    run_once = asyncio_run.GuardedLoop._run_once

    def counted(loop: Any) -> None:
        loop.test_iterations = getattr(loop, "test_iterations", 0) + 1
        most[0] = max(most[0], loop.test_iterations)
        run_once(loop)

    monkeypatch.setattr(asyncio_run.GuardedLoop, "_run_once", counted)
    implementation = load_implementation(f"{__name__}:{spec}")
    outcome = search_model(RateModel, implementation, Profile("small", 20, derandomize=True))
    assert outcome.error is None
    assert "NO-HANG" in outcome.failures, sorted(outcome.failures)
    assert "livelock" in outcome.failures["NO-HANG"].message
    # Each example that trips costs the livelock budget, 10,000 iterations of one instant,
    # plus the example's own few hundred. Before: 200,000 each, shrinking included (one
    # search of a spinning limiter took 171 s).
    assert most[0] <= 11_000, most[0]


# -- the guard, one run at a time ------------------------------------------------------------
def run_on(backend: str, main: Main, budgets: Budgets | None = None) -> str | None:
    """Run ``main`` as one example of ``backend``; the abort reason, or None."""
    return backend_for(backend).run(main, budgets or Budgets(), 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_waits_on_timers_are_not_a_livelock(backend: str) -> None:
    # 5,000 wakes of a 1 ms ticker while the example waits 5 s: many steps without settling,
    # but every one of them after virtual time moved on. Before: a livelock.
    async def main(runtime: Runtime) -> None:
        async def ticker() -> None:
            while True:
                await anyio.sleep(0.001)

        async with anyio.create_task_group() as group:
            group.start_soon(ticker)
            await anyio.sleep(5.0)
            group.cancel_scope.cancel()

    assert run_on(backend, main, Budgets(max_steps_between_idle=2_000)) is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_sleep_too_short_for_the_clock_ends_as_on_a_real_clock(backend: str) -> None:
    # At t=0.6 the float clock cannot tell t + 1e-17 from t: ``sleep(1e-17)`` moves nothing
    # on, and code that waits for the clock to change spins. A real clock moves on meanwhile;
    # the guard moves the virtual one on by a tick. Before: a livelock.
    moved: list[float] = []

    async def main(runtime: Runtime) -> None:
        await anyio.sleep(0.6)
        start = anyio.current_time()
        while anyio.current_time() == start:
            await anyio.sleep(1e-17)
        moved.append(anyio.current_time() - start)

    assert run_on(backend, main) is None
    assert len(moved) == 1
    assert 0 < moved[0] < 1e-9


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["checkpoint", "swallowed cancellation"])
def test_a_spin_at_one_instant_is_a_livelock_within_its_budget(backend: str, kind: str) -> None:
    # Nudging the clock on never turns a spin into progress; and the default budget makes a
    # tripped example cheap (before: 200,000 steps each).
    spins: list[int] = [0]

    async def main(runtime: Runtime) -> None:
        if kind == "checkpoint":
            while True:
                spins[0] += 1
                await anyio.lowlevel.checkpoint()
        with anyio.move_on_after(1.0):
            while True:
                spins[0] += 1
                try:  # the bug under test: swallowing cancellation
                    await anyio.sleep(3600)
                except anyio.get_cancelled_exc_class():
                    pass

    reason = run_on(backend, main)
    assert reason is not None
    assert reason.startswith("livelock:"), reason
    assert spins[0] <= 10_100


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_run_that_wakes_for_ever_is_too_busy_to_simulate(backend: str) -> None:
    # Not a livelock (time moves on), but a microsecond ticker for a whole virtual minute costs
    # more than a gate can afford: bounded by the steps allowed between settled instants.
    async def main(runtime: Runtime) -> None:
        async def ticker() -> None:
            while True:
                await anyio.sleep(1e-6)

        async with anyio.create_task_group() as group:
            group.start_soon(ticker)
            await anyio.sleep(60.0)
            group.cancel_scope.cancel()

    reason = run_on(backend, main, Budgets(max_steps_unsettled=50_000))
    assert reason is not None
    assert reason.startswith("too busy to simulate:"), reason


def test_trio_runs_have_a_wall_clock_budget_too() -> None:
    # Before, only asyncio and threads checked it: a trio run that kept waking on timers was
    # bounded by nothing but its step count.
    async def main(runtime: Runtime) -> None:
        while True:
            await trio.sleep(1e-6)

    budgets = Budgets(max_steps_unsettled=10**12, max_virtual_time=1e12, wall_budget=0.3)
    reason = run_on("trio", main, budgets)
    assert reason == "the run went past its wall-clock budget of 0.3s"


# -- an aborted run's tasks ------------------------------------------------------------------
def _current_coroutine() -> Any:
    if sniffio.current_async_library() == "trio":
        return trio.lowlevel.current_task().coro
    task = asyncio.current_task()
    assert task is not None
    return task.get_coro()


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_aborted_run_leaves_no_suspended_coroutine(backend: str) -> None:
    coroutines: list[Any] = []

    async def main(runtime: Runtime) -> None:
        coroutines.append(_current_coroutine())

        async def spin() -> None:
            coroutines.append(_current_coroutine())
            while True:
                await anyio.lowlevel.checkpoint()

        async with anyio.create_task_group() as group:
            group.start_soon(spin)
            await anyio.sleep(1.0)

    reason = run_on(backend, main)
    assert reason is not None
    assert reason.startswith("livelock:"), reason
    assert len(coroutines) == 2
    assert [coroutine.cr_frame for coroutine in coroutines] == [None, None]


@pytest.fixture
def no_automatic_collection() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.usefixtures("no_automatic_collection")
def test_an_aborted_trio_runs_tasks_never_act_inside_a_later_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before: the aborted run's orphans were closed by whichever collection came next. Inside
    # a later run, their cancel scopes and nurseries acted on that run's current task ("Cancel
    # scope stack corrupted ... from unrelated <Task 'later'>"), which could break its verdict:
    # a full suite under load (tests spread over workers differently) once reported
    # ``BaseExceptionGroup: Exceptions from Trio nursery`` as a harness error this way.
    complaints: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: complaints.append(f"{u.exc_value!r}"))

    async def aborted(runtime: Runtime) -> None:
        async def spin() -> None:
            while True:
                await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(spin)
            await trio.sleep_forever()

    reason = run_on("trio", aborted)
    assert reason is not None
    assert reason.startswith("livelock:"), reason
    complaints.clear()

    async def later(runtime: Runtime) -> None:
        gc.collect()  # whatever the aborted run left is collected now, inside this run
        await trio.lowlevel.checkpoint()

    assert run_on("trio", later) is None
    assert complaints == []
