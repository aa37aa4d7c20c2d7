"""The worker-pool model: draws submits, cancelled submits, close, cancel and time.

The :class:`~harness.drivers.pool.PoolDriver` holds the pool's block open, reads the results
all the time and runs the harness's handler; this model draws the pool's size, each job's
duration and outcome, and the order of operations. Teardown drains (close, then leave the
block) or cancels, then waits for the block to exit. Where calls can be interrupted, a
blocking submit's caller cancels it (natively for the backend, in a drawn way:
``CANCEL_HOWS``), and at teardown the task that holds the pool's block may be cancelled as it
leaves the block or while the block exits.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from hypothesis import strategies as st

from harness.contract import Implementation
from harness.drivers.host import CANCEL_HOWS, CANCEL_WAITING
from harness.drivers.pool import PoolDriver
from harness.rules import Pattern
from harness.search.model import CLOSING, Model, Session

#: Job durations: none equals a timeout below, so "timed out" is never a tie.
DURATIONS = (0.0, 0.5, 1.0, 2.0)
#: Per-job timeouts drawn when the implementation declares ``job_timeout``; 0 is a boundary:
#: a deadline at the job's start (docs/patterns/pool.md), a tie only with a 0 s job.
TIMEOUTS = (None, 0.75, 1.5, 0.0)


class PoolModel(Model):
    """Drives ``worker_pool`` with blocking and non-blocking submits, close and cancel."""

    pattern: ClassVar[Pattern] = Pattern.POOL
    max_steps: ClassVar[int] = 20
    weights: ClassVar[dict[str, int]] = {
        "submit": 4,
        "submit_nowait": 3,
        "advance": 3,
        "cancel_submit": 1,
        "close": 1,
        "cancel": 1,
    }
    unbatched: ClassVar[dict[str, str]] = {**Model.unbatched, "close": CLOSING, "cancel": CLOSING}
    driver: PoolDriver

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.ids = itertools.count(1)

    @classmethod
    def draw_params(cls, data: st.DataObject, implementation: Implementation) -> dict[str, Any]:
        """Draw a few workers and small buffers (so backpressure is reached) and a timeout.

        ``workers`` and ``jobs_buffer`` start at 1 (0 is outside the contract), ``results_buffer``
        at 0; a ``job_timeout`` of 0 is drawn unless the declaration's ``supports`` leaves it out.
        """
        timeout = None
        if implementation.has("job_timeout"):
            timeouts = [t for t in TIMEOUTS if implementation.supported("job_timeout", t)]
            timeout = data.draw(st.sampled_from(timeouts), label="job_timeout")
        return {
            "pattern": "pool",
            "factory": "worker_pool",
            "workers": data.draw(st.integers(1, 3), label="workers"),
            "jobs_buffer": data.draw(st.integers(1, 3), label="jobs_buffer"),
            "results_buffer": data.draw(st.integers(0, 2), label="results_buffer"),
            "job_timeout": timeout,
        }

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """Submit (blocking or not), cancel a waiting submit, close, cancel, let time pass.

        Where running code cannot be interrupted (threads) a waiting submit is not cancelled (its
        thread would go on and might still be accepted); the pool's own ``cancel()`` is a plain
        call there too, so it is drawn on every backend (the threads backend keeps finished
        handlers from their workers while it runs: see ``harness/backends/threads_run.py``).
        """
        ops: dict[str, Callable[[], Awaitable[None]]] = {
            "submit": self.submit,
            "close": self.close,
            "advance": self.advance,
        }
        pool = self.driver.pool
        if self.driver.has(pool, "submit_nowait"):
            ops["submit_nowait"] = self.submit_nowait
        if self.session.runtime.interruptible:
            ops["cancel_submit"] = self.cancel_submit
        if self.driver.has(pool, "cancel"):
            ops["cancel"] = self.cancel
        return ops

    async def teardown(self) -> None:
        """Drain (close and leave) or cancel; wait for the block to exit, under a deadline."""
        driver = self.driver
        if driver.block is None or driver.block.done.is_set():
            return
        mode = "cancel" if driver.cancelled else "drain"
        if not driver.cancelled and "cancel" not in self.session.lacking:
            mode = self.session.draw(st.sampled_from(["drain", "cancel"]), label="teardown")
        if mode == "cancel" and not driver.cancelled:
            await self.cancel()
        elif mode == "drain" and not driver.closed:
            await self.close()
        how = self._draw_block_cancel()
        in_body = how is not None and self.session.draw(st.booleans(), label="in the body")
        if how is not None and in_body:
            self._cancel_block(how, "in its body")
        self.session.step(f"leave the block ({mode})")
        driver.leave()
        if how is not None and not in_body:
            await self.session.settle()
            self._cancel_block(how, "while the block exits")
        if mode == "cancel":
            # The block must be gone by the next settled instant (POOL-CANCEL-PROMPT).
            await self.session.settle()
        await driver.wait_exit()

    def _draw_block_cancel(self) -> str | None:
        """How the task holding the block is cancelled at teardown (``CANCEL_WAITING``), if.

        In its body the cancellation reaches the harness's wait there, and ``__aexit__`` gets
        it; while the block exits (a drain that waits for jobs) it reaches ``__aexit__``
        itself. Either way the pool must stop as ``cancel()`` stops it, let the cancellation
        out, and leave nothing it started running. Not where calls cannot be interrupted.
        """
        if not self.session.runtime.interruptible:
            return None
        return self.session.draw(st.sampled_from((None, *CANCEL_WAITING)), label="cancel block")

    def _cancel_block(self, how: str, where: str) -> None:
        if self.driver.cancel_block(how):
            self.session.step(f"cancel the task in the pool's block {where} ({how})")

    # -- operations --------------------------------------------------------------------------
    def _draw_job(self) -> tuple[int, float, bool]:
        job_id = next(self.ids)
        duration = self.session.draw(st.sampled_from(DURATIONS), label="duration")
        raises = self.session.draw(st.booleans(), label="raises")
        return job_id, duration, raises

    async def submit(self, *, cancel_first: bool = False) -> None:
        """Start a blocking submit in its own task (it may wait for room).

        With ``cancel_first`` its caller has cancelled it before it starts.
        """
        job_id, duration, raises = job = self._draw_job()
        entry = " cancelled at its entry" if cancel_first else ""
        self.session.step(f"submit({job_id}, duration={duration:g}, raises={raises}){entry}")
        self.session.spawn(
            lambda: self.driver.submit(*job, cancel_first=cancel_first), name=f"submit({job_id})"
        )

    async def submit_nowait(self) -> None:
        """Submit without waiting: accepted, refused as full, or refused as closed."""
        job_id, duration, raises = job = self._draw_job()
        self.session.step(f"submit_nowait({job_id}, duration={duration:g}, raises={raises})")
        await self.driver.submit_nowait(*job)

    async def cancel_submit(self) -> None:
        """Cancel a blocking submit that waits, in a drawn way; or start one already cancelled."""
        how = self.session.draw(st.sampled_from(CANCEL_HOWS), label="how")
        if how == "entry":
            await self.submit(cancel_first=True)
        elif self.driver.waiting:
            job_id = self.session.draw(st.sampled_from(sorted(self.driver.waiting)), label="job")
            self.session.step(f"cancel submit({job_id}) ({how})")
            self.driver.cancel_submit(job_id, how)

    async def close(self) -> None:
        """No more jobs: the pool drains, then ends its results."""
        self.session.step("close()")
        await self.driver.close()

    async def cancel(self) -> None:
        """Stop now: running jobs are cancelled and no job starts afterwards."""
        self.session.step("cancel()")
        await self.driver.cancel()
