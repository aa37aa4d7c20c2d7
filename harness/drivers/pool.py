"""The worker-pool driver: submits, close and cancel against one ``worker_pool``.

The harness supplies the handler, so it sees exactly what runs: a job's payload is
``(id, duration, raises)``; the handler records ``job_start``, sleeps ``duration`` model
seconds, then raises :class:`JobFailed` or returns, recording ``job_end`` with the outcome
(``cancelled`` if it was cancelled instead). A host task holds the pool's ``async with`` block
open until :meth:`PoolDriver.leave`; a reader task reads ``results`` all the time, so a
finished job's worker is free at the next settled instant. After the block, the host records
``pool.undelivered`` and the exit. A waiting submit and the host task itself (in the body or
while the block exits) can be cancelled by their caller, natively for the backend
(:class:`~harness.drivers.host.CallerScope`); the host task's cancellation is recorded as a
``cancel`` with id ``pool``: the pool must stop as :meth:`PoolDriver.cancel` stops it.

Events (see :mod:`harness.checkers.pool` for the fields): ``entered``, ``submit``,
``accepted``, ``submit_closed``, ``submit_full``, ``submit_cancelled``, ``job_start``,
``job_end``, ``result``, ``results_end``, ``close``, ``cancel``, ``leave``, ``undelivered``,
``exit``, ``metrics``, plus the shared ``idle``/``end``/``hang``/``crash``/``leak`` and
``caller_cancel``/``caller_cancel_end``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, ClassVar

import anyio

from harness.checkers.pool import PoolChecker, PoolMetricsChecker
from harness.checking import Checker
from harness.contract import STREAM_CLOSED_ERRORS
from harness.drivers.base import Block, Driver, receiver
from harness.drivers.host import CallerScope, Host
from harness.events import as_scalar
from harness.rules import Pattern

__all__ = ["JobFailed", "PoolDriver", "payload_of"]


def payload_of(result: object) -> dict[str, Any]:
    """A result's ``value`` and ``error`` as event data, for those attributes it has."""
    payload: dict[str, Any] = {}
    if hasattr(result, "value"):
        payload["value"] = as_scalar(result.value)
    if hasattr(result, "error"):
        payload["error"] = None if result.error is None else repr(result.error)
    return payload


class JobFailed(Exception):
    """What the harness handler raises for a job drawn to fail."""


