from __future__ import annotations

import pytest
import trio

from reference.errgroup import FirstErrorGroup, first_error
from tests.reference._virtual import run_virtual


class First(Exception):
    pass


class Second(Exception):
    pass


def test_first_error_wins_and_siblings_cancelled_promptly() -> None:
    events: list[tuple[str, float]] = []
    raised = First("boom")

    async def fail_at(t: float, exc: Exception) -> None:
        await trio.sleep(t)
        events.append(("raise", trio.current_time()))
        raise exc

    async def long_sleeper(name: str) -> None:
        try:
            await trio.sleep(100)
            events.append((name + " finished", trio.current_time()))
        except trio.Cancelled:
            events.append((name + " cancelled", trio.current_time()))
            raise

    async def raise_on_cancel() -> None:
        try:
            await trio.sleep(100)
        except trio.Cancelled:
            raise Second("consequence of cancellation") from None

    async def main() -> None:
        async def group() -> None:
            async with FirstErrorGroup() as g:
                g.start_soon(fail_at, 3.0, raised)
                g.start_soon(fail_at, 5.0, Second("later"))
                g.start_soon(long_sleeper, "a")
                g.start_soon(raise_on_cancel)
                await trio.sleep(50)
                events.append(("body finished", trio.current_time()))

        with pytest.raises(First) as info:
            await group()
        assert info.value is raised  # the object itself, no ExceptionGroup around it
        assert trio.current_time() == 3.0

    run_virtual(main)
    assert events == [("raise", 3.0), ("a cancelled", 3.0)]


def test_body_error_cancels_tasks_and_is_reraised() -> None:
    cancelled_at: list[float] = []
    raised = First()

    async def sleeper() -> None:
        try:
            await trio.sleep(100)
        except trio.Cancelled:
            cancelled_at.append(trio.current_time())
            raise

    async def main() -> None:
        async def group() -> None:
            async with FirstErrorGroup() as g:
                g.start_soon(sleeper)
                await trio.sleep(2)
                raise raised

        with pytest.raises(First) as info:
            await group()
        assert info.value is raised

    run_virtual(main)
    assert cancelled_at == [2.0]


def test_no_error_waits_for_all_tasks() -> None:
    finished: list[float] = []

    async def work(t: float) -> None:
        await trio.sleep(t)
        finished.append(trio.current_time())

    async def main() -> None:
        async with FirstErrorGroup() as g:
            g.start_soon(work, 1.0)
            g.start_soon(work, 4.0)
        assert trio.current_time() == 4.0

    run_virtual(main)
    assert finished == [1.0, 4.0]


def test_outer_cancel_propagates_plain_cancelled() -> None:
    seen: list[BaseException] = []
    after_block: list[bool] = []

    async def sleeper() -> None:
        await trio.sleep(100)

    async def main() -> None:
        with trio.move_on_after(2) as scope:
            try:
                async with FirstErrorGroup() as g:
                    g.start_soon(sleeper)
                    await trio.sleep(50)
                after_block.append(True)
            except BaseException as exc:
                seen.append(exc)
                raise
        assert scope.cancelled_caught
        assert trio.current_time() == 2.0

    run_virtual(main)
    assert after_block == []
    assert len(seen) == 1
    assert isinstance(seen[0], trio.Cancelled)


def test_first_error_helper() -> None:
    raised = Second()
    done: list[str] = []

    async def ok() -> None:
        await trio.sleep(1)
        done.append("ok")

    async def bad() -> None:
        await trio.sleep(2)
        raise raised

    async def slow() -> None:
        await trio.sleep(10)
        done.append("slow")

    async def main() -> None:
        with pytest.raises(Second) as info:
            await first_error(ok, bad, slow)
        assert info.value is raised
        assert trio.current_time() == 2.0
        await first_error(ok, ok)

    run_virtual(main)
    assert done == ["ok", "ok", "ok"]
