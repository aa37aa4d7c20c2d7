"""A caller's cancellation, delivered natively, and CANCEL-PROPAGATES judging how a call ends.

``CallerScope`` cancels a call as real code does: ``Task.cancel()`` on asyncio (once, so a call
that swallows it stays swallowed), a cancel scope on trio; before the call's first step, while
it waits, twice at once, or again once the first arrived. The checker's half is shown on
hand-made traces, the harness's half on small calls run on each backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
import trio

from harness.backends import Runtime, backend_for
from harness.checkers.general import GuardChecker
from harness.checking import TraceChecker
from harness.contract import Implementation
from harness.drivers.base import Block
from harness.drivers.host import CallerScope, Host
from harness.events import Event
from harness.guards import Budgets

BACKENDS = ["trio", "asyncio"]


def ev(kind: str, ident: Any = None, t: float = 0.0, **data: Any) -> Event:
    return Event(t, kind, ident, data)


def broken(events: list[Event]) -> list[str]:
    checker = TraceChecker([GuardChecker({"pattern": "queue"})])
    checker.feed_all(events)
    return [v.message for v in checker.violations() if v.rule_id == "CANCEL-PROPAGATES"]


# -- the checker, on hand-made traces ----------------------------------------------------------
def test_a_call_that_returns_after_its_cancellation_reached_it_fails() -> None:
    events = [
        ev("params", pattern="queue"),
        ev("caller_cancel", "get() by 0", how="once"),
        ev("caller_cancel_end", "get() by 0", ended="returned", delivered=True),
        ev("idle"),
        ev("end"),
    ]
    [message] = broken(events)
    assert "get() by 0" in message
    assert "swallowed" in message


def test_a_cancelled_call_still_waiting_at_a_settled_instant_fails_once() -> None:
    events = [
        ev("params", pattern="queue"),
        ev("caller_cancel", "put(3)", how="twice"),
        ev("idle"),
        ev("idle", t=1.0),
        ev("caller_cancel_end", "put(3)", t=2.0, ended="returned", delivered=True),
        ev("end", t=2.0),
    ]
    [message] = broken(events)
    assert "still waits" in message
    assert "t=0" in message


@pytest.mark.parametrize(
    ("ended", "delivered"),
    [
        ("cancelled", True),  # it raised the cancellation
        ("returned", False),  # it ended before its first await: nothing reached it
        ("returned", None),  # trio: it may have reached no checkpoint
        ("raised", True),  # another exception (a refusal, a group's errors) wins
        ("failed", True),  # a hang or crash, judged by NO-HANG or NO-CRASH
    ],
)
def test_every_other_ending_passes(ended: str, delivered: bool | None) -> None:
    events = [
        ev("params", pattern="queue"),
        ev("caller_cancel", "acquire() #1", how="entry"),
        ev("caller_cancel_end", "acquire() #1", ended=ended, delivered=delivered),
        ev("idle"),
        ev("end"),
    ]
    checker = TraceChecker([GuardChecker({"pattern": "queue"})])
    checker.feed_all(events)
    assert checker.violations() == []
    assert "CANCEL-PROPAGATES" in checker.exercised()


def test_a_run_without_cancellations_does_not_exercise_the_rule() -> None:
    checker = TraceChecker([GuardChecker({"pattern": "queue"})])
    checker.feed_all([ev("params", pattern="queue"), ev("idle"), ev("end")])
    assert "CANCEL-PROPAGATES" not in checker.exercised()


# -- the harness, on small calls run on each backend -------------------------------------------
def implementation(backend: str) -> Implementation:
    return Implementation(
        spec="test", name="test", backend=backend, capabilities=frozenset(), factories={}
    )


Scenario = Callable[[Host, Runtime], Awaitable[None]]


def run(backend: str, scenario: Scenario) -> list[Event]:
    """Run ``scenario`` with a host on ``backend``; the events it recorded."""
    events: list[Event] = []

    async def body(runtime: Runtime) -> None:
        host = Host(implementation(backend), runtime, Budgets(), events.append)
        async with anyio.create_task_group() as group:
            host.task_group = group
            await scenario(host, runtime)

    assert backend_for(backend).run(body, Budgets(), seed=0) is None
    return events


def ending(events: list[Event]) -> dict[str, Any]:
    [end] = [e for e in events if e.kind == "caller_cancel_end"]
    assert not [e for e in events if e.kind == "crash"], events
    return dict(end.data)


def requests() -> int:
    """The current task's cancellation requests (0 on trio, which counts none)."""
    if anyio.get_cancelled_exc_class() is trio.Cancelled:
        return 0
    task = asyncio.current_task()
    assert task is not None
    return task.cancelling()


def calling(fn: Callable[[], Awaitable[Any]], how: str, seen: dict[str, Any]) -> Scenario:
    """A scenario: a harness task calls ``fn`` under a caller who cancels it ``how``.

    Afterwards the calling task notes its cancellation requests and whether its next await
    is cancelled: the harness must get its task back as it was.
    """

    async def scenario(host: Host, runtime: Runtime) -> None:
        caller = CallerScope(host, "cancel", 1)
        if how == "entry":
            caller.cancel("entry")

        async def task() -> None:
            before = requests()
            seen["result"] = await caller.call("wait()", fn, deadline=False)
            seen["requests"] = requests() - before
            try:
                await runtime.sleep(0.1)
            except anyio.get_cancelled_exc_class():
                seen["struck"] = True
                raise
            seen["struck"] = False

        host.spawn(task, name="caller")
        await runtime.wait_all_tasks_blocked()
        if how != "entry":
            caller.cancel(how)
        await runtime.sleep(1.0)

    return scenario


