"""The driver interface: build the object under test, perform operations, record events.

A driver knows one pattern's side of the harness: how to build the object from the run's
``params``, how to perform each operation on it (and the harness callbacks it needs: a pool's
handler, a group's tasks), which events each outcome records, and which checkers judge them.
It does not choose operations: the search's model draws them from Hypothesis data, the stress
workload takes them from a scenario's load. So a new operation, cancellation point or event is
written once, here, and both ways of choosing reach it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, ClassVar

import anyio

from harness.checking import Checker
from harness.contract import Implementation
from harness.drivers.host import CallerScope, Host, StepFailed
from harness.rules import Pattern

__all__ = ["Block", "Driver", "receiver"]


class Driver:
    """Base of the drivers; subclasses set ``pattern`` and ``factories``."""

    pattern: ClassVar[Pattern]
    #: The factory names this driver can build.
    factories: ClassVar[tuple[str, ...]] = ()

    def __init__(self, host: Host, params: Mapping[str, Any]) -> None:
        self.host = host
        self.record = host.record
        self.params = dict(params)
        self.implementation: Implementation = host.implementation

    @classmethod
    def make_checkers(cls, params: Mapping[str, Any]) -> list[Checker]:
        """The checkers of this pattern, configured by the run's ``params``."""
        raise NotImplementedError

    async def setup(self) -> None:
        """Build the object under test (through the host's guarded calls)."""
        raise NotImplementedError

    async def observe(self, counters: bool = True) -> None:
        """At a settled instant: record gauges (and the object's counters when ``counters``)."""

    def has(self, obj: object, method: str) -> bool:
        """Whether ``obj`` offers the optional contract ``method``.

        Beyond a pattern's core operations (``contract.PRODUCTS``) every method is optional: a
        library without ``try_acquire`` or a queue without ``close`` is still checked on the
        rest. A missing one is noted on the host, and the rules that need it
        (``Rule.methods``) are reported not-applicable with the reason.
        """
        try:
            present = callable(getattr(obj, method, None))
        except Exception:
            # A property that raises is no method the harness can call.
            present = False
        if not present:
            self.host.lacking.add(method)
        return present

    def read_counters(self, obj: object) -> Mapping[str, int] | None:
        """The object's counters (capability ``metrics``), read under a crash guard."""
        if obj is None or not self.implementation.has("metrics"):
            return None
        return self.host.call_sync("counters()", self.implementation.read_counters, obj)


def receiver(stream: Any) -> Callable[[], Awaitable[Any]]:
    """How to take the next item of a result stream.

    Its ``receive`` when it has one (a trio or anyio stream), else its iterator's ``__anext__``.
    """
    receive: Callable[[], Awaitable[Any]] | None = getattr(stream, "receive", None)
    if callable(receive):
        return receive
    iterator: AsyncIterator[Any] = aiter(stream)
    return iterator.__anext__


class Block:
    """An object's ``async with`` block, held open in a harness task until :meth:`leave`.

    A pool and a batcher run only inside their block, and the harness must keep operating on
    them meanwhile, so the block lives in a task of its own; a reader task beside it drains
    the object's output stream. Entering, leaving and the reader's end are waited for under
    the host's deadlines, so a block that never enters or never exits is a NO-HANG verdict.

    The block is one call into the implementation (``async with obj``, its body the harness's
    wait for :meth:`leave`) under :attr:`caller`, so the block's task can be cancelled as a
    task holding a pool is: in its body or while the block exits. The cancellation must come
    out of the block (CANCEL-PROPAGATES); ``cancel_kind`` names the pattern's own event for it.
    """

    def __init__(self, host: Host, obj: Any, what: str, cancel_kind: str | None = None) -> None:
        self.host = host
        self.obj = obj
        self.what = what
        #: The cancellation of the block's task, by the task's caller.
        self.caller = CallerScope(host, cancel_kind, what)
        self.entered = False
        self.started = anyio.Event()  # the block was entered, or entering failed
        self.leave_now = anyio.Event()
        self.done = anyio.Event()
        self.reader_done = anyio.Event()

    async def open(
        self,
        read: Callable[[], Awaitable[None]],
        on_enter: Callable[[], object] = lambda: None,
        on_leave: Callable[[], object] = lambda: None,
        after: Callable[[], object] = lambda: None,
    ) -> None:
        """Enter the block in its task, then start ``read`` in another.

        ``after`` runs once the block exited without a crash (cancelled by :attr:`caller`
        included); ``on_leave`` once the body ends after :meth:`leave`, by the signal or by a
        cancellation. A hang or crash while entering raises :class:`StepFailed`.
        """

        async def block() -> None:
            async with self.obj:
                self.entered = True
                on_enter()
                self.started.set()
                try:
                    await self.leave_now.wait()
                except anyio.get_cancelled_exc_class():
                    self.caller.arrived()
                    raise
                finally:
                    if self.leave_now.is_set():
                        on_leave()

        async def hold() -> None:
            try:
                await self.caller.call(f"async with {self.what}", block, deadline=False)
            except StepFailed:
                pass  # the crash is recorded
            else:
                after()
            finally:
                self.started.set()
                self.done.set()

        async def reader() -> None:
            try:
                await read()
            finally:
                self.reader_done.set()

        self.host.spawn(hold, f"{self.what}-host")
        if not await self.host.wait(self.started, f"{self.what}.__aenter__") or not self.entered:
            raise StepFailed("enter")  # the hang or the crash is recorded
        self.host.spawn(reader, f"{self.what}-reader")

    def leave(self) -> None:
        """Let the block's task leave the block."""
        self.leave_now.set()

    async def wait(self, event: anyio.Event, what: str, allowance: float = 0.0) -> None:
        """Wait for ``event`` (:attr:`done`, :attr:`reader_done`) under a deadline."""
        if not await self.host.wait(event, f"{self.what} {what}", allowance):
            raise StepFailed(what)
