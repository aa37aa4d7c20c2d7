from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from reference.idempotency import IdempotentSink, KeyStore, MemoryKeyStore, SqliteKeyStore
from tests.reference._virtual import run_virtual

STORES: list[Callable[[], KeyStore[str | int]]] = [MemoryKeyStore, SqliteKeyStore]


class Flaky(Exception):
    pass


@pytest.fixture(params=STORES, ids=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest) -> Callable[[], KeyStore[str | int]]:
    factory: Callable[[], KeyStore[str | int]] = request.param
    return factory


def test_duplicates_applied_once(make_store: Callable[[], KeyStore[str | int]]) -> None:
    applied: list[tuple[str | int, str]] = []

    async def effect(key: str | int, value: str) -> None:
        await trio.sleep(1)
        applied.append((key, value))

    async def main() -> list[bool]:
        sink: IdempotentSink[str | int, str] = IdempotentSink(effect, make_store())
        return [
            await sink.apply("a", "first"),
            await sink.apply("a", "second"),
            await sink.apply(1, "int"),
            await sink.apply("1", "str"),
            await sink.apply(1, "again"),
        ]

    assert run_virtual(main) == [True, False, True, True, False]
    assert applied == [("a", "first"), (1, "int"), ("1", "str")]


def test_concurrent_duplicates_second_waits_for_first(
    make_store: Callable[[], KeyStore[str | int]],
) -> None:
    applied: list[tuple[str | int, int, float]] = []
    returned: dict[int, tuple[bool, float]] = {}

    async def effect(key: str | int, value: int) -> None:
        await trio.sleep(2)
        applied.append((key, value, trio.current_time()))

    async def main() -> None:
        sink: IdempotentSink[str | int, int] = IdempotentSink(effect, make_store())

        async def deliver(i: int) -> None:
            returned[i] = (await sink.apply("k", i), trio.current_time())

        async with trio.open_nursery() as nursery:
            for i in range(5):
                nursery.start_soon(deliver, i)

    run_virtual(main)
    assert len(applied) == 1
    winner = applied[0][1]
    assert returned[winner] == (True, 2.0)
    # The duplicates waited for the effect to finish before answering "already applied".
    assert {i: r for i, r in returned.items() if i != winner} == {
        i: (False, 2.0) for i in range(5) if i != winner
    }


def test_failing_effect_leaves_key_unmarked_then_retry_applies(
    make_store: Callable[[], KeyStore[str | int]],
) -> None:
    attempts: list[int] = []
    applied: list[int] = []

    async def effect(key: str | int, value: int) -> None:
        await trio.sleep(1)
        attempts.append(value)
        if value < 2:
            raise Flaky(value)
        applied.append(value)

    async def main() -> None:
        store = make_store()
        sink: IdempotentSink[str | int, int] = IdempotentSink(effect, store)
        with pytest.raises(Flaky):
            await sink.apply("job", 1)
        assert "job" not in store
        assert await sink.apply("job", 2) is True
        assert "job" in store
        assert await sink.apply("job", 3) is False

    run_virtual(main)
    assert attempts == [1, 2]
    assert applied == [2]


def test_concurrent_duplicate_takes_over_after_failure(
    make_store: Callable[[], KeyStore[str | int]],
) -> None:
    attempts: list[tuple[int, float]] = []

    async def effect(key: str | int, value: int) -> None:
        await trio.sleep(1)
        attempts.append((value, trio.current_time()))
        if value == 0:
            raise Flaky

    async def main() -> None:
        sink: IdempotentSink[str | int, int] = IdempotentSink(effect, make_store())
        outcomes: dict[int, object] = {}

        async def deliver(value: int) -> None:
            try:
                outcomes[value] = await sink.apply("k", value)
            except Flaky:
                outcomes[value] = "failed"

        async with trio.open_nursery() as nursery:
            nursery.start_soon(deliver, 0)
            await trio.sleep(0.5)
            nursery.start_soon(deliver, 1)
            nursery.start_soon(deliver, 2)
        assert outcomes[0] == "failed"
        assert sorted([outcomes[1], outcomes[2]], key=str) == [False, True]

    run_virtual(main)
    # The first delivery failed at t=1; exactly one duplicate then applied it, at t=2.
    assert attempts[0] == (0, 1.0)
    assert len(attempts) == 2
    assert attempts[1][1] == 2.0


def test_cancelled_effect_leaves_key_unmarked(
    make_store: Callable[[], KeyStore[str | int]],
) -> None:
    applied: list[int] = []

    async def effect(key: str | int, value: int) -> None:
        await trio.sleep(5)
        applied.append(value)

    async def main() -> None:
        store = make_store()
        sink: IdempotentSink[str | int, int] = IdempotentSink(effect, store)
        with trio.move_on_after(1):
            await sink.apply(7, 1)
        assert 7 not in store
        assert await sink.apply(7, 2) is True

    run_virtual(main)
    assert applied == [2]


def test_sqlite_store_upsert_and_types() -> None:
    store = SqliteKeyStore()
    assert store.add("x") is True
    assert store.add("x") is False
    assert store.add(5) is True
    assert "5" not in store
    assert 5 in store
    assert len(store) == 2
    with pytest.raises(TypeError):
        store.add(1.5)  # type: ignore[arg-type]
    store.close()


def test_sqlite_store_persists_in_file(tmp_path: Path) -> None:
    path = str(tmp_path / "keys.db")
    first = SqliteKeyStore(path)
    first.add("done")
    first.close()
    again = SqliteKeyStore(path)
    assert "done" in again
    assert again.add("done") is False
    again.close()
