"""The worker-pool model: submits, close, cancel and time against one ``worker_pool``.

The harness supplies the handler, so it sees exactly what runs: a job's payload is
``(id, duration, raises)``; the handler records ``job_start``, sleeps ``duration`` seconds of
virtual time, then raises :class:`JobFailed` or returns, recording ``job_end`` with the
outcome (``cancelled`` if it was cancelled instead). A host task holds the pool's
``async with`` block open until teardown; a reader task reads ``results`` all the time, so a
finished job's worker is free at the next settled instant. Teardown drains (close, then leave
the block) or cancels, then records ``pool.undelivered`` and the exit.

Events (see :mod:`harness.checkers.pool` for the fields): ``entered``, ``submit``,
``accepted``, ``submit_closed``, ``submit_full``, ``submit_cancelled``, ``job_start``,
``job_end``, ``result``, ``results_end``, ``close``, ``cancel``, ``leave``, ``undelivered``,
``exit``, ``metrics``, plus the shared ``idle``/``end``/``hang``/``crash``/``leak``.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import anyio
from hypothesis import strategies as st

from harness.checkers.pool import PoolChecker, PoolMetricsChecker
from harness.checking import Checker
from harness.contract import STREAM_CLOSED_ERRORS, Implementation
from harness.events import as_scalar
from harness.model import Model, Session, StepFailed, receiver
from harness.rules import Pattern

#: Job durations: none equals a timeout below, so "timed out" is never a tie.
DURATIONS = (0.0, 0.5, 1.0, 2.0)
#: Per-job timeouts drawn when the implementation declares ``job_timeout``.
TIMEOUTS = (None, 0.75, 1.5)


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


class PoolModel(Model):
    """Drives ``worker_pool`` with blocking and non-blocking submits, close and cancel."""

    pattern: ClassVar[Pattern] = Pattern.POOL
    factories: ClassVar[tuple[str, ...]] = ("worker_pool",)
    max_steps: ClassVar[int] = 20
    weights: ClassVar[dict[str, int]] = {
        "submit": 4,
        "submit_nowait": 3,
        "advance": 3,
        "close": 1,
        "cancel": 1,
    }

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.pool: Any = None
        self.ids = itertools.count(1)
        self.durations: dict[int, float] = {}
        self.closed = False
        self.cancelled = False
        self.mode = "drain"
        self.started = anyio.Event()  # the block was entered, or entering failed
        self.entered = False
        self.leave_now = anyio.Event()
        self.host_done = anyio.Event()

    @classmethod
    def draw_params(cls, data: st.DataObject, implementation: Implementation) -> dict[str, Any]:
        """Draw a few workers and small buffers (so backpressure is reached) and a timeout."""
        timeout = None
        if implementation.has("job_timeout"):
            timeout = data.draw(st.sampled_from(TIMEOUTS), label="job_timeout")
        return {
            "pattern": "pool",
            "factory": "worker_pool",
            "workers": data.draw(st.integers(1, 3), label="workers"),
            "jobs_buffer": data.draw(st.integers(1, 3), label="jobs_buffer"),
            "results_buffer": data.draw(st.integers(0, 2), label="results_buffer"),
            "job_timeout": timeout,
        }

    @classmethod
    def make_checkers(cls, params: dict[str, Any]) -> list[Checker]:
        """The lifecycle rules and the counters."""
        return [PoolChecker(params), PoolMetricsChecker(params)]

    # -- the harness side of the pool --------------------------------------------------------
    async def handler(self, payload: tuple[int, float, bool]) -> int:
        """Run one job: record its start, sleep its duration, then return or raise."""
        job_id, duration, raises = payload
        record = self.session.record
        record("job_start", job_id, duration=duration, raises=raises)
        try:
            await self.session.sleep(duration)
        except BaseException:
            record("job_end", job_id, outcome="cancelled")
            raise
        if raises:
            record("job_end", job_id, outcome="error")
            raise JobFailed(job_id)
        record("job_end", job_id, outcome="ok", returned=job_id)
        return job_id

    async def host(self) -> None:
        """Hold the pool's block open until teardown; then report ``undelivered``."""
        try:
            await self._host()
        finally:
            self.started.set()
            self.host_done.set()

    async def _host(self) -> None:
        record = self.session.record
        try:
            async with self.pool:
                self.entered = True
                record("entered")
                self.started.set()
                await self.leave_now.wait()
                record("leave", mode=self.mode)
        except Exception as exc:
            record("crash", "async with pool", error=repr(exc))
            return
        try:
            undelivered = list(self.pool.undelivered)
        except Exception as exc:
            record("crash", "pool.undelivered", error=repr(exc))
            return
        for entry in undelivered:
            record(
                "undelivered",
                as_scalar(getattr(entry, "id", entry)),
                status=as_scalar(getattr(entry, "status", None)),
            )
        record("exit")

    async def reader(self) -> None:
        """Read ``results`` until it ends, recording each outcome."""
        record = self.session.record
        try:
            receive = receiver(self.pool.results)
        except Exception as exc:
            record("crash", "pool.results", error=repr(exc))
            return
        while True:
            try:
                result = await receive()
            except self.implementation.end_errors as exc:
                record("results_end", how=type(exc).__name__)
                return
            except STREAM_CLOSED_ERRORS as exc:
                # Someone closed the receive side under the reader: the results ended early.
                record("results_end", how=type(exc).__name__)
                return
            except Exception as exc:
                record("crash", "results.receive()", error=repr(exc))
                return
            record(
                "result",
                as_scalar(getattr(result, "id", result)),
                status=as_scalar(getattr(result, "status", None)),
                **payload_of(result),
            )

    # -- lifecycle ---------------------------------------------------------------------------
    async def setup(self, params: dict[str, Any]) -> None:
        """Build the pool, enter its block in the host task, start the reader."""
        factory = self.session.factory("worker_pool")
        self.pool = self.session.call_sync(
            "worker_pool()",
            factory,
            handler=self.handler,
            workers=params["workers"],
            jobs_buffer=params["jobs_buffer"],
            results_buffer=params["results_buffer"],
            job_timeout=params["job_timeout"],
        )
        self.session.spawn(self.host, "pool-host")
        deadline = self.session.budgets.call_deadline
        with self.session.move_on_after(deadline):
            await self.started.wait()
        if not self.started.is_set():
            self.session.record("hang", "pool.__aenter__", deadline=deadline)
            raise StepFailed("enter")
        if not self.entered:
            raise StepFailed("enter")  # the crash is recorded
        self.session.spawn(self.reader, "pool-reader")

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """Submit (blocking or not), close, cancel, let time pass.

        Where running code cannot be interrupted (threads), ``cancel`` is not drawn: the
        cancellation rules are waived there, and the instant a thread starts a job reaches the
        harness only after it happened, so "no job starts after cancel" cannot be judged.
        """
        ops: dict[str, Callable[[], Awaitable[None]]] = {
            "submit": self.submit,
            "submit_nowait": self.submit_nowait,
            "close": self.close,
            "advance": self.advance,
        }
        if self.session.runtime.interruptible:
            ops["cancel"] = self.cancel
        return ops

    async def observe(self) -> None:
        """Record the pool's counters at every settled instant (capability ``metrics``)."""
        if self.pool is None or not self.implementation.has("metrics"):
            return
        counters = self.session.call_sync(
            "counters()", self.implementation.read_counters, self.pool
        )
        if counters is not None:
            self.session.record("metrics", None, **{k: int(v) for k, v in counters.items()})

    async def teardown(self) -> None:
        """Drain (close and leave) or cancel; wait for the block to exit, under a deadline."""
        if self.host_done.is_set():
            return
        if not self.cancelled and self.session.runtime.interruptible:
            self.mode = self.session.draw(st.sampled_from(["drain", "cancel"]), label="teardown")
        if self.mode == "cancel" or self.cancelled:
            self.mode = "cancel"
            if not self.cancelled:
                await self.cancel()
        elif not self.closed:
            await self.close()
        self.session.step(f"leave the block ({self.mode})")
        self.leave_now.set()
        if self.mode == "cancel":
            # The block must be gone by the next settled instant (POOL-CANCEL-PROMPT).
            await self.session.settle()
        # A drain may legitimately take as long as every job run back to back.
        deadline = self.session.budgets.call_deadline + sum(self.durations.values())
        with self.session.move_on_after(deadline):
            await self.host_done.wait()
        if not self.host_done.is_set():
            self.session.record("hang", "pool block exit", deadline=deadline)
            raise StepFailed("exit")

    # -- operations --------------------------------------------------------------------------
    def _draw_job(self) -> tuple[int, float, bool]:
        job_id = next(self.ids)
        duration = self.session.draw(st.sampled_from(DURATIONS), label="duration")
        raises = self.session.draw(st.booleans(), label="raises")
        self.durations[job_id] = duration
        return job_id, duration, raises

    async def submit(self) -> None:
        """Start a blocking submit in its own task (it may wait for room)."""
        job = self._draw_job()
        job_id, duration, raises = job
        self.session.step(f"submit({job_id}, duration={duration:g}, raises={raises})")
        self.session.record("submit", job_id, duration=duration, raises=raises, blocking=True)
        record = self.session.record
        closed_errors = self.implementation.closed_errors

        async def run() -> None:
            try:
                await self.pool.submit(job_id, job)
            except closed_errors:
                record("submit_closed", job_id)
                return
            except anyio.get_cancelled_exc_class():
                record("submit_cancelled", job_id)
                raise
            except Exception as exc:
                record("crash", f"submit({job_id})", error=repr(exc))
                return
            record("accepted", job_id)

        self.session.spawn(run, name=f"submit({job_id})")

    async def submit_nowait(self) -> None:
        """Submit without waiting: accepted, refused as full, or refused as closed."""
        job = self._draw_job()
        job_id, duration, raises = job
        self.session.step(f"submit_nowait({job_id}, duration={duration:g}, raises={raises})")
        record = self.session.record
        record("submit", job_id, duration=duration, raises=raises, blocking=False)
        try:
            self.pool.submit_nowait(job_id, job)
        except self.implementation.would_block_errors:
            record("submit_full", job_id)
            return
        except self.implementation.closed_errors:
            record("submit_closed", job_id)
            return
        except Exception as exc:
            record("crash", f"submit_nowait({job_id})", error=repr(exc))
            raise StepFailed("submit_nowait") from exc
        record("accepted", job_id)

    async def close(self) -> None:
        """No more jobs: the pool drains, then ends its results."""
        self.session.step("close()")
        self.session.call_sync("close()", self.pool.close)
        self.closed = True
        self.session.record("close")

    async def cancel(self) -> None:
        """Stop now: running jobs are cancelled and no job starts afterwards."""
        self.session.step("cancel()")
        self.session.call_sync("cancel()", self.pool.cancel)
        self.cancelled = True
        self.session.record("cancel")
