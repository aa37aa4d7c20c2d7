"""Stress workload of ``idempotent_sink``: flaky effects, duplicate deliveries, redeliveries.

The :class:`~harness.drivers.idempotency.IdempotencyDriver` runs the effect and performs each
delivery; this workload chooses them. Each job is one key (its number, or one of
``load.keys`` keys drawn at random); with probability ``duplicate_rate`` it is delivered
twice at once; an effect fails with probability ``failure_rate``, and a delivery whose effect
failed is redelivered with probability ``retry_rate``. The checker remembers every key, as
the sink itself must.

The metrics are folded from the events, read through what the workload knows of its own
deliveries (which delivery repeats which, which is a job's second copy): a job is offered at
its first delivery; a redelivery is a retry; an effect's run is its service time and a failed
one an error; a delivery applied or found a duplicate completes its message (end to end from
the message's first delivery); a failed one not redelivered completes it as failed.
"""

from __future__ import annotations

import itertools
from typing import ClassVar

import anyio
import anyio.abc

from harness.drivers.host import guarded
from harness.drivers.idempotency import IdempotencyDriver
from harness.events import Event
from harness.rules import Pattern
from harness.stress.workloads.base import COMMON, Context, Workload

#: Most redeliveries of one delivery, so a flaky effect cannot keep a key busy forever.
MAX_REDELIVERIES = 5

_COMPLETED = {"applied": "completed", "duplicate": "duplicates"}


class IdempotencyWorkload(Workload):
    """Delivers keys to one sink, with duplicates and redeliveries."""

    pattern: ClassVar[Pattern] = Pattern.IDEMPOTENCY
    honours: ClassVar[frozenset[str]] = COMMON | {
        "failure_rate",
        "retry_rate",
        "duplicate_rate",
        "keys",
    }
    driver: IdempotencyDriver

    def __init__(self, context: Context) -> None:
        super().__init__(context)
        self.driver.plan_effect = self.plan_effect
        self.deliveries = itertools.count()
        #: The delivery each redelivery repeats, by the redelivery's number.
        self.repeats: dict[int, int] = {}
        #: First deliveries of a job's second copy: the job was offered once.
        self.copies: set[int] = set()
        #: When each open delivery's message was first delivered.
        self.first_delivered: dict[int, float] = {}
        #: Deliveries that failed and may yet be redelivered, with when they failed.
        self.failing: dict[int, float] = {}
        #: When each running effect began, by effect number.
        self.effect_began: dict[int, float] = {}
        #: Where each delivery runs, while the load is offered.
        self.delivering: anyio.abc.TaskGroup | None = None

    def plan_effect(self) -> tuple[float, bool]:
        """Roll one run of the effect: ``(duration, fails)``."""
        ctx = self.ctx
        # Failure before duration: the order seeded runs have always drawn them in.
        fails = ctx.chance(ctx.load.failure_rate)
        return ctx.duration(), fails

    # -- the load ------------------------------------------------------------------------
    async def message(self, key: int, value: str, copy: bool) -> None:
        """Deliver ``key`` (``copy``: a job's second copy) until it is applied or a duplicate.

        A delivery whose effect failed is redelivered with probability ``retry_rate``, at
        most :data:`MAX_REDELIVERIES` times.
        """
        ctx = self.ctx
        previous: int | None = None
        for _ in range(MAX_REDELIVERIES + 1):
            delivery = next(self.deliveries)
            if previous is not None:
                self.repeats[delivery] = previous
            elif copy:
                self.copies.add(delivery)
            outcome = await self.driver.deliver(key, value, delivery)
            if outcome != "error" or not ctx.chance(ctx.load.retry_rate):
                return
            previous = delivery

    async def offer(self, job: int, producer: int) -> bool:
        """Deliver a key (sometimes twice), each delivery in a task of its own."""
        ctx = self.ctx
        keys = ctx.load.keys
        key = ctx.rng.randrange(keys) if keys else job
        copies = 2 if ctx.chance(ctx.load.duplicate_rate) else 1
        assert self.delivering is not None
        for copy in range(copies):
            self.delivering.start_soon(guarded(self.message), key, f"v{key}", copy > 0)
        return True

    async def run(self) -> None:
        """Build the sink, offer the keys, wait for every delivery to end."""
        await self.driver.setup()
        async with anyio.create_task_group() as self.delivering:
            await self.produce()

    # -- what it measures ------------------------------------------------------------------
    def measure(self, event: Event) -> None:
        """Offers, retries, service and end-to-end times, and each message's outcome."""
        t, metrics = event.t, self.metrics
        match event.kind:
            case "deliver":
                delivery = event.get("delivery")
                previous = self.repeats.pop(delivery, None)
                if previous is None:
                    self.first_delivered[delivery] = t
                    if delivery in self.copies:
                        self.copies.discard(delivery)
                    else:
                        metrics.offered(t)
                else:
                    metrics.count("retries")
                    self.failing.pop(previous, None)
                    self.first_delivered[delivery] = self.first_delivered.pop(previous, t)
            case "effect_begin":
                self.effect_began[event.get("effect")] = t
            case "effect_end":
                began = self.effect_began.pop(event.get("effect"), t)
                metrics.latency("service", t - began)
                if not event.get("ok"):
                    metrics.count("errors")
            case "apply_end":
                delivery = event.get("delivery")
                outcome = event.get("outcome")
                if outcome == "error":
                    self.failing[delivery] = t
                else:
                    first = self.first_delivered.pop(delivery, t)
                    metrics.completed(t, _COMPLETED[outcome])
                    metrics.latency("end_to_end", t - first)
            case "idle" | "end":
                # A redelivery follows its failure at once, so by the next settled instant
                # a failed delivery not redelivered was given up on.
                for delivery, failed_at in self.failing.items():
                    self.first_delivered.pop(delivery, None)
                    metrics.completed(failed_at, "failed")
                self.failing.clear()
