"""The backend layer: asyncio on virtual time and threads keep the harness's guarantees.

A broken implementation on any backend becomes a verdict (NO-HANG, NO-LEAK), never a hung or
crashed harness; settling on asyncio's virtual time lets no time pass.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples.asyncio_impl import BoundedQueue
from examples.thread_pool import PoolClosed, ThreadPool
from harness.backends import BACKEND_NAMES, Runtime, backend_for
from harness.guards import Budgets
from harness.plugin import ConfigError, load_implementation
from harness.search.model import Model, run_example
from harness.search.models.pool import PoolModel
from harness.search.models.queue import QueueModel


def violated(
    model: type[Model], spec: str, examples: int, budgets: Budgets | None = None
) -> set[str]:
    """The rule IDs any of ``examples`` derandomized examples of ``model`` violated."""
    implementation = load_implementation(spec)
    seen: set[str] = set()

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        outcome = run_example(model, implementation, data, budgets)
        seen.update(v.rule_id for v in outcome.violations)

    run()
    return seen


# -- asyncio: an implementation that will not be cancelled ------------------------------------
class StubbornQueue(BoundedQueue):
    """A queue whose get swallows cancellation and keeps waiting: a livelock."""

    async def get(self) -> Any:
        while True:
            try:  # noqa: SIM105 - the bug under test: swallowing cancellation
                await asyncio.sleep(0)
            except asyncio.CancelledError:
                pass


def stubborn() -> dict[str, Any]:
    return {
        "name": "stubborn-asyncio",
        "backend": "asyncio",
        "factories": {"bounded_queue": StubbornQueue},
    }


def test_an_asyncio_task_that_swallows_cancellation_becomes_no_hang() -> None:
    budgets = Budgets(max_steps_between_idle=20_000)
    assert "NO-HANG" in violated(QueueModel, f"{__name__}:stubborn", 30, budgets)


# -- asyncio: an implementation that leaves a task behind -------------------------------------
async def _forever() -> None:
    await asyncio.Event().wait()


def _leaky_queue(*, capacity: int) -> BoundedQueue:
    queue = BoundedQueue(capacity)
    queue.keeper = asyncio.get_running_loop().create_task(_forever(), name="leaked-keeper")  # type: ignore[attr-defined]
    return queue


def leaky() -> dict[str, Any]:
    return {
        "name": "leaky-asyncio",
        "backend": "asyncio",
        "factories": {"bounded_queue": _leaky_queue},
    }


def test_an_asyncio_task_that_outlives_the_example_becomes_no_leak() -> None:
    assert "NO-LEAK" in violated(QueueModel, f"{__name__}:leaky", 5)


def test_the_correct_asyncio_queue_leaks_nothing_and_never_hangs() -> None:
    seen = violated(QueueModel, "examples.asyncio_impl:implementation", 30)
    assert seen.isdisjoint({"NO-LEAK", "NO-HANG", "NO-CRASH"}), seen


# -- threads: an implementation that leaves a thread behind ----------------------------------
RELEASE = threading.Event()


def _leaky_pool(**kwargs: Any) -> ThreadPool:
    pool = ThreadPool(**kwargs)
    threading.Thread(target=RELEASE.wait, name="leaked-thread", daemon=True).start()
    return pool


def leaky_threads() -> dict[str, Any]:
    return {
        "name": "leaky-threads",
        "backend": "threads",
        "factories": {"worker_pool": _leaky_pool},
        "closed_errors": [PoolClosed],
    }


def test_a_thread_that_outlives_the_example_becomes_a_pool_leak() -> None:
    try:
        # The pool's own leak rule judges what outlives a pool's run.
        assert violated(PoolModel, f"{__name__}:leaky_threads", 3) == {"POOL-NO-LEAK"}
    finally:
        RELEASE.set()


# -- threads: an implementation whose block never exits --------------------------------------
HEAR = threading.Event()


class DeafPool(ThreadPool):
    """A pool whose exit waits for something that never happens (until the test ends)."""

    def __exit__(self, *exc_info: object) -> None:
        HEAR.wait()


def deaf_threads() -> dict[str, Any]:
    return {
        "name": "deaf-threads",
        "backend": "threads",
        "factories": {"worker_pool": DeafPool},
        "closed_errors": [PoolClosed],
    }


def test_a_thread_that_never_returns_becomes_no_hang() -> None:
    try:
        assert "NO-HANG" in violated(PoolModel, f"{__name__}:deaf_threads", 2)
    finally:
        HEAR.set()


# -- asyncio virtual time --------------------------------------------------------------------
def run_on(backend: str, body: Callable[[Runtime], Awaitable[None]]) -> str | None:
    return backend_for(backend).run(body, Budgets(), seed=0)


def test_settling_on_asyncio_lets_no_virtual_time_pass() -> None:
    seen: list[float] = []

    async def body(runtime: Runtime) -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(runtime.sleep, 1.0)
            await runtime.wait_all_tasks_blocked()
            seen.append(runtime.now())
            await runtime.sleep(2.5)
            seen.append(runtime.now())

    assert run_on("asyncio", body) is None
    assert seen == [0.0, pytest.approx(2.5, abs=1e-9)]


def test_an_asyncio_run_past_its_virtual_budget_is_aborted() -> None:
    async def body(runtime: Runtime) -> None:
        while True:
            await runtime.sleep(1e5)

    reason = backend_for("asyncio").run(body, Budgets(max_virtual_time=1e6), seed=0)
    assert reason is not None
    assert "budget" in reason


def test_every_backend_name_is_accepted_and_others_are_refused() -> None:
    assert {"trio", "asyncio", "threads"} <= BACKEND_NAMES
    for name in BACKEND_NAMES:
        assert backend_for(name).name == name
    with pytest.raises(ConfigError, match="backend 'curio' is not supported"):
        load_implementation(f"{__name__}:curio")


def curio() -> dict[str, Any]:
    return {"name": "curio", "backend": "curio", "factories": {"bounded_queue": BoundedQueue}}