async def waits() -> str:
    await anyio.sleep(10)
    return "woken"


async def swallows() -> str:
    try:
        await anyio.sleep(10)
    except anyio.get_cancelled_exc_class():
        return "swallowed"
    return "woken"


async def at_once() -> str:
    return "done"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("how", ["entry", "once", "twice", "again"])
def test_a_call_that_raises_the_cancellation_ends_cancelled(backend: str, how: str) -> None:
    seen: dict[str, Any] = {}
    events = run(backend, calling(waits, how, seen))
    end = ending(events)
    assert end["ended"] == "cancelled"
    assert end["delivered"] is (None if backend == "trio" else True)
    assert seen == {"result": None, "requests": 0, "struck": False}
    sent = [e for e in events if e.kind == "caller_cancel"]
    assert [e.get("how") for e in sent] == [how]
    assert [e.kind for e in events if e.kind == "cancel"] == ["cancel"]


@pytest.mark.parametrize("how", ["entry", "once", "twice", "again"])
def test_on_asyncio_a_call_that_swallows_it_is_seen_to_return(how: str) -> None:
    # Under anyio's scopes the harness used to deliver it again at the next await, and the
    # call looked as if it had let the cancellation through.
    seen: dict[str, Any] = {}
    end = ending(run("asyncio", calling(swallows, how, seen)))
    assert end == {"ended": "returned", "delivered": True}
    assert seen == {"result": "swallowed", "requests": 0, "struck": False}


def test_on_trio_a_call_that_swallows_it_is_not_judged_returned() -> None:
    # A trio call that reaches no checkpoint returns normally after its scope was cancelled,
    # as trio means it to; the harness cannot tell that from a swallow.
    seen: dict[str, Any] = {}
    end = ending(run("trio", calling(swallows, "once", seen)))
    assert end == {"ended": "returned", "delivered": None}
    assert seen["result"] == "swallowed"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_call_that_ends_before_its_first_await_is_not_reached(backend: str) -> None:
    # Cancelled at its entry, it never yields: asyncio delivers nothing, and the request,
    # still pending, is taken back so that it does not strike the harness's next await.
    seen: dict[str, Any] = {}
    end = ending(run(backend, calling(at_once, "entry", seen)))
    assert end == {"ended": "returned", "delivered": None if backend == "trio" else False}
    assert seen == {"result": "done", "requests": 0, "struck": False}


def test_on_asyncio_twice_is_two_requests_at_once() -> None:
    counts: list[int] = []

    async def counting() -> None:
        try:
            await anyio.sleep(10)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            assert task is not None
            counts.append(task.cancelling())
            raise

    for how in ("once", "twice"):
        run("asyncio", calling(counting, how, {}))
    assert counts == [1, 2]


def test_on_asyncio_again_reaches_a_cleanup_that_awaits() -> None:
    interrupted: list[bool] = []

    async def cleaning_up() -> None:
        try:
            await anyio.sleep(10)
        except asyncio.CancelledError:
            try:
                await asyncio.sleep(0)  # the cleanup's own await
            except asyncio.CancelledError:
                interrupted.append(True)
                raise
            interrupted.append(False)
            raise

    for how in ("once", "twice", "again"):
        run("asyncio", calling(cleaning_up, how, {}))
    assert interrupted == [False, False, True]


def test_a_cancellation_nobody_asked_for_is_still_a_crash() -> None:
    async def makes_one_up() -> None:
        raise asyncio.CancelledError

    async def scenario(host: Host, runtime: Runtime) -> None:
        caller = CallerScope(host, None, 1)
        host.spawn(lambda: caller.call("make_up()", makes_one_up), name="caller")
        await runtime.wait_all_tasks_blocked()

    events = run("asyncio", scenario)
    [crash] = [e for e in events if e.kind == "crash"]
    assert "nobody asked for" in crash.get("error")
    assert not [e for e in events if e.kind.startswith("caller_cancel")]


class Swallowing:
    """An object whose ``async with`` block swallows the exception that ends its body."""

    def __init__(self, swallow: bool) -> None:
        self.swallow = swallow

    async def __aenter__(self) -> Swallowing:
        return self

    async def __aexit__(self, *exc: object) -> bool:
        return self.swallow


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("swallow", [False, True])
def test_a_block_whose_exit_swallows_its_bodys_cancellation_is_seen_on_each_backend(
    backend: str, swallow: bool
) -> None:
    # On trio too: the harness's own wait in the body saw the cancellation arrive, so a block
    # that ends normally all the same swallowed it in its __aexit__.
    async def scenario(host: Host, runtime: Runtime) -> None:
        block = Block(host, Swallowing(swallow), "thing", cancel_kind="cancel")

        async def read() -> None:
            await runtime.sleep(10)

        await block.open(read)
        block.caller.cancel("once")
        block.leave()
        await block.wait(block.done, "exit")

    end = ending(run(backend, scenario))
    assert end == (
        {"ended": "returned", "delivered": True}
        if swallow
        else {"ended": "cancelled", "delivered": True}
    )
