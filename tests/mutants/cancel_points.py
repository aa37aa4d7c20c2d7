"""Bugs that show only when a call is cancelled where, or as, the harness used not to cancel it.

Each one passes a harness whose groups' tasks clean up in no time, that never cancels a delivery,
a put or a get, and that cancels through anyio's scopes (which deliver a cancellation again and
again on asyncio until the call gives in): a group that leaves before its cancelled tasks
finished cleaning up, a sink that keeps a cancelled effect's key marked, one whose cleanup a
cancellation cuts short, a reorderer that keeps a cancelled put's item, one that loses the item
a cancelled get took, a retrier that retries a cancelled attempt.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Hashable
from types import TracebackType
from typing import Any

import trio

from reference.idempotency import IdempotentSink
from reference.ordering import Reorderer
from reference.queues import QueueClosed
from reference.retry import Backoff
from tests.mutants._base import mutant, reference_with


# -- group -------------------------------------------------------------------------------------
class GivesOneTurn:
    """An asyncio errgroup that, at the first error, cancels the rest and gives them one turn.

    One turn of the loop is all a task needs to see its cancellation and end, unless its
    cleanup awaits something: then the group has left before the task finished.
    """

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[Any]] = []

    async def __aenter__(self) -> GivesOneTurn:
        return self

    def start_soon(self, fn: Callable[[], Awaitable[Any]]) -> None:
        """Start ``fn`` as a task of its own at once."""

        async def run() -> Any:
            return await fn()

        self.tasks.append(asyncio.ensure_future(run()))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        try:
            done, pending = await asyncio.wait(self.tasks, return_when=asyncio.FIRST_EXCEPTION)
        except asyncio.CancelledError:
            # Cancelled from outside: asyncio.wait leaves the tasks alone; cancel and wait.
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            raise
        failed = [t for t in self.tasks if t in done and not t.cancelled() and t.exception()]
        if not failed:
            return False
        for task in pending:
            task.cancel()
        await asyncio.sleep(0)  # "let them see the cancellation"
        for task in self.tasks:
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: no "exception was never retrieved" noise
        error = failed[0].exception()
        assert error is not None
        raise error


@mutant("GROUP-FIRST-ERROR")
def group_leaves_during_cleanup() -> Any:
    """An errgroup that cancels the other tasks and leaves one loop turn later, not at their end."""
    return {
        "name": "mutant",
        "backend": "asyncio",
        "capabilities": [],
        "factories": {"first_error_group": GivesOneTurn},
    }


# -- idempotency -------------------------------------------------------------------------------
class MarksFirst(IdempotentSink[Any, Any]):
    """Marks the key before its effect and unmarks it when the effect raises an ``Exception``.

    A cancellation is no ``Exception``: a cancelled effect leaves the key marked for good.
    """

    def __init__(self, effect: Callable[[Any, Any], Awaitable[None]]) -> None:
        super().__init__(effect)
        self.marked: set[Hashable] = set()

    async def apply(self, key: Any, value: Any) -> bool:
        """Apply the effect for ``key`` unless it is marked; True if it ran now."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while (running := self._in_flight.get(key)) is not None:
            await running.wait()
        if key in self.marked:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return False
        self.marked.add(key)
        done = self._in_flight[key] = trio.Event()
        try:
            await self.effect(key, value)
        except Exception:
            self.marked.discard(key)
            raise
        finally:
            del self._in_flight[key]
            done.set()
        return True


@mutant("IDEMPOTENT-EFFECT")
def sink_keeps_cancelled_key_marked() -> Any:
    """A sink that marks a key before its effect: a cancelled effect's key is never applied."""
    return reference_with(idempotent_sink=lambda *, effect: MarksFirst(effect))


class AwaitsItsRelease:
    """An asyncio sink whose claim on a key is given back by an await in its ``finally``.

    The claim lives in a store reached by an await (a round trip to a lock server). A
    cancellation that reaches the effect lets the ``finally`` run to its end; one that lands on
    that await (a second one, arriving while the first is handled, or one timed to the instant)
    cuts it short: the claim is never given back, and every later delivery of the key waits for
    it for good.
    """

    def __init__(self, effect: Callable[[Any, Any], Awaitable[None]]) -> None:
        self.effect = effect
        self.applied: set[Hashable] = set()
        self.claims: dict[Hashable, asyncio.Event] = {}

    async def apply(self, key: Any, value: Any) -> bool:
        """Apply the effect for ``key`` unless already applied; True if it ran now."""
        while (claim := self.claims.get(key)) is not None:
            await claim.wait()
        if key in self.applied:
            return False
        claim = self.claims[key] = asyncio.Event()
        try:
            await self.effect(key, value)
            self.applied.add(key)
            return True
        finally:
            await self._give_back(key, claim)

    async def _give_back(self, key: Hashable, claim: asyncio.Event) -> None:
        await asyncio.sleep(0)  # the store's round trip
        del self.claims[key]
        claim.set()


