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
from typing import Any, Final, TypeVar

import anyio
import anyio.abc
import sniffio
import trio

from harness.backends import Runtime
from harness.contract import CONTRACT_NAMES, Implementation, not_a_product
from harness.events import Event, Scalar
from harness.guards import Budgets, HarnessAbort
from harness.plugin import user_signalled
from harness.search.batches import entering

__all__ = [
    "CANCEL_HOWS",
    "CANCEL_WAITING",
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

#: How a caller cancels a call (:meth:`CallerScope.cancel`): ``entry``, before the call starts
#: (the cancellation is already pending at the implementation's first step); ``once``, while
#: it waits; ``twice``, two requests at once (asyncio's ``cancelling()`` is 2); ``again``, a
#: second request once the first has reached the call (its cleanup may still be running).
CANCEL_HOWS: Final = ("entry", "once", "twice", "again")
#: The ways of cancelling a call that has started (all but ``entry``).
CANCEL_WAITING: Final = CANCEL_HOWS[1:]

#: The message of the harness's native asyncio cancellation (not anyio's, so that no anyio
#: scope takes it for its own and swallows it).
CANCEL_MESSAGE: Final = "poolcheck: the caller cancels this call"


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


def _native_task() -> asyncio.Task[Any] | None:
    """The asyncio task running now, or None elsewhere (trio's cancel scopes are native)."""
    try:
        if sniffio.current_async_library() != "asyncio":
            return None
    except sniffio.AsyncLibraryNotFoundError:
        return None
    return asyncio.current_task()


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
        #: The asyncio tasks a :class:`CallerScope` cancelled natively, once per open request:
        #: their cancellation is the harness's own (see :meth:`cancelled_by_harness`).
        self.natively_cancelled: list[asyncio.Task[Any]] = []
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
        """Whether the harness cancelled the current task: a cancel scope of its is cancelled.

        Or, on asyncio, a :class:`CallerScope` called ``Task.cancel()`` on it. Only then is a
        cancellation the harness's own; any other leaked out of the implementation (it
        re-raised one it caught elsewhere, or made one up).
        """
        if anyio.current_effective_deadline() == -math.inf:
            return True
        return bool(self.natively_cancelled) and _native_task() in self.natively_cancelled

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
    async def call(
        self, what: str, fn: Callable[..., Any], *args: Any, deadline: bool = True
    ) -> Any:
        """Call ``fn(*args)`` under the call deadline; a hang or crash becomes a verdict.

        ``fn`` may be a coroutine function or a plain one: a library may offer a method either
        way (``close()`` or ``async close()``, ``try_acquire`` or ``async try_acquire``), so
        whatever the call returns is awaited when it is awaitable. A crash is whatever
        :meth:`blame` pins on the implementation, including a cancellation request it left on
        the calling task (asyncio's ``cancelling()``), which would otherwise strike the harness
        at its next await. Without ``deadline`` the call may wait as long as it takes (a get
        from a queue nobody fills): the checkers judge at settled instants whether it should.
        """
        entering()
        seconds = self.budgets.call_deadline
        requests = self.runtime.cancel_requests()
        with self.move_on_after(seconds) if deadline else anyio.CancelScope() as scope:
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
        self.record("hang", what, deadline=seconds)
        raise StepFailed(what)

    def call_sync(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a synchronous method of the implementation; a crash becomes a verdict."""
        entering()
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
        entering()
        self.task_group.start_soon(guarded(fn), name=name)


def guarded(fn: Callable[..., Awaitable[object]]) -> Callable[..., Coroutine[Any, Any, None]]:
    """``fn`` for a task of its own: a hang or crash (already recorded) ends only that task."""

    async def run(*args: Any) -> None:
        with contextlib.suppress(StepFailed):
            await fn(*args)

    return run


class CallerScope:
    """The caller's own cancellation of one call into the implementation, delivered natively.

    Real code is cancelled the way its backend cancels, and so is the call here: on asyncio by
    ``Task.cancel()`` of the task running it, which lands once, at whatever await the call is
    in (anyio's scopes would deliver it again until the call gave in, and so hide a call that
    swallows it); on trio by a cancel scope around the call, which strikes at each checkpoint
    until the call ends. :meth:`cancel` cancels in one of the :data:`CANCEL_HOWS`;
    :meth:`cancel_after` does so from a helper task, a given time into the call. Once the call
    is over both do nothing: a cancellation that comes too late is not one.

    Each cancellation records ``kind`` about ``ident`` (the pattern's own event; none when
    ``kind`` is None) and ``caller_cancel`` (id: the call; ``how``); when the call is over,
    ``caller_cancel_end`` says how it ended: ``cancelled`` (the cancellation came out),
    ``returned`` (as if not cancelled), ``raised`` (another exception, which the driver took for
    the call's outcome: a refusal, a group's errors, which asyncio and trio let win over a
    cancellation) or ``failed`` (a hang or crash, recorded already), and whether the
    cancellation certainly reached the implementation (``delivered``). On asyncio it did unless
    the call ended before its first await: every request is made while the task waits inside
    the call (at its entry, from a callback that runs once the call first yields), and
    ``Task.cancel()`` throws ``CancelledError`` at that await. On trio it is unknown (null): a
    call that reached no checkpoint returns normally, as trio means it to; unless harness code
    inside the call saw the cancellation arrive (:meth:`arrived`: the body of a pool's block)
    and handed it to the implementation. CANCEL-PROPAGATES judges them
    (:mod:`harness.checkers.general`).
    """

    def __init__(self, host: Host, kind: str | None, ident: Scalar) -> None:
        self.host = host
        self.kind = kind
        self.ident = ident
        self.scope = anyio.CancelScope()
        self.running = False
        #: Whether the caller cancelled the call (or asked for it before the call started).
        self.requested = False
        #: Whether the caller's cancellation ended the call (the call raised it).
        self.stopped = False
        #: The cancellation that ended the call, to hand on as a task would (an ``__aexit__``).
        self.caught: BaseException | None = None
        self._what: str | None = None
        self._judged = True
        self._at_entry = False
        self._arrived = False
        #: The asyncio task running the call (None on trio) and the requests made on it.
        self._task: asyncio.Task[Any] | None = None
        self._requests = 0
        #: The request at the call's entry, due once the call first yields (asyncio).
        self._entry: asyncio.Handle | None = None
        self._timer = anyio.CancelScope()

    def cancel(self, how: str = "once") -> None:
        """Cancel the call, ``how`` one of :data:`CANCEL_HOWS`, if it runs and is not cancelled.

        ``entry`` is for a call not started yet: its cancellation is requested at its start,
        before the implementation's first step. ``again`` requests the second cancellation
        from a helper task, which runs once the call has had a step to react to the first.
        """
        if how == "entry":
            self._at_entry = not self.running and not self.requested
            return
        if not self.running or self.requested:
            return
        self._request(how)
        if how == "twice":
            self._deliver()
        elif how == "again":

            async def again() -> None:
                if self.running:
                    self._deliver()

            self.host.spawn(again, name=f"cancel again {self._what}")

    def arrived(self) -> None:
        """Harness code inside the call saw this caller's cancellation arrive, and raises it.

        Then it certainly reached the implementation, on trio too: a call that returns all
        the same swallowed it.
        """
        if self.requested and anyio.current_effective_deadline() == -math.inf:
            self._arrived = True

    def cancel_after(self, seconds: float, how: str = "once") -> None:
        """Cancel the call ``seconds`` model seconds from now (if it still runs then), ``how``."""

        async def timer() -> None:
            with self._timer:
                await self.host.sleep(seconds)
                self.cancel(how)

        self.host.spawn(timer, name=f"cancel {self.kind} {self.ident}")

    def _request(self, how: str) -> None:
        self.requested = True
        if self.kind is not None:
            self.host.record(self.kind, self.ident)
        if self._judged:
            self.host.record("caller_cancel", self._what, how=how)
        if how == "entry" and self._task is not None:
            # Pending from the start, as a task cancelled before it runs: asyncio throws it in
            # at the first await that yields. A request made now, by the task itself, would
            # stay pending past a call that never yields, and strike the harness's next await.
            self._entry = asyncio.get_running_loop().call_soon(self._deliver)
        else:
            self._deliver()

    def _deliver(self) -> None:
        task = self._task
        if task is None:
            self.scope.cancel()
            return
        if not self.running:
            return  # the call ended before its first await: nothing reaches it
        self._requests += 1
        self.host.natively_cancelled.append(task)
        task.cancel(CANCEL_MESSAGE)

    def _take_back(self, before: int) -> bool | None:
        """Withdraw this caller's requests from its task; whether any reached the call.

        None on trio, where it is unknown. Each request was made while the task waited inside
        the call, so it reached it. Afterwards the task's count of requests (``cancelling()``)
        is what it was before the call, so the harness's own scopes work on: each asyncio
        cancel scope compares it with the count it saw when it was entered.
        """
        task = self._task
        if self._entry is not None:
            self._entry.cancel()
        if task is None or not self.requested:
            return None
        for _ in range(self._requests):
            self.host.natively_cancelled.remove(task)
            if task.cancelling() > before:
                task.uncancel()
        delivered, self._requests = self._requests > 0, 0
        return delivered

    async def call(
        self,
        what: str,
        fn: Callable[[], Awaitable[T]],
        *,
        deadline: bool = True,
        judged: bool = True,
        returned: Callable[[T], bool] | None = None,
    ) -> T | None:
        """``host.call(what, fn)`` under this caller; None when its cancellation ended the call.

        Whatever ``fn`` returns is awaited when it is awaitable (a library's method may be
        sync or async, see :meth:`Host.call`). ``deadline`` False lets it wait as long as it
        takes. ``judged`` False: ``fn`` is the harness's own wait, no call into the
        implementation, so its cancellation records no ``caller_cancel``. ``returned`` tells
        from ``fn``'s result whether the implementation returned, when ``fn`` turns what it
        raised into a result (a refusal, a group's errors): else it did.

        A cancellation that comes out though neither this caller nor an enclosing scope of
        the harness cancelled came out of the implementation unprovoked: it is recorded as a
        crash. (A trio scope can let its own cancellation through when the implementation left
        a stray cancellation request on the task: asyncio's ``TaskGroup`` on Python 3.11 and
        3.12.)
        """
        self._what, self._judged = what, judged
        self._task = _native_task()
        before = 0 if self._task is None else self._task.cancelling()
        ended: str = "failed"
        result: T | None = None

        async def first() -> Any:
            if self._at_entry:
                self._request("entry")
            made = fn()
            return await made if inspect.isawaitable(made) else made

        self.running = True
        try:
            with self.scope:
                try:
                    result = await self.host.call(what, first, deadline=deadline)
                except anyio.get_cancelled_exc_class() as exc:
                    self.caught = exc
                    raise
                ended = "raised" if returned is not None and not returned(result) else "returned"
            if self.scope.cancelled_caught:
                ended = "cancelled"
        except anyio.get_cancelled_exc_class() as exc:
            if anyio.current_effective_deadline() == -math.inf:
                raise  # the run's own cancellation (an enclosing scope) propagates
            if not self._requests:
                error = self.host.blame(exc)
                if error is None:
                    raise  # an enclosing caller's own
                self.host.record("crash", what, error=error)
                raise StepFailed(what) from None
            ended = "cancelled"
        finally:
            self.running = False
            self._timer.cancel()
            delivered: bool | None = self._take_back(before)
            if self._arrived:
                delivered = True
            if self.requested and self._judged:
                self.host.record("caller_cancel_end", what, ended=ended, delivered=delivered)
        self.stopped = ended == "cancelled"
        return None if self.stopped else result
