"""The queue model: draws puts, gets, offers, cancellations and close against one queue.

The :class:`~harness.drivers.queue.QueueDriver` performs each operation and records its
events. Each example draws one of the implementation's queue factories (unbounded, bounded,
or dropping with a drawn policy) and a small capacity, so that "full" is reached often.
Blocking puts and gets run in harness tasks, without a deadline (a queue may rightly stay full
or empty for the rest of an example), and their callers cancel them (natively for the backend,
in a drawn way: ``CANCEL_HOWS``): a new one before it starts, or a waiting one once or twice;
a dropping queue is driven
only with non-blocking calls, which makes its drop accounting exact at every step. A few
operations make two calls in one instant, with no settle between them (a hand-off to a waiter
raced by a cancellation of that waiter or by a non-blocking call of the same side). Items are
the integers 0, 1, 2, ... in put order; getters are numbered the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from hypothesis import strategies as st

from harness.contract import Implementation
from harness.drivers.host import CANCEL_HOWS, CANCEL_WAITING
from harness.drivers.queue import QueueDriver
from harness.events import Event
from harness.rules import Pattern
from harness.search.model import CLOSING, Model, Session

#: A drain at teardown stops after this many items, whatever the queue says.
MAX_DRAIN = 1000


class QueueModel(Model):
    """Drives ``unbounded_queue``, ``bounded_queue`` or ``dropping_queue``."""

    pattern: ClassVar[Pattern] = Pattern.QUEUE
    max_steps: ClassVar[int] = 40
    weights: ClassVar[dict[str, int]] = {
        "put": 3,
        "put_nowait": 2,
        "get": 2,
        "get_nowait": 3,
        "offer": 6,
        "advance": 1,
        "cancel_put": 1,
        "cancel_get": 1,
        "close": 1,
        "put_racing_cancel": 2,
        "get_racing_cancel": 2,
        "get_racing_put_nowait": 2,
        "put_racing_get_nowait": 2,
    }
    unbatched: ClassVar[dict[str, str]] = {
        **Model.unbatched,
        "close": CLOSING,
        **dict.fromkeys(
            [
                "put_racing_cancel",
                "get_racing_cancel",
                "get_racing_put_nowait",
                "put_racing_get_nowait",
            ],
            "a pair of its own, set up with a settle",
        ),
    }
    driver: QueueDriver

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.items = itertools.count()
        self.getter_ids = itertools.count()

    @classmethod
    def draw_params(cls, data: st.DataObject, implementation: Implementation) -> dict[str, Any]:
        """Draw the factory, a small capacity, and the drop policy."""
        available = [name for name in cls.factories() if name in implementation.factories]
        if not implementation.has("drop_policy") and "dropping_queue" in available:
            available.remove("dropping_queue")
        factory = data.draw(st.sampled_from(available), label="factory")
        capacity = None if factory == "unbounded_queue" else data.draw(st.integers(1, 3))
        policy = None
        if factory == "dropping_queue":
            policy = data.draw(st.sampled_from(["newest", "oldest"]), label="policy")
        return {
            "pattern": "queue",
            "factory": factory,
            "capacity": capacity,
            "policy": policy,
            # Not drawn: whether QUEUE-FIFO-WAITERS is judged (the declared capability).
            "fifo_waiters": implementation.has("fifo_waiters"),
        }

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """Dropping queues get only non-blocking operations; the others get both kinds."""
        ops: dict[str, Callable[[], Awaitable[None]]] = {
            "get_nowait": self.get_nowait,
            "advance": self.advance,
        }
        if self.driver.has(self.driver.queue, "close"):
            ops["close"] = self.close
        if self.driver.dropping:
            ops["offer"] = self.offer
        else:
            ops.update(
                put=self.put,
                put_nowait=self.put_nowait,
                get=self.get,
                cancel_put=self.cancel_put,
                cancel_get=self.cancel_get,
                put_racing_cancel=self.put_racing_cancel,
                get_racing_cancel=self.get_racing_cancel,
                get_racing_put_nowait=self.get_racing_put_nowait,
                put_racing_get_nowait=self.put_racing_get_nowait,
            )
        return ops

    async def teardown(self) -> None:
        """Close, let blocked tasks finish, and drain what remains."""
        if not self.driver.closed and "close" not in self.session.lacking:
            await self.close()
        await self.session.settle()
        for _ in range(MAX_DRAIN):
            if (await self._get_nowait()).kind != "get_ok":
                return

    # -- operations --------------------------------------------------------------------------
    async def put(self, *, cancel_first: bool = False) -> None:
        """Start a blocking put in its own task (cancelled before it starts: ``cancel_first``)."""
        item = next(self.items)
        self.session.step(f"put({item})" + (" cancelled at its entry" if cancel_first else ""))
        self.session.spawn(
            lambda: self.driver.put(item, deadline=False, cancel_first=cancel_first),
            name=f"put({item})",
        )

    async def put_nowait(self) -> None:
        """A non-blocking put."""
        item = next(self.items)
        self.session.step(f"put_nowait({item})")
        self.driver.put_nowait(item)

    async def offer(self) -> None:
        """Offer to a dropping queue."""
        item = next(self.items)
        self.session.step(f"offer({item})")
        self.driver.offer(item)

    async def get(self, *, cancel_first: bool = False) -> None:
        """Start a blocking get in its own task (cancelled before it starts: ``cancel_first``)."""
        getter = next(self.getter_ids)
        self.session.step(f"get() #{getter}" + (" cancelled at its entry" if cancel_first else ""))
        self.session.spawn(
            lambda: self.driver.get(getter, deadline=False, cancel_first=cancel_first),
            name=f"get#{getter}",
        )

    async def get_nowait(self) -> None:
        """A non-blocking get."""
        await self._get_nowait()

    async def _get_nowait(self) -> Event:
        getter = next(self.getter_ids)
        self.session.step(f"get_nowait() #{getter}")
        return self.driver.get_nowait(getter)

    async def cancel_put(self, hows: tuple[str, ...] = CANCEL_HOWS) -> None:
        """Cancel one blocked put, in a way drawn from ``hows``; or start one already cancelled."""
        how = self.session.draw(st.sampled_from(hows), label="how")
        if how == "entry":
            await self.put(cancel_first=True)
        elif self.driver.putting:
            item = self.session.draw(st.sampled_from(sorted(self.driver.putting)), label="put")
            self.session.step(f"cancel put({item}) ({how})")
            self.driver.cancel_put(item, how)

    async def cancel_get(self, hows: tuple[str, ...] = CANCEL_HOWS) -> None:
        """Cancel one waiting get, in a way drawn from ``hows``; or start one already cancelled."""
        how = self.session.draw(st.sampled_from(hows), label="how")
        if how == "entry":
            await self.get(cancel_first=True)
        elif self.driver.getting:
            getter = self.session.draw(st.sampled_from(sorted(self.driver.getting)), label="get")
            self.session.step(f"cancel get() #{getter} ({how})")
            self.driver.cancel_get(getter, how)

    async def put_racing_cancel(self) -> None:
        """Hand an item to a waiting getter and cancel that getter in the same instant.

        The getter's timeout races the hand-off: it must either return the item or leave it
        in the queue, never lose it. With no getter waiting, one is started first and left
        to block, so the race happens rather than a plain ``put_nowait``.
        """
        if not self.driver.getting:
            await self.get()
            await self.session.settle()
        await self.put_nowait()
        await self.cancel_get(CANCEL_WAITING)

    async def get_racing_cancel(self) -> None:
        """Free a slot for a blocked putter and cancel that putter in the same instant."""
        await self.get_nowait()
        await self.cancel_put(CANCEL_WAITING)

    async def get_racing_put_nowait(self) -> None:
        """Free a slot for a blocked putter and try to take it with a ``put_nowait``, at once.

        The slot is the blocked putter's: a queue that only wakes it lets the newcomer in
        first (QUEUE-FIFO-WAITERS). With no putter waiting, a put is started first and left
        to block (it returns at once if the queue has room).
        """
        if not self.driver.putting:
            await self.put()
            await self.session.settle()
        await self.get_nowait()
        await self.put_nowait()

    async def put_racing_get_nowait(self) -> None:
        """Hand an item to a waiting getter and try to take it with a ``get_nowait``, at once.

        The item is the waiting getter's. With no getter waiting, one is started first and
        left to block (it returns at once if the queue holds an item).
        """
        if not self.driver.getting:
            await self.get()
            await self.session.settle()
        await self.put_nowait()
        await self.get_nowait()

    async def close(self) -> None:
        """Close the queue (the producer side)."""
        self.session.step("close()")
        await self.driver.close()