@mutant("NO-HANG", pattern="idempotency")
def sink_release_cut_by_cancel() -> Any:
    """An asyncio sink that awaits to give a key back: a cancellation there leaves it claimed."""
    return {
        "name": "mutant",
        "backend": "asyncio",
        "capabilities": [],
        "factories": {"idempotent_sink": lambda *, effect: AwaitsItsRelease(effect)},
    }


# -- ordering ----------------------------------------------------------------------------------
class StoresBeforeWaiting(Reorderer[Any]):
    """Stores the item at once, then waits for the window: a cancelled put leaves it stored."""

    async def put(self, seq: int, item: Any) -> None:
        """Store ``item`` as ``seq``, then wait while it lies beyond the window."""
        if seq < self._next:
            raise ValueError(f"sequence number {seq} was already delivered")
        if self._closed:
            raise QueueClosed("put on a closed reorderer")
        await trio.lowlevel.checkpoint_if_cancelled()
        self._buffer[seq] = item
        if seq == self._next:
            self._ready.unpark_all()
        while seq >= self._next + self.window:
            await self._room.park()
        await trio.lowlevel.cancel_shielded_checkpoint()


class TakesThenYields(Reorderer[Any]):
    """``get`` takes the next item, then yields to the scheduler before returning it.

    A cancellation at that checkpoint comes out of ``get`` with the item already taken: lost.
    """

    async def get(self) -> tuple[int, Any]:
        """Take the next item in order, waiting until it has arrived."""
        while self._next not in self._buffer:
            if self._closed:
                raise trio.EndOfChannel
            await self._ready.park()
        seq = self._next
        item = self._buffer.pop(seq)
        self._next += 1
        self._room.unpark_all()
        await trio.lowlevel.checkpoint()
        return seq, item


@mutant("ORDER-RESTORED")
def reorderer_keeps_cancelled_put() -> Any:
    """A reorderer that stores an item before waiting for room: a cancelled put stays stored."""
    return reference_with(reorderer=lambda *, window: StoresBeforeWaiting(window))


@mutant("ORDER-RESTORED")
def reorderer_loses_cancelled_get() -> Any:
    """A reorderer whose get takes the item, then checkpoints: a cancelled get loses it."""
    return reference_with(reorderer=lambda *, window: TakesThenYields(window))


# -- retry -------------------------------------------------------------------------------------
class RetriesCancelledAttempt:
    """An asyncio retrier that counts a cancelled attempt as a failed one and tries again.

    ``except (Exception, asyncio.CancelledError)``: the habit of Python before 3.8, when
    ``CancelledError`` was an ``Exception``.
    """

    def __init__(
        self,
        *,
        max_attempts: int,
        base: float,
        factor: float,
        cap: float,
        jitter: Any,
        seed: int,
        retryable: Callable[[Exception], bool],
    ) -> None:
        self.max_attempts = max_attempts
        self.backoff = Backoff(base, factor, cap, jitter)
        self.rng = random.Random(seed)
        self.retryable = retryable

    def bounds(self, attempt: int) -> tuple[float, float]:
        """The schedule's bounds of the delay after failed attempt ``attempt``."""
        return self.backoff.bounds(attempt)

    async def call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        """Call ``fn`` until it succeeds, fails for good, or attempts run out."""
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        last: BaseException | None = None
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                await asyncio.sleep(self.backoff.delay(attempt - 1, self.rng))
            try:
                return await fn()
            except (Exception, asyncio.CancelledError) as exc:
                if isinstance(exc, Exception) and not self.retryable(exc):
                    raise
                last = exc
        assert last is not None
        raise last


@mutant("RETRY-CANCEL")
def retrier_retries_cancelled_attempt() -> Any:
    """An asyncio retrier that takes a cancelled attempt for a failed one and tries again."""
    return {
        "name": "mutant",
        "backend": "asyncio",
        "capabilities": [],
        "factories": {"retrier": RetriesCancelledAttempt},
    }
