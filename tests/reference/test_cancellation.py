from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio
import trio.testing

from reference.cancellation import drain, run_with_deadline, statuses
from reference.pool import Result
from tests.reference._virtual import run_virtual


def test_guide_section4_example() -> None:
    printed: list[tuple[float, str]] = []

    def task(name: str, seconds: float) -> Callable[[], Awaitable[object]]:
        async def run() -> object:
            await trio.sleep(seconds)
            printed.append((trio.current_time(), name))
            return name

        return run

    async def main() -> None:
        out = await run_with_deadline(
            [("A", task("A", 0.1)), ("B", task("B", 0.3))], workers=2, timeout=0.2
        )
        assert out == {"A": "ok", "B": "cancelled"}
        assert trio.current_time() == 0.2  # returned at the deadline, B did not linger
        assert printed == [(0.1, "A")]

    run_virtual(main)


def test_run_with_deadline_queued_tasks_and_errors() -> None:
    async def sleep_then(seconds: float, fail: bool = False) -> object:
        await trio.sleep(seconds)
        if fail:
            raise ValueError("task failed")
        return None

    async def main() -> None:
        tasks = [
            ("ok", lambda: sleep_then(1)),
            ("err", lambda: sleep_then(0.5, fail=True)),
            ("late", lambda: sleep_then(1)),  # starts at 0.5, would end at 1.5
            ("never", lambda: sleep_then(0.1)),  # queued until 1.0: starts, ends 1.1
            ("cut", lambda: sleep_then(5)),
        ]
        out = await run_with_deadline(tasks, workers=2, timeout=1.2)
        assert out == {
            "ok": "ok",
            "err": "error",
            "late": "cancelled",
            "never": "ok",
            "cut": "cancelled",
        }
        assert list(out) == ["ok", "err", "late", "never", "cut"]
        assert trio.current_time() == 1.2

    run_virtual(main)


def test_run_with_deadline_all_finish_early() -> None:
    async def quick() -> object:
        await trio.sleep(0.01)
        return 1

    async def main() -> None:
        out = await run_with_deadline([(i, quick) for i in range(4)], workers=2, timeout=10)
        assert out == dict.fromkeys(range(4), "ok")
        assert trio.current_time() == 0.02

    run_virtual(main)


def test_run_with_deadline_empty() -> None:
    async def main() -> None:
        assert await run_with_deadline([], workers=1, timeout=1) == {}

    run_virtual(main)


def test_drain_and_statuses_helpers() -> None:
    async def main() -> None:
        send, recv = trio.open_memory_channel[Result[object]](5)
        send.send_nowait(Result(1, "ok", 1))
        send.send_nowait(Result(2, "error", error=ValueError()))
        send.close()
        got = await drain(recv)
        assert [r.id for r in got] == [1, 2]
        undelivered: list[Result[object]] = [Result(3, "timeout")]
        assert statuses([1, 2, 3, 4], got, undelivered) == {
            1: "ok",
            2: "error",
            3: "timeout",
            4: "cancelled",
        }

    run_virtual(main)
