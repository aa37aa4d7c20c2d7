"""The queue model: puts, gets, offers, cancellations and close against one queue.

Each example draws one of the implementation's queue factories (unbounded, bounded, or
dropping with a drawn policy) and a small capacity, so that "full" is reached often. Blocking
puts and gets run in harness tasks and can be cancelled later; a dropping queue is driven only
with non-blocking calls, which makes its drop accounting exact at every step.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import anyio
from hypothesis import strategies as st

from harness.checkers.queue import QueueChecker
from harness.checking import Checker
from harness.contract import Implementation
from harness.rules import Pattern
from harness.search.model import Model, StepFailed


class QueueModel(Model):
    """Drives ``unbounded_queue``, ``bounded_queue`` or ``dropping_queue``."""

    pattern: ClassVar[Pattern] = Pattern.QUEUE
    factories: ClassVar[tuple[str, ...]] = ("unbounded_queue", "bounded_queue", "dropping_queue")
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
    }

    @classmethod
    def draw_params(cls, data: st.DataObject, implementation: Implementation) -> dict[str, Any]:
        """Draw the factory, a small capacity, and the drop policy."""
        available = [name for name in cls.factories if name in implementation.factories]
        if not implementation.has("drop_policy") and "dropping_queue" in available:
            available.remove("dropping_queue")
        factory = data.draw(st.sampled_from(available), label="factory")
        capacity = None if factory == "unbounded_queue" else data.draw(st.integers(1, 3))
        policy = None
        if factory == "dropping_queue":
            policy = data.draw(st.sampled_from(["newest", "oldest"]), label="policy")
        return {"pattern": "queue", "factory": factory, "capacity": capacity, "policy": policy}

    @classmethod
    def make_checkers(cls, params: dict[str, Any]) -> list[Checker]:
        """One checker folds every queue rule."""
        return [QueueChecker(params)]

    def __init__(self, session: Any) -> None:
        super().__init__(session)
        self.queue: Any = None
        self.dropping = False
        self.closed = False
        self.items = itertools.count()
        self.getter_ids = itertools.count()
        self.put_scopes: dict[int, anyio.CancelScope] = {}
        self.get_scopes: dict[int, anyio.CancelScope] = {}

    async def setup(self, params: dict[str, Any]) -> None:
        """Build the queue through the implementation's factory."""
        factory = self.session.factory(params["factory"])
        kwargs = {k: params[k] for k in ("capacity", "policy") if params[k] is not None}
        self.queue = self.session.call_sync(f"{params['factory']}()", factory, **kwargs)
        self.dropping = params["factory"] == "dropping_queue"

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """Dropping queues get only non-blocking operations; the others get both kinds."""
        ops: dict[str, Callable[[], Awaitable[None]]] = {
            "get_nowait": self.get_nowait,
            "close": self.close,
            "advance": self.advance,
        }
        if self.dropping:
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
            )
        return ops

    # -- operations ------------------------------------------------------------------------
    async def put(self) -> None:
        """Start a blocking put in its own task."""
        item = next(self.items)
        self.session.step(f"put({item})")
        scope = anyio.CancelScope()
        self.put_scopes[item] = scope

        async def run() -> None:
            with scope:
                self.session.record("put", item, mode="blocking")
                try:
                    await self.queue.put(item)
                except self.implementation.closed_errors:
                    self.session.record("put_closed", item)
                    return
                except Exception as exc:
                    self.session.record("crash", f"put({item})", error=repr(exc))
                    raise StepFailed("put") from exc
                finally:
                    self.put_scopes.pop(item, None)
                self.session.record("put_ok", item)
                return
            self.session.record("put_cancelled", item)

        self.session.spawn(run, name=f"put({item})")

    async def put_nowait(self) -> None:
        """A non-blocking put."""
        item = next(self.items)
        self.session.step(f"put_nowait({item})")
        self.session.record("put", item, mode="nowait")
        try:
            self.queue.put_nowait(item)
        except self.implementation.would_block_errors:
            self.session.record("put_full", item)
            return
        except self.implementation.closed_errors:
            self.session.record("put_closed", item)
            return
        except Exception as exc:
            self.session.record("crash", f"put_nowait({item})", error=repr(exc))
            raise StepFailed("put_nowait") from exc
        self.session.record("put_ok", item)

    async def offer(self) -> None:
        """Offer to a dropping queue."""
        item = next(self.items)
        self.session.step(f"offer({item})")
        self.session.record("put", item, mode="offer")
        try:
            accepted = self.queue.offer(item)
        except self.implementation.closed_errors:
            self.session.record("put_closed", item)
            return
        except Exception as exc:
            self.session.record("crash", f"offer({item})", error=repr(exc))
            raise StepFailed("offer") from exc
        self.session.record("put_ok" if accepted else "offer_refused", item)

    async def get(self) -> None:
        """Start a blocking get in its own task."""
        getter = next(self.getter_ids)
        self.session.step(f"get() #{getter}")
        scope = anyio.CancelScope()
        self.get_scopes[getter] = scope

        async def run() -> None:
            with scope:
                self.session.record("get", getter, mode="blocking")
                try:
                    item = await self.queue.get()
                except self.implementation.end_errors:
                    self.session.record("get_end", getter)
                    return
                except Exception as exc:
                    self.session.record("crash", "get()", error=repr(exc))
                    raise StepFailed("get") from exc
                finally:
                    self.get_scopes.pop(getter, None)
                self.session.record("get_ok", getter, item=item)
                return
            self.session.record("get_cancelled", getter)

        self.session.spawn(run, name=f"get#{getter}")

    async def get_nowait(self) -> None:
        """A non-blocking get."""
        getter = next(self.getter_ids)
        self.session.step(f"get_nowait() #{getter}")
        self.session.record("get", getter, mode="nowait")
        try:
            item = self.queue.get_nowait()
        except self.implementation.would_block_errors:
            self.session.record("get_empty", getter)
            return
        except self.implementation.end_errors:
            self.session.record("get_end", getter)
            return
        except Exception as exc:
            self.session.record("crash", "get_nowait()", error=repr(exc))
            raise StepFailed("get_nowait") from exc
        self.session.record("get_ok", getter, item=item)

    async def cancel_put(self) -> None:
        """Cancel one blocked put, if any."""
        if self.put_scopes:
            item = self.session.draw(st.sampled_from(sorted(self.put_scopes)), label="put")
            self.session.step(f"cancel put({item})")
            self.put_scopes[item].cancel()

    async def cancel_get(self) -> None:
        """Cancel one waiting get, if any."""
        if self.get_scopes:
            getter = self.session.draw(st.sampled_from(sorted(self.get_scopes)), label="get")
            self.session.step(f"cancel get() #{getter}")
            self.get_scopes[getter].cancel()

    async def put_racing_cancel(self) -> None:
        """Hand an item to a waiting getter and cancel that getter in the same instant.

        The getter's timeout races the hand-off: it must either return the item or leave it
        in the queue, never lose it.
        """
        await self.put_nowait()
        await self.cancel_get()

    async def get_racing_cancel(self) -> None:
        """Free a slot for a blocked putter and cancel that putter in the same instant."""
        await self.get_nowait()
        await self.cancel_put()

    async def close(self) -> None:
        """Close the queue (the producer side)."""
        self.session.step("close()")
        self.session.call_sync("close()", self.queue.close)
        self.closed = True
        self.session.record("close")

    async def observe(self) -> None:
        """Record the queue's own length and counters (called at every settled instant)."""
        self.session.record("length", None, n=self.session.call_sync("len()", len, self.queue))
        counters = self.implementation.read_counters(self.queue)
        if counters is not None:
            self.session.record("metrics", None, counters=dict(counters))

    async def teardown(self) -> None:
        """Close, let blocked tasks finish, and drain what remains."""
        if not self.closed:
            await self.close()
        await self.session.settle()
        for _ in range(1000):
            before = len(self.session.events)
            await self.get_nowait()
            if self.session.events[-1].kind != "get_ok" or len(self.session.events) == before:
                return