class PoolDriver(Driver):
    """One ``worker_pool``: its host and reader tasks, the handler, and each operation."""

    pattern: ClassVar[Pattern] = Pattern.POOL
    factories: ClassVar[tuple[str, ...]] = ("worker_pool",)

    def __init__(self, host: Host, params: Mapping[str, Any]) -> None:
        super().__init__(host, params)
        self.pool: Any = None
        #: Duration of every job not yet finished: a drain may take their sum.
        self.durations: dict[Any, float] = {}
        #: Blocking submits still waiting, by job id, so one can be cancelled.
        self.waiting: dict[int, CallerScope] = {}
        self.closed = False
        self.cancelled = False
        self.block: Block | None = None

    @classmethod
    def make_checkers(cls, params: Mapping[str, Any]) -> list[Checker]:
        """The lifecycle rules and the counters."""
        return [PoolChecker(params), PoolMetricsChecker(params)]

    # -- the harness side of the pool --------------------------------------------------------
    async def handler(self, payload: tuple[int, float, bool]) -> int:
        """Run one job: record its start, sleep its duration, then return or raise."""
        job_id, duration, raises = payload
        record = self.record
        record("job_start", job_id, duration=duration, raises=raises)
        try:
            await self.host.sleep(duration)
        except BaseException:
            record("job_end", job_id, outcome="cancelled")
            raise
        if raises:
            record("job_end", job_id, outcome="error")
            raise JobFailed(job_id)
        record("job_end", job_id, outcome="ok", returned=job_id)
        return job_id

    def _undelivered(self) -> None:
        record = self.record
        try:
            undelivered = list(self.pool.undelivered)
        except Exception as exc:
            record("crash", "pool.undelivered", error=repr(exc)[:200])
            return
        for entry in undelivered:
            ident = as_scalar(getattr(entry, "id", entry))
            record("undelivered", ident, status=as_scalar(getattr(entry, "status", None)))
            self.durations.pop(ident, None)
        record("exit")

    async def _read(self) -> None:
        record = self.record
        try:
            receive = receiver(self.pool.results)
        except Exception as exc:
            record("crash", "pool.results", error=repr(exc)[:200])
            return
        end_errors = self.implementation.end_errors
        while True:
            try:
                result = await receive()
            except end_errors as exc:
                record("results_end", how=type(exc).__name__)
                return
            except STREAM_CLOSED_ERRORS as exc:
                # Someone closed the receive side under the reader: the results ended early.
                record("results_end", how=type(exc).__name__)
                return
            except Exception as exc:
                record("crash", "results.receive()", error=repr(exc)[:200])
                return
            ident = as_scalar(getattr(result, "id", result))
            record(
                "result",
                ident,
                status=as_scalar(getattr(result, "status", None)),
                **payload_of(result),
            )
            self.durations.pop(ident, None)

    # -- lifecycle ---------------------------------------------------------------------------
    async def setup(self) -> None:
        """Build the pool, enter its block in the host task, start the reader."""
        params = self.params
        make = self.host.factory("worker_pool")

        async def build() -> Any:
            made = make(
                handler=self.handler,
                workers=params["workers"],
                jobs_buffer=params["jobs_buffer"],
                results_buffer=params["results_buffer"],
                job_timeout=params.get("job_timeout"),
            )
            # The threads backend builds in a thread of its own (a blocking constructor is a
            # NO-HANG there, not a frozen harness): its factory is a coroutine function.
            return await made if inspect.iscoroutine(made) else made

        self.pool = await self.host.call("worker_pool()", build)
        self.block = Block(self.host, self.pool, "pool", cancel_kind="cancel")
        await self.block.open(
            self._read,
            on_enter=lambda: self.record("entered"),
            on_leave=lambda: self.record("leave", mode="cancel" if self.cancelled else "drain"),
            after=self._undelivered,
        )

    def leave(self) -> None:
        """Let the host task leave the block: a drain unless :meth:`cancel` was called."""
        assert self.block is not None
        self.block.leave()

    def cancel_block(self, how: str = "once") -> bool:
        """Cancel the task that holds the pool's block (``how``: ``CANCEL_WAITING``), if in it.

        In the body, or while the block exits (a drain): either way the pool must stop as
        :meth:`cancel` stops it, and nothing it started may outlive the block. Recorded as a
        ``cancel`` (id ``pool``), which the pool's rules read as :meth:`cancel`. Returns
        whether the task was still in the block.
        """
        assert self.block is not None
        if not self.block.caller.running:
            return False
        self.cancelled = True
        self.block.caller.cancel(how)
        return True

    async def wait_exit(self) -> None:
        """Wait for the block to exit and the results to end, under deadlines."""
        assert self.block is not None
        # A drain may legitimately take as long as every unfinished job run back to back.
        allowance = 0.0 if self.cancelled else sum(self.durations.values())
        await self.block.wait(self.block.done, "block exit", allowance)
        await self.block.wait(self.block.reader_done, "results end")

    async def observe(self, counters: bool = True) -> None:
        """Record the pool's counters (capability ``metrics``)."""
        counted = self.read_counters(self.pool) if counters else None
        if counted is not None:
            self.record("metrics", None, **{k: int(v) for k, v in counted.items()})

    # -- operations --------------------------------------------------------------------------
    async def submit(
        self, job_id: int, duration: float, raises: bool, *, cancel_first: bool = False
    ) -> str:
        """A blocking submit: accepted, refused as closed, or cancelled while it waits.

        With ``cancel_first`` its caller has cancelled it before it starts. Returns the kind
        of the event that ended it (``accepted``, ``submit_closed``, ``submit_cancelled``).
        """
        record = self.record
        record("submit", job_id, duration=duration, raises=raises, blocking=True)
        self.durations[job_id] = duration
        closed_errors = self.implementation.closed_errors
        caller = self.waiting[job_id] = CallerScope(self.host, None, job_id)
        if cancel_first:
            caller.cancel("entry")

        async def submit() -> bool:
            try:
                await self.pool.submit(job_id, (job_id, duration, raises))
            except closed_errors:
                return False
            return True

        try:
            accepted = await caller.call(f"submit({job_id})", submit, returned=bool)
        except anyio.get_cancelled_exc_class():
            self._refused("submit_cancelled", job_id)
            raise
        finally:
            self.waiting.pop(job_id, None)
        if caller.stopped:
            return self._refused("submit_cancelled", job_id)
        if not accepted:
            return self._refused("submit_closed", job_id)
        record("accepted", job_id)
        return "accepted"

    async def submit_nowait(self, job_id: int, duration: float, raises: bool) -> None:
        """Submit without waiting: accepted, refused as full, or refused as closed.

        Through :meth:`Host.call`, so that a ``submit_nowait`` that blocks anyway is a NO-HANG
        (the threads backend runs it in a thread of its own and returns an awaitable); a plain
        call that returns at once never yields to the scheduler.
        """
        record = self.record
        record("submit", job_id, duration=duration, raises=raises, blocking=False)
        self.durations[job_id] = duration
        implementation = self.implementation

        async def submit() -> str:
            try:
                done = self.pool.submit_nowait(job_id, (job_id, duration, raises))
                if inspect.isawaitable(done):
                    await done
            except implementation.would_block_errors:
                return "submit_full"
            except implementation.closed_errors:
                return "submit_closed"
            return "accepted"

        outcome = await self.host.call(f"submit_nowait({job_id})", submit)
        if outcome != "accepted":
            self._refused(outcome, job_id)
            return
        record("accepted", job_id)

    def _refused(self, kind: str, job_id: int) -> str:
        self.durations.pop(job_id, None)
        self.record(kind, job_id)
        return kind

    def cancel_submit(self, job_id: int, how: str = "once") -> None:
        """Cancel the blocking submit of ``job_id`` while it waits (``how``: ``CANCEL_HOWS``)."""
        self.waiting[job_id].cancel(how)

    async def close(self) -> None:
        """No more jobs: the pool drains, then ends its results.

        Recorded before the call: an ``async close()`` may let jobs end (or results end)
        while it is awaited, and they happen after the close, not before it.
        """
        self.closed = True
        self.record("close")
        await self.host.call("close()", self.pool.close)

    async def cancel(self) -> None:
        """Stop now: running jobs are cancelled and no job starts afterwards.

        Recorded before the call, as :meth:`close` is: what an ``async cancel()`` stops while it
        is awaited was stopped by the cancel.
        """
        self.cancelled = True
        self.record("cancel")
        await self.host.call("cancel()", self.pool.cancel)
