"""What a driver runs in: one run's clock, trace, guarded calls and helper tasks.

A :class:`Host` is shared by the two ways of choosing operations: the search's
:class:`~harness.search.model.Session` (Hypothesis draws each operation) and the stress
runner (a scenario's workload issues them). Both hand every recorded event to a ``sink``:
the session keeps the example's trace, the stress runner folds and drops it. Everything here
is anyio over a backend's :class:`~harness.backends.Runtime`, so a driver runs unchanged on
trio, asyncio and threads.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import anyio
import anyio.abc

from harness.backends import Runtime
from harness.contract import Implementation
from harness.events import Event, Scalar
from harness.guards import Budgets

__all__ = ["CallerScope", "Host", "StepFailed", "guarded"]

T = TypeVar("T")


class StepFailed(Exception):
    """A call into the implementation hung or crashed (already recorded): stop this task."""


class Host:
    """One run's services for a driver: time, recording, deadlines, helper tasks."""

    def __init__(
        self,
        implementation: Implementation,
        runtime: Runtime,
        budgets: Budgets,
        sink: Callable[[Event], None],
    ) -> None:
        self.implementation = implementation
        self.runtime = runtime
        self.budgets = budgets
        self.sink = sink
        #: Where :meth:`spawn` starts helper tasks; set by whoever opens the run's task group.
        self.task_group: anyio.abc.TaskGroup | None = None

    # -- time ------------------------------------------------------------------------------
    def now(self) -> float:
        """The run's time in model seconds (virtual, or scaled real time on threads)."""
        return self.runtime.now()

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` model seconds (harness side: a handler's job, a pacer)."""
        await self.runtime.sleep(seconds)

    def move_on_after(self, seconds: float) -> anyio.CancelScope:
        """A deadline ``seconds`` model seconds from now, for a harness wait."""
        return self.runtime.move_on_after(seconds)

    def factory(self, name: str) -> Callable[..., Any]:
        """The implementation's factory ``name``, adapted to the async contract if needed."""
        return self.runtime.adapt(name, self.implementation.factories[name])

    # -- recording -------------------------------------------------------------------------
    def record(self, kind: str, ident: Any = None, **data: Any) -> Event:
        """Stamp an event with the run's time and hand it to the sink."""
        event = Event(self.runtime.now(), kind, ident, data)
        self.runtime.note_activity()
        self.sink(event)
        return event

    # -- calling into the implementation ----------------------------------------------------
    async def call(self, what: str, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Await ``fn(*args)`` under the call deadline; a hang or crash becomes a verdict."""
        deadline = self.budgets.call_deadline
        with self.move_on_after(deadline) as scope:
            try:
                return await fn(*args)
            except (anyio.get_cancelled_exc_class(), StepFailed):
                raise
            except Exception as exc:
                self.record("crash", what, error=repr(exc)[:200])
                raise StepFailed(what) from exc
        assert scope.cancelled_caught
        self.record("hang", what, deadline=deadline)
        raise StepFailed(what)

    def call_sync(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a synchronous method of the implementation; a crash becomes a verdict."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            self.record("crash", what, error=repr(exc)[:200])
            raise StepFailed(what) from exc

    async def wait(self, event: anyio.Event, what: str, allowance: float = 0.0) -> bool:
        """Wait for ``event`` under the call deadline plus ``allowance``; a hang is recorded."""
        deadline = self.budgets.call_deadline + allowance
        with self.move_on_after(deadline):
            await event.wait()
        if not event.is_set():
            self.record("hang", what, deadline=deadline)
            return False
        return True

    def spawn(self, fn: Callable[[], Awaitable[object]], name: str) -> None:
        """Run a harness helper task (a blocked put, a reader) beside the operations."""
        assert self.task_group is not None, "spawn() before the run's task group is open"
        self.task_group.start_soon(guarded(fn), name=name)


def guarded(fn: Callable[..., Awaitable[object]]) -> Callable[..., Coroutine[Any, Any, None]]:
    """``fn`` for a task of its own: a hang or crash (already recorded) ends only that task."""

    async def run(*args: Any) -> None:
        with contextlib.suppress(StepFailed):
            await fn(*args)

    return run


class CallerScope:
    """The caller's own cancel scope around one call into the implementation.

    While the call runs, :meth:`cancel` records the cancellation (event ``kind`` about
    ``ident``) and then cancels the scope; :meth:`cancel_after` does so from a helper task, a
    given time into the call. Once the call is over both do nothing: a cancellation that comes
    too late is not one.
    """

    def __init__(self, host: Host, kind: str, ident: Scalar) -> None:
        self.host = host
        self.kind = kind
        self.ident = ident
        self.scope = anyio.CancelScope()
        self.running = False
        self._timer = anyio.CancelScope()

    def cancel(self) -> None:
        """Cancel the call now, if it still runs and is not cancelled already."""
        if self.running and not self.scope.cancel_called:
            self.host.record(self.kind, self.ident)
            self.scope.cancel()

    def cancel_after(self, seconds: float) -> None:
        """Cancel the call ``seconds`` model seconds from now (if it still runs then)."""

        async def timer() -> None:
            with self._timer:
                await self.host.sleep(seconds)
                self.cancel()

        self.host.spawn(timer, name=f"cancel {self.kind} {self.ident}")

    async def call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T | None:
        """``host.call(what, fn)`` inside the scope; None when the scope's cancellation ended it.

        A cancellation that comes out though neither this scope nor an enclosing one was
        cancelled came out of the implementation unprovoked: it is recorded as a crash.
        """
        self.running = True
        try:
            with self.scope:
                return await self.host.call(what, fn)
        except anyio.get_cancelled_exc_class():
            # The run's own deadline (an enclosing scope) propagates.
            if anyio.current_effective_deadline() == -math.inf:
                raise
            self.host.record("crash", what, error="stray cancellation")
            raise StepFailed(what) from None
        finally:
            self.running = False
            self._timer.cancel()
        return None
