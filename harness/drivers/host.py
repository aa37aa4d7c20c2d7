"""What a driver runs in: one run's clock, trace, guarded calls and helper tasks.

A :class:`Host` is shared by the two ways of choosing operations: the search's
:class:`~harness.search.model.Session` (Hypothesis draws each operation) and the stress
runner (a scenario's workload issues them). Both hand every recorded event to a ``sink``:
the session keeps the example's trace, the stress runner folds and drops it. Everything here
is anyio over a backend's :class:`~harness.backends.Runtime`, so a driver runs unchanged on
trio, asyncio and threads.

Whose fault is it? :meth:`Host.blame` is the one place that decides. Whatever comes out of a
call into the implementation is the implementation's (``SystemExit``, ``KeyboardInterrupt``
and ``GeneratorExit`` included), except the harness's own cancellation, its guard's abort
and the user's Ctrl-C; a cancellation that comes out though no cancel scope of the harness
was cancelled leaked out of the implementation. So each of these is a ``crash`` event, a
NO-CRASH verdict with steps and a replay line, never "harness error".
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import anyio
import anyio.abc
import sniffio
import trio

from harness.backends import Runtime
from harness.contract import CONTRACT_NAMES, Implementation, not_a_product
from harness.events import Event, Scalar
from harness.guards import Budgets, HarnessAbort
from harness.plugin import user_signalled

__all__ = [
    "CallerScope",
    "Host",
    "NotAProduct",
    "StepFailed",
    "exception_leaves",
    "guarded",
    "is_cancellation",
]

T = TypeVar("T")

#: The error text of a cancellation no scope of the harness asked for.
LEAKED_CANCELLATION = "a cancellation nobody asked for: it leaked out of the implementation"


class StepFailed(Exception):
    """A call into the implementation hung or crashed (already recorded): stop this task."""


class NotAProduct(Exception):
    """A factory returned something that cannot be what it promises (None, 42, ...)."""


def is_cancellation(exc: BaseException) -> bool:
    """Whether ``exc`` is a cancellation (trio's or asyncio's), or a group of nothing else."""
    if isinstance(exc, BaseExceptionGroup):
        return all(is_cancellation(inner) for inner in exc.exceptions)
    return isinstance(exc, trio.Cancelled | asyncio.CancelledError)


def _harness_own(exc: BaseException) -> bool:
    """Whether ``exc`` is the harness's own control flow, or the user's stop."""
    return (
        isinstance(exc, HarnessAbort | StepFailed)
        or type(exc).__module__.partition(".")[0] == "hypothesis"
        or user_signalled()
    )


def _current_run() -> object:
    """What identifies the run the current code runs in (trio's token, asyncio's loop)."""
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return None
    if library == "trio":
        return trio.lowlevel.current_trio_token()
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def exception_leaves(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions in ``exc``, its (nested) groups unpacked; ``exc`` itself if no group."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from exception_leaves(inner)
    else:
        yield exc


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
        #: The ids of what the implementation's factories made: a method the harness then looks
        #: up on one and does not find is the implementation's fault (see :meth:`blame`). Ids,
        #: not the objects: keeping them alive would delay what their collection reports.
        self.products: set[int] = set()
        #: Failures of the implementation's own work, reported from anywhere (one of its
        #: threads, a garbage collection) as ``(who, error)``; :meth:`record_faults` records
        #: them from the harness's own task.
        self.faults: deque[tuple[str, str]] = deque()
        #: The run this host serves: once it is over, nothing is anyone's fault any more.
        self.run = _current_run()
        #: Optional contract methods an object of the implementation turned out not to have.
        self.lacking: set[str] = set()
        # -- clock bridge (harness/backends/clock.py): the declaration may switch it off.
        runtime.bridge_clock(implementation.clock_bridge)

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
        """The implementation's factory ``name``, adapted to the async contract if needed.

        What it returns is checked first: None, or an object without the pattern's core
        methods, raises :class:`NotAProduct` (a crash, when called through :meth:`call_sync`).
        """
        make = self.implementation.factories[name]

        def build(*args: Any, **kwargs: Any) -> Any:
            made = make(*args, **kwargs)
            problem = not_a_product(name, made)
            if problem is not None:
                raise NotAProduct(problem)
            self.products.add(id(made))
            return made

        return self.runtime.adapt(name, build)

    # -- recording -------------------------------------------------------------------------
    def record(self, kind: str, ident: Any = None, **data: Any) -> Event:
        """Stamp an event with the run's time and hand it to the sink."""
        if kind == "end":
            # -- clock bridge: the implementation's own clock readings, just before the end
            # (the rate checker says when they never moved).
            readings = self.runtime.clock_readings()
            if readings is not None:
                self.sink(Event(self.runtime.now(), "clock", None, readings))
        event = Event(self.runtime.now(), kind, ident, data)
        self.runtime.note_activity()
        self.sink(event)
        return event

    def record_faults(self) -> None:
        """Record each failure of the implementation's own work reported since last time."""
        while self.faults:
            who, error = self.faults.popleft()
            self.record("crash", who, error=error)

    # -- whose fault ------------------------------------------------------------------------
    def cancelled_by_harness(self) -> bool:
        """Whether a cancel scope of the harness around the current task is cancelled now.

        Only then is a cancellation the harness's own; any other leaked out of the
        implementation (it re-raised one it caught elsewhere, or made one up).
        """
        return anyio.current_effective_deadline() == -math.inf

    def blame(self, exc: BaseException, *, in_call: bool = True) -> str | None:
        """The implementation's fault that ``exc`` shows, as a crash's error text, or None.

        None means the exception is the harness's own and must propagate: its cancellation,
        its guard's abort (:class:`~harness.guards.HarnessAbort`), a step that already failed,
        Hypothesis's own control flow (``StopTest``), or the user's Ctrl-C. Anything else
        raised in a call into the implementation (``in_call``) is the implementation's,
        ``SystemExit``, ``KeyboardInterrupt`` and ``GeneratorExit`` included. Outside one,
        only what the harness never raises is: an exception that is no ``Exception`` (those
        three), a cancellation nobody asked for, a contract method missing from an object the
        implementation made; any other exception there is a bug of poolcheck. Nothing is
        blamed once the host's run is over.
        """
        if _harness_own(exc) or _current_run() is not self.run:
            # After the run (its orphaned coroutines being closed by the collector, with a
            # GeneratorExit), nothing is recorded: the example's outcome is decided.
            return None
        if isinstance(exc, BaseExceptionGroup):
            errors = [
                self.blame(leaf, in_call=in_call)
                for leaf in exception_leaves(exc)
                if not isinstance(leaf, StepFailed)
            ]
            if not errors or None in errors:
                return None
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            return f"{errors[0]}{more}"
        if is_cancellation(exc):
            return None if self.cancelled_by_harness() else LEAKED_CANCELLATION
        if isinstance(exc, NotAProduct):
            return f"nothing, but {exc}"
        if in_call or not isinstance(exc, Exception) or self._missing_method(exc):
            return f"{exc!r:.200}"
        return None

    def _missing_method(self, exc: BaseException) -> bool:
        """Whether ``exc`` is a failed lookup of a contract name on an object it made."""
        return (
            isinstance(exc, AttributeError)
            and exc.name in CONTRACT_NAMES
            and id(exc.obj) in self.products
        )

    # -- calling into the implementation ----------------------------------------------------
    async def call(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Call ``fn(*args)`` under the call deadline; a hang or crash becomes a verdict.

        ``fn`` may be a coroutine function or a plain one: a library may offer a method either
        way (``close()`` or ``async close()``, ``try_acquire`` or ``async try_acquire``), so
        whatever the call returns is awaited when it is awaitable. A crash is whatever
        :meth:`blame` pins on the implementation, including a cancellation request it left on
        the calling task (asyncio's ``cancelling()``), which would otherwise strike the harness
        at its next await.
        """
        deadline = self.budgets.call_deadline
        requests = self.runtime.cancel_requests()
        with self.move_on_after(deadline) as scope:
            try:
                result = fn(*args)
                if inspect.isawaitable(result):
                    result = await result
            except StepFailed:
                raise
            except BaseException as exc:
                raise self._crashed(what, exc) from exc
            left = self.runtime.cancel_requests()
            if left > requests and not self.cancelled_by_harness():
                # asyncio.TaskGroup does this on Python 3.11 and 3.12 when a task fails while
                # the group's block is being left: the caller's next cancel scope misfires.
                error = (
                    "nothing it should have: it left its caller's task with a cancellation "
                    "request nobody "
                    f"asked for (Task.cancelling() went from {requests} to {left}): it leaked "
                    "out of the implementation"
                )
                self.record("crash", what, error=error)
                await self.runtime.forget_cancel_requests(requests)
                raise StepFailed(what)
            return result
        assert scope.cancelled_caught
        self.record("hang", what, deadline=deadline)
        raise StepFailed(what)

    def call_sync(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a synchronous method of the implementation; a crash becomes a verdict."""
        try:
            return fn(*args, **kwargs)
        except StepFailed:
            raise
        except BaseException as exc:
            raise self._crashed(what, exc) from exc

    def _crashed(self, what: str, exc: BaseException) -> StepFailed:
        """``exc`` out of ``what``, recorded as the implementation's crash.

        Re-raised at once when :meth:`blame` says it is poolcheck's own (its cancellation,
        the user's Ctrl-C).
        """
        error = self.blame(exc)
        if error is None:
            raise exc
        self.record("crash", what, error=error)
        return StepFailed(what)

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
        cancelled came out of the implementation unprovoked: it is recorded as a crash. (This
        scope can let its own cancellation through when the implementation left a stray
        cancellation request on the task: asyncio's ``TaskGroup`` on Python 3.11 and 3.12.)
        """
        self.running = True
        try:
            with self.scope:
                result: T = await self.host.call(what, fn)
                return result
        except anyio.get_cancelled_exc_class() as exc:
            # The run's own deadline (an enclosing scope) propagates.
            error = self.host.blame(exc)
            if error is None:
                raise
            self.host.record("crash", what, error=error)
            raise StepFailed(what) from None
        finally:
            self.running = False
            self._timer.cancel()
        return None
