"""The queue driver: puts, offers, gets, their cancellation and close against one queue.

The queue is built from the run's ``params`` by one of the factories ``unbounded_queue``,
``bounded_queue`` (``capacity``) or ``dropping_queue`` (``capacity``, ``policy``). A blocking
put or get runs under its caller's :class:`~harness.drivers.host.CallerScope` (kept in
:attr:`QueueDriver.putting` and :attr:`QueueDriver.getting`), so the caller can cancel it,
natively for the backend, before it starts or while it waits. Items are whatever
the caller passes (the models' are integers in put order); a getter is named by the caller too,
and each get records its getter as the event's id.

Events (see :mod:`harness.checkers.queue` for the fields): ``put``, ``put_ok``, ``put_full``,
``put_closed``, ``put_cancelled``, ``offer_refused``, ``get``, ``get_ok``, ``get_empty``,
``get_end``, ``get_cancelled``, ``close``, and at each settled instant ``length`` and
``metrics``, plus the shared ``idle``/``end``/``hang``/``crash``/``leak`` and
``caller_cancel``/``caller_cancel_end``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

from harness.checkers.queue import QueueChecker
from harness.checking import Checker
from harness.drivers.base import Driver
from harness.drivers.host import CallerScope, Host, StepFailed
from harness.events import Event
from harness.rules import Pattern

__all__ = ["QueueDriver"]

#: The event kind each group of declared errors means, tried in order.
Refusals = Mapping[str, tuple[type[BaseException], ...]]


class QueueDriver(Driver):
    """One queue: each operation on it, the scopes of its waiting calls, its gauges."""

    pattern: ClassVar[Pattern] = Pattern.QUEUE
    factories: ClassVar[tuple[str, ...]] = ("unbounded_queue", "bounded_queue", "dropping_queue")

    def __init__(self, host: Host, params: Mapping[str, Any]) -> None:
        super().__init__(host, params)
        self.queue: Any = None
        #: Blocking puts still waiting, by item, so one can be cancelled.
        self.putting: dict[Any, CallerScope] = {}
        #: Blocking gets still waiting, by getter, so one can be cancelled.
        self.getting: dict[Any, CallerScope] = {}
        self.closed = False

    @classmethod
    def make_checkers(cls, params: Mapping[str, Any]) -> list[Checker]:
        """One checker folds every queue rule."""
        return [QueueChecker(dict(params))]

    @property
    def dropping(self) -> bool:
        """Whether the queue sheds items (offered to) rather than blocking its putters."""
        return bool(self.params["factory"] == "dropping_queue")

    async def setup(self) -> None:
        """Build the queue through the implementation's factory."""
        name = self.params["factory"]
        kwargs = {
            k: self.params[k] for k in ("capacity", "policy") if self.params.get(k) is not None
        }
        self.queue = self.host.call_sync(f"{name}()", self.host.factory(name), **kwargs)

    async def observe(self, counters: bool = True) -> None:
        """Record the queue's own length and (when ``counters``) its counters."""
        if self.queue is None:
            return
        self.record("length", None, n=self.host.call_sync("len()", len, self.queue))
        counted = self.read_counters(self.queue) if counters else None
        if counted is not None:
            self.record("metrics", None, counters=dict(counted))

    # -- how a call ended --------------------------------------------------------------------
    def _refusal(self, what: str, exc: Exception, refusals: Refusals) -> str:
        """The kind of the first refusal whose errors ``exc`` is; anything else is a crash."""
        for kind, errors in refusals.items():
            if isinstance(exc, errors):
                return kind
        self.record("crash", what, error=repr(exc)[:200])
        raise StepFailed(what) from exc

    def _sync(self, what: str, fn: Callable[[], Any], refusals: Refusals) -> tuple[str | None, Any]:
        """Call ``fn()``: ``(None, its value)``, or ``(kind, None)`` for a declared refusal."""
        try:
            return None, fn()
        except Exception as exc:
            return self._refusal(what, exc, refusals), None

    async def _wait(
        self,
        what: str,
        fn: Callable[[], Awaitable[Any]],
        refusals: Refusals,
        caller: CallerScope,
        deadline: bool,
        cancelled: str,
    ) -> tuple[str | None, Any]:
        """Await ``fn()`` under ``caller``, as :meth:`_sync`; ``(cancelled, None)`` if cancelled.

        Without ``deadline`` the wait is not a hang however long it takes: the caller's queue
        may rightly stay full (or empty) for good, and the checker judges at each settled
        instant whether the call should have returned.
        """

        async def attempt() -> tuple[str | None, Any]:
            try:
                return None, await fn()
            except Exception as exc:
                return self._refusal(what, exc, refusals), None

        # A refusal is no return as if not cancelled: an exception still ends the caller's path.
        ended = await caller.call(
            what, attempt, deadline=deadline, returned=lambda got: got[0] is None
        )
        return (cancelled, None) if ended is None else ended

    # -- puts --------------------------------------------------------------------------------
    async def put(self, item: Any, *, deadline: bool = True, cancel_first: bool = False) -> str:
        """A blocking put: accepted, refused as closed, or cancelled while it waits.

        Without ``deadline`` the put may wait for room as long as it takes (the search's
        queue may never be read again); with ``cancel_first`` its caller has cancelled it
        before it starts. Returns the kind of the event that ended it (``put_ok``,
        ``put_closed``, ``put_cancelled``).
        """
        self.record("put", item, mode="blocking")
        refusals = {"put_closed": self.implementation.closed_errors}
        caller = self.putting[item] = CallerScope(self.host, None, item)
        if cancel_first:
            caller.cancel("entry")
        try:
            kind, _ = await self._wait(
                f"put({item})",
                lambda: self.queue.put(item),
                refusals,
                caller,
                deadline,
                cancelled="put_cancelled",
            )
        finally:
            self.putting.pop(item, None)
        return self._put_ended(kind or "put_ok", item)

    def put_nowait(self, item: Any) -> str:
        """A non-blocking put: accepted, refused as full, or refused as closed."""
        self.record("put", item, mode="nowait")
        refusals = {
            "put_full": self.implementation.would_block_errors,
            "put_closed": self.implementation.closed_errors,
        }
        kind, _ = self._sync(f"put_nowait({item})", lambda: self.queue.put_nowait(item), refusals)
        return self._put_ended(kind or "put_ok", item)

    def offer(self, item: Any) -> str:
        """Offer to a dropping queue: accepted, refused by its policy, or refused as closed."""
        self.record("put", item, mode="offer")
        refusals = {"put_closed": self.implementation.closed_errors}
        kind, accepted = self._sync(f"offer({item})", lambda: self.queue.offer(item), refusals)
        return self._put_ended(kind or ("put_ok" if accepted else "offer_refused"), item)

    def _put_ended(self, kind: str, item: Any) -> str:
        self.record(kind, item)
        return kind

    def cancel_put(self, item: Any, how: str = "once") -> None:
        """Cancel the blocking put of ``item`` while it waits (``how``: ``CANCEL_HOWS``)."""
        self.putting[item].cancel(how)

    # -- gets --------------------------------------------------------------------------------
    async def get(self, getter: Any, *, deadline: bool = True, cancel_first: bool = False) -> Event:
        """A blocking get by ``getter``: an item, the queue's end, or cancelled while it waits.

        Without ``deadline`` the get may wait for an item as long as it takes; with
        ``cancel_first`` its caller has cancelled it before it starts. Returns the event that
        ended it: ``get_ok`` (its ``item``), ``get_end`` or ``get_cancelled``.
        """
        self.record("get", getter, mode="blocking")
        refusals = {"get_end": self.implementation.end_errors}
        caller = self.getting[getter] = CallerScope(self.host, None, getter)
        if cancel_first:
            caller.cancel("entry")
        try:
            kind, item = await self._wait(
                f"get() by {getter}",
                lambda: self.queue.get(),
                refusals,
                caller,
                deadline,
                cancelled="get_cancelled",
            )
        finally:
            self.getting.pop(getter, None)
        return self._get_ended(kind, getter, item)

    def get_nowait(self, getter: Any) -> Event:
        """A non-blocking get by ``getter``: an item, found empty, or the queue's end.

        Returns the event that ended it: ``get_ok`` (its ``item``), ``get_empty``, ``get_end``.
        """
        self.record("get", getter, mode="nowait")
        refusals = {
            "get_empty": self.implementation.would_block_errors,
            "get_end": self.implementation.end_errors,
        }
        kind, item = self._sync(f"get_nowait() by {getter}", self.queue.get_nowait, refusals)
        return self._get_ended(kind, getter, item)

    def _get_ended(self, kind: str | None, getter: Any, item: Any) -> Event:
        if kind is None:
            return self.record("get_ok", getter, item=item)
        return self.record(kind, getter)

    def cancel_get(self, getter: Any, how: str = "once") -> None:
        """Cancel the blocking get of ``getter`` while it waits (``how``: ``CANCEL_HOWS``)."""
        self.getting[getter].cancel(how)

    async def close(self) -> None:
        """Close the queue (the producer side): puts are refused, gets end once it is empty.

        Recorded before the call: a putter or getter an ``async close()`` wakes while it is
        awaited sees the queue closed.
        """
        self.closed = True
        self.record("close")
        await self.host.call("close()", self.queue.close)
