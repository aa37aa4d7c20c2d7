"""The threads backend: blocking, thread-based implementations on the real clock.

The implementation's methods block and its handler runs in its own threads. The harness wraps
each object it builds in :class:`ThreadFacade`, an async facade over the same contract, so that
no call into the implementation ever runs on the harness's own loop thread:

* the factory, every contract method (``submit``, ``submit_nowait``, ``close``, ``cancel``),
  ``with`` (``__enter__``/``__exit__``), the result stream's ``next`` and the ``undelivered``
  read each run in a fresh daemon thread, awaited on the loop under the harness's deadlines. A
  call that blocks forever is a NO-HANG verdict when its deadline passes, never a frozen
  harness; the abandoned thread is then sent an exception (:class:`CallAbandoned`) so that one
  spinning in Python stops eating the process's time;
* harness callbacks that are async (the pool's handler) reach the implementation as plain
  functions that run the callback on the harness's loop (``asyncio.run_coroutine_threadsafe``)
  and wait for it; one still waited for when the run ends raises :class:`RunOver`.

Not ``anyio.to_thread``: its worker threads are not daemons, so one stuck forever in a
deadlocked implementation would keep the harness process from exiting.

Virtual time cannot pause a running thread, so the harness's asyncio loop runs on the real
clock with a time scale: one model second is :data:`TIME_SCALE` real seconds.

**Settled instants.** An instant is settled when the loop has nothing to run and every other
thread provably waits for something that has not happened, in one consistent snapshot taken
twice, a short poll apart, with nothing changed in between (see :func:`_wait_token`). Proof
comes from the waiting thread's own frame:

* ``Condition.wait`` (which ``queue.Queue``, ``Event``, ``Semaphore``, ``Barrier`` and
  ``Future.result`` all wait in): the thread's waiter lock is still in the condition's waiter
  list. ``notify`` removes it *before* waking the thread, so a notified thread that has not
  run yet is never taken for a waiting one;
* ``Thread.join``: the joined thread still runs Python code;
* an idle ``ThreadPoolExecutor`` worker (it waits in C, in ``SimpleQueue.get``): its work queue
  is empty;
* a ``time.sleep`` in one of a few known polling loops that hand out no work (Pebble's pool
  manager, which only replaces dead workers, and the drain wait of its ``join``): a sleeping
  thread there waits on a timer, as a sleeping task does on virtual time. Any other
  ``time.sleep`` is taken for work in progress: a pool that hands jobs out from a polling loop
  must not be judged between two polls.

A thread in any other state (running, blocked in C on a lock of its own, a socket, an unknown
sleep) makes the instant unsettled; if that lasts :data:`SETTLE_LIMIT` real seconds the
instant is judged anyway (a busy system is still judged), which is what every settle cost
before waits were proven, and what an implementation whose threads wait in unknown ways still
costs.

**Cancellation.** ``cancel()`` is driven like every other call. Its event is recorded just
before the call, as on the virtual-time backends; so that "no job starts after cancel" judges
the implementation and not the real clock, a handler that finishes while ``cancel()`` runs does
not return to its worker thread until ``cancel()`` has returned (or itself waits, for that
worker maybe): no worker is handed back to the pool, and can take a queued job, in the middle
of the cancel (see :class:`_CancelGate`).

Tolerances, also written into each report: timestamps carry the threads' scheduling jitter, so
rules judged on elapsed time are waived (see :attr:`ThreadsBackend.waived`); the other rules
(exactly once, results closed once, no leak, drain, concurrency) are judged on the order of
events, which proven settled instants make exact. A running handler cannot be interrupted, so
a cancelled pool's running jobs finish on their own. Only the worker-pool pattern is driven.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import functools
import inspect
import linecache
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Hashable, Mapping
from types import FrameType, TracebackType
from typing import Any, ClassVar, Final

import anyio

from harness.backends.asyncio_run import AsyncioRuntime, GuardedLoop, all_blocked, run_guarded
from harness.backends.base import Backend, Runtime
from harness.guards import Budgets
from harness.rules import Pattern

#: Real seconds per model second.
TIME_SCALE: Final = 0.005
#: Real seconds per model second of a deadline (a call's, a block's exit): never shorter than
#: this, whatever the time scale, so that a loaded machine's slow thread is not a hang.
DEADLINE_SCALE: Final = 0.02
#: Real seconds between the two snapshots that must agree for an instant to be settled.
SETTLE_POLL: Final = 0.0002
#: The longest pause between two snapshots while some thread may still run (the polls back
#: off from :data:`SETTLE_POLL` to this).
SETTLE_GRACE: Final = 0.03
#: Real seconds after which an instant is judged although some thread was never proven to
#: wait (the settle cost of every instant before waits were proven).
SETTLE_LIMIT: Final = 0.6
#: The shortest sleep of the asyncio loop (its selector counts whole milliseconds).
_LOOP_SLEEP: Final = 0.001
#: While a snapshot is taken no other thread should take the interpreter (seconds).
_ATOMIC_SWITCH: Final = 1.0
#: Real seconds an abandoned call may go on running Python code before it is stopped.
ABANDON_GRACE: Final = 0.1
#: Real seconds a finished handler is held back while ``cancel()`` runs, at most.
CANCEL_HOLD_LIMIT: Final = 0.1

#: Contract methods that run in a thread of their own, per factory.
_CALLS: Final[dict[str, frozenset[str]]] = {
    "worker_pool": frozenset({"submit", "submit_nowait", "close", "cancel"})
}
#: Contract attributes that are streams of results, per factory.
_STREAMS: Final[dict[str, frozenset[str]]] = {"worker_pool": frozenset({"results"})}
#: Contract attributes read once the block has exited (in the exiting thread), per factory.
_AFTER_EXIT: Final[dict[str, frozenset[str]]] = {"worker_pool": frozenset({"undelivered"})}
_END: Final = object()
#: The name prefix of the harness's own threads (one per call into the implementation).
_CALL_THREAD: Final = "poolcheck call"

_THREADING: Final = f"{os.sep}threading.py"
#: ``time.sleep`` in these (file suffix, function) pairs is a poll that hands out no work.
_POLLING_LOOPS: Final = frozenset(
    {
        # Pebble's pool manager replaces dead workers every 0.1 s; jobs go through a Queue.
        (f"pebble{os.sep}pool{os.sep}thread.py", "pool_manager_loop"),
        # Pebble's join() of a closed pool polls for the task queue to drain.
        (f"pebble{os.sep}pool{os.sep}base_pool.py", "_wait_queue_depletion"),
    }
)
#: An idle ``ThreadPoolExecutor`` worker waits in C (``SimpleQueue.get``) in this function.
_EXECUTOR_WORKER: Final = (f"concurrent{os.sep}futures{os.sep}thread.py", "_worker")


#: Threads Python did not start (a C library's), which may idle in C without a frame.
_DUMMY: Final[type[threading.Thread]] = getattr(threading, "_DummyThread", threading.Thread)


class CallAbandoned(BaseException):
    """Raised in a call's thread once the harness stopped waiting for it (a hang, the end)."""


# -- proving that a thread waits --------------------------------------------------------------
_LINES: dict[tuple[str, int], str] = {}


def _line(frame: FrameType) -> str | None:
    """The source line ``frame`` is at, or None until it has been read (outside a snapshot)."""
    return _LINES.get((frame.f_code.co_filename, frame.f_lineno))


def _read_line(frame: FrameType) -> None:
    key = (frame.f_code.co_filename, frame.f_lineno)
    _LINES[key] = linecache.getline(*key)


class _Unread(Exception):
    """A source line a proof needs has not been read yet (reading it may switch threads)."""

    def __init__(self, frame: FrameType) -> None:
        super().__init__()
        self.frame = frame


def _text(frame: FrameType) -> str:
    text = _line(frame)
    if text is None:
        raise _Unread(frame)
    return text


def _wait_token(frame: FrameType, frames: Mapping[int, FrameType]) -> Hashable | None:
    """What the thread whose innermost frame is ``frame`` provably waits on, or None.

    The token names the wait (a waiter lock, a joined thread): a thread that woke up and
    waits again has another one, so two snapshots that agree saw the same waits.
    """
    code = frame.f_code
    filename, name = code.co_filename, code.co_name
    if filename.endswith(_THREADING):
        if name == "wait":
            # Condition.wait: blocked on its waiter lock until notify() takes it off the list.
            text = _text(frame)
            if "waiter.acquire(" not in text or "acquire(False)" in text:
                return None
            condition, waiter = frame.f_locals.get("self"), frame.f_locals.get("waiter")
            waiters = getattr(condition, "_waiters", ())
            return waiter if waiter is not None and any(w is waiter for w in waiters) else None
        if name in ("_wait_for_tstate_lock", "join"):
            # Thread.join: blocked until the joined thread's state is gone.
            if ".acquire(" not in _text(frame) and "_handle.join(" not in _text(frame):
                return None
            joined = frame.f_locals.get("self")
            ident = getattr(joined, "ident", None)
            return joined if ident is not None and ident in frames else None
        return None
    if filename.endswith(_EXECUTOR_WORKER[0]) and name == _EXECUTOR_WORKER[1]:
        # Idle between jobs only on its blocking get of an empty queue.
        if "work_queue.get(block=True)" not in _text(frame):
            return None
        work_queue = frame.f_locals.get("work_queue")
        empty = getattr(work_queue, "empty", None)
        return work_queue if callable(empty) and empty() else None
    if any(filename.endswith(suffix) and name == fn for suffix, fn in _POLLING_LOOPS):
        return frame if "sleep(" in _text(frame) else None
    return None


def _is_harness_thread(thread: threading.Thread) -> bool:
    return thread is threading.main_thread() or thread.name.startswith(_CALL_THREAD)


def _snapshot_now(bystanders: frozenset[int]) -> tuple[Hashable, ...] | None:
    """Every other thread and what it waits on, or None if one of them may be running.

    ``bystanders`` are the threads that were there before the example began (a test runner's
    own, such as pytest-xdist's reader blocked in a pipe read): none of them is the
    implementation's work in progress. One of the implementation's that outlives an example is
    a leak, judged there.
    """
    me = threading.get_ident()
    frames = sys._current_frames()
    # A thread started but not yet running Python code, or one between its last frame and its
    # end, has no frame: it is on its way somewhere.
    # (The registries themselves, not threading.enumerate(): its lock could switch threads.)
    if getattr(threading, "_limbo", None):
        return None
    for ident, thread in list(getattr(threading, "_active", {}).items()):
        if ident in bystanders or isinstance(thread, _DUMMY):
            continue
        if ident != me and ident not in frames:
            return None
    found: list[Hashable] = []
    for ident, frame in sorted(frames.items(), key=lambda item: item[0]):
        if ident == me or ident in bystanders:
            continue
        token = _wait_token(frame, frames)
        if token is None:
            return None
        # The objects themselves, not their ids: kept alive until compared, none is reused.
        found.append((ident, frame, frame.f_lineno, token))
    return tuple(found)


def _snapshot(bystanders: frozenset[int]) -> tuple[Hashable, ...] | None:
    """:func:`_snapshot_now` as one consistent instant: no other thread runs meanwhile."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(_ATOMIC_SWITCH)
    try:
        while True:
            try:
                return _snapshot_now(bystanders)
            except _Unread as missing:
                # Reading a file lets other threads run: read it, then take the snapshot again.
                sys.setswitchinterval(previous)
                _read_line(missing.frame)
                sys.setswitchinterval(_ATOMIC_SWITCH)
    finally:
        sys.setswitchinterval(previous)


def _same(first: tuple[Hashable, ...], second: tuple[Hashable, ...]) -> bool:
    """Whether two snapshots show the same threads in the same waits (by identity)."""
    return len(first) == len(second) and all(
        a[0] == b[0] and a[1] is b[1] and a[2] == b[2] and a[3] is b[3]  # type: ignore[index]
        for a, b in zip(first, second, strict=True)
    )


# -- calls in threads -------------------------------------------------------------------------
def _settle_future(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return  # the harness stopped waiting (cancelled): the outcome is dropped
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _waits(thread: threading.Thread) -> bool:
    """Whether ``thread`` provably waits now (see :func:`_wait_token`)."""
    frames = sys._current_frames()
    frame = frames.get(thread.ident) if thread.ident is not None else None
    if frame is None:
        return False
    while True:
        try:
            return _wait_token(frame, frames) is not None
        except _Unread as missing:
            _read_line(missing.frame)


def _stop_if_running(thread: threading.Thread) -> None:
    """Raise :class:`CallAbandoned` in ``thread`` if it runs Python code (not waiting)."""
    if thread.is_alive() and thread.ident is not None and not _waits(thread):
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident), ctypes.py_object(CallAbandoned)
        )


def _abandon(thread: threading.Thread) -> None:
    """The harness stopped waiting for the call in ``thread``: stop it if it spins.

    A call the harness gave up on (its deadline passed, or the run ended) may spin forever and
    slow every later example down. If it still runs Python code :data:`ABANDON_GRACE` seconds
    later, :class:`CallAbandoned` is raised in it at its next instruction. One that waits (an
    exit joining its workers) is left to finish; one blocked in C gets the exception when it
    wakes, if ever. The implementation could catch it: nothing more can be done from inside
    the process.
    """
    timer = threading.Timer(ABANDON_GRACE, _stop_if_running, args=(thread,))
    timer.name = f"{_CALL_THREAD} watch {thread.name}"
    timer.daemon = True
    timer.start()


def start_call(fn: Callable[..., Any], *args: Any) -> tuple[asyncio.Future[Any], threading.Thread]:
    """Start ``fn(*args)`` in a new daemon thread; its outcome's future and the thread."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def target() -> None:
        result: Any = None
        error: BaseException | None = None
        try:
            result = fn(*args)
        except BaseException as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(_settle_future, future, result, error)

    name = getattr(fn, "__qualname__", None) or repr(fn)
    thread = threading.Thread(target=target, name=f"{_CALL_THREAD} {name:.60}", daemon=True)
    thread.start()
    return future, thread


async def await_call(future: asyncio.Future[Any], thread: threading.Thread) -> Any:
    """The outcome of a call :func:`start_call` started; cancelling the wait abandons it."""
    try:
        return await future
    except asyncio.CancelledError:
        # (The task's cancellation cancelled the future too: only the thread tells.)
        if thread.is_alive():
            _abandon(thread)
        raise


async def run_blocking(fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn(*args)`` in a new daemon thread and await its outcome.

    Cancelling the wait abandons the thread (see :func:`_abandon`).
    """
    return await await_call(*start_call(fn, *args))


class _CancelGate:
    """Holds finished handlers back from their worker threads while ``cancel()`` runs.

    A worker whose handler returns in the middle of a cancel could take a queued job and start
    it before the implementation's cancel has done its work: a start after the ``cancel`` event
    that is the real clock's doing. Held until ``cancel()`` returns; let go earlier if the
    cancelling thread itself waits (it may wait for this very worker) or after
    :data:`CANCEL_HOLD_LIMIT`, so the hold can never deadlock a correct implementation.
    """

    def __init__(self) -> None:
        self.caller: threading.Thread | None = None
        self.since = 0.0

    def hold(self, caller: threading.Thread) -> None:
        """``caller`` runs ``cancel()`` from now on."""
        self.caller = caller
        self.since = time.monotonic()

    def release(self) -> None:
        """``cancel()`` returned (or the harness stopped waiting for it)."""
        self.caller = None

    def _holding(self) -> bool:
        caller = self.caller
        if caller is None or time.monotonic() - self.since > CANCEL_HOLD_LIMIT:
            return False
        # Once the cancelling thread ended, the loop hears of it at once and releases the gate.
        return not caller.is_alive() or not _waits(caller)

    async def passage(self) -> None:
        """Return once a finished handler may go back to its worker."""
        while self._holding():
            await anyio.sleep(SETTLE_POLL)


class _SyncStream:
    """An async iterator over a blocking iterable: reading it and each ``next`` run in threads."""

    def __init__(self, get: Callable[[], Any]) -> None:
        self.get = get
        self.iterator: Any = None

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    def _next(self) -> Any:
        if self.iterator is None:
            self.iterator = iter(self.get())
        return next(self.iterator, _END)

    async def __anext__(self) -> Any:
        item = await run_blocking(self._next)
        if item is _END:
            raise StopAsyncIteration
        return item


class ThreadFacade:
    """The async contract over one blocking object of a thread-based implementation."""

    def __init__(self, obj: Any, factory_name: str, gate: _CancelGate | None = None) -> None:
        self._obj = obj
        self._calls = _CALLS.get(factory_name, frozenset())
        self._streams = _STREAMS.get(factory_name, frozenset())
        self._after_exit = _AFTER_EXIT.get(factory_name, frozenset())
        self._gate = gate or _CancelGate()
        #: What ``_after_exit`` attributes held when the block exited: (value, error) by name.
        self._read_at_exit: dict[str, tuple[Any, BaseException | None]] = {}

    def __getattr__(self, name: str) -> Any:
        obj = self._obj
        if name in self._streams:
            return _SyncStream(lambda: getattr(obj, name))
        if name in self._read_at_exit:
            value, error = self._read_at_exit[name]
            if error is not None:
                raise error
            return value
        value = getattr(obj, name)
        if name in self._calls and callable(value):
            if name == "cancel":
                return functools.partial(self._cancel, value)
            return functools.partial(run_blocking, value)
        return value

    async def _cancel(self, cancel: Callable[..., Any], *args: Any) -> Any:
        future, thread = start_call(cancel, *args)
        # Before the loop runs anything else: no handler can return during the call.
        self._gate.hold(thread)
        try:
            return await await_call(future, thread)
        finally:
            self._gate.release()

    async def __aenter__(self) -> ThreadFacade:
        await run_blocking(self._obj.__enter__)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        obj = self._obj
        names = self._after_exit

        def leave() -> Any:
            result = obj.__exit__(exc_type, exc, tb)
            for name in names:
                try:
                    self._read_at_exit[name] = (list(getattr(obj, name)), None)
                except Exception as error:  # the driver records it where it reads
                    self._read_at_exit[name] = (None, error)
            return result

        return bool(await run_blocking(leave))


class RunOver(RuntimeError):
    """What a harness callback raises in the implementation's thread once its run is over."""


def _hand_over(future: concurrent.futures.Future[Any], task: asyncio.Task[Any]) -> None:
    """Give a callback's outcome (its task's) to the thread waiting on ``future``."""
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        if task.cancelled():
            future.set_exception(RunOver("poolcheck's run is over"))
        elif (error := task.exception()) is not None:
            future.set_exception(error)
        else:
            future.set_result(task.result())


class _Callbacks:
    """The harness callbacks of one run that the implementation's threads are waiting for.

    A run can end with a callback unfinished (an aborted run, an example Hypothesis cut
    short): its loop is closed and the thread would wait for good, and a non-daemon one (a
    ``ThreadPoolExecutor`` worker) would keep the process from exiting. :meth:`end` makes
    each one raise :class:`RunOver` instead.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: set[concurrent.futures.Future[Any]] = set()
        self.lock = threading.Lock()
        self.over = False

    def sync(
        self, fn: Callable[..., Coroutine[Any, Any, Any]], gate: _CancelGate
    ) -> Callable[..., Any]:
        """``fn`` as a blocking function that runs it on the run's loop."""

        async def run(*args: Any) -> Any:
            try:
                return await fn(*args)
            finally:
                await gate.passage()

        def call(*args: Any) -> Any:
            future: concurrent.futures.Future[Any] = concurrent.futures.Future()

            def start() -> None:
                # The coroutine is made here, on the loop: a loop closed first makes none.
                if future.set_running_or_notify_cancel():
                    task = self.loop.create_task(run(*args))
                    task.add_done_callback(functools.partial(_hand_over, future))
                    # A run cut short leaves it pending, and end() answers its thread: nothing
                    # for asyncio to warn about when it is collected.
                    setattr(task, "_log_destroy_pending", False)  # noqa: B010 - asyncio's own flag

            with self.lock:
                if self.over:
                    raise RunOver("poolcheck's run is over")
                self.loop.call_soon_threadsafe(start)
                self.pending.add(future)
            try:
                return future.result()
            finally:
                with self.lock:
                    self.pending.discard(future)

        return call

    def end(self) -> None:
        """The run is over: every callback still awaited raises :class:`RunOver`."""
        with self.lock:
            self.over = True
            pending, self.pending = self.pending, set()
        for future in pending:
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                future.set_exception(RunOver("poolcheck's run is over"))


class ThreadsRuntime(AsyncioRuntime):
    """A real-clock asyncio runtime that also counts the implementation's threads."""

    time_scale = TIME_SCALE
    settle_grace = SETTLE_POLL
    interruptible = False

    def __init__(self, loop: GuardedLoop) -> None:
        super().__init__(loop)
        self.activity = 0
        self.callbacks = _Callbacks(loop)
        #: Threads alive before the example began: the process's own, never its work.
        # From the interpreter's frames, not threading.enumerate(): a thread started with
        # _thread.start_new_thread (pytest-xdist's execnet reader) has no Thread object.
        ours = {t.ident for t in threading.enumerate() if _is_harness_thread(t)}
        self.bystanders = frozenset(sys._current_frames()) - ours

    def note_activity(self) -> None:
        """An event was recorded: the system is not quiet yet."""
        self.activity += 1

    def move_on_after(self, seconds: float) -> anyio.CancelScope:
        """A deadline ``seconds`` model seconds from now, at :data:`DEADLINE_SCALE` at least."""
        return anyio.move_on_after(seconds * max(TIME_SCALE, DEADLINE_SCALE))

    def _quiet(self) -> tuple[int, int, tuple[Hashable, ...]] | None:
        threads = _snapshot(self.bystanders)
        if threads is None:
            return None
        return (self.activity, _activity(self.loop), threads)

    async def wait_all_tasks_blocked(self) -> None:
        """Return once the loop has nothing to run and every thread provably waits.

        Two snapshots a poll apart must agree (see the module's docstring); after
        :data:`SETTLE_LIMIT` real seconds without that, the instant is judged anyway.
        """
        started = time.monotonic()
        pause = SETTLE_POLL
        while True:
            await super().wait_all_tasks_blocked()
            quiet = self._quiet()
            if quiet is not None:
                # The loop has nothing to do: hold it for a moment while every thread that can
                # run has the interpreter, then look again (the asyncio loop's own sleeps last
                # a millisecond at least, ten times this).
                time.sleep(SETTLE_POLL)  # noqa: ASYNC251 - blocking the loop on purpose
                again = self._quiet() if all_blocked(self.loop) else None
                if again is not None and _agree(quiet, again):
                    return
                pause = SETTLE_POLL
            elif time.monotonic() - started < SETTLE_LIMIT:
                # Something runs: look again less and less often.
                if pause < _LOOP_SLEEP:
                    time.sleep(pause)  # noqa: ASYNC251 - as above, shorter than the loop's
                else:
                    await anyio.sleep(pause)
                pause = min(pause * 2, SETTLE_GRACE)
            if time.monotonic() - started >= SETTLE_LIMIT:
                return

    def census(self) -> dict[int, str]:
        """The loop's tasks and every thread but the harness's own."""
        found = super().census()
        for thread in threading.enumerate():
            if not _is_harness_thread(thread):
                found[id(thread)] = f"thread {thread.name}"
        return found

    async def leftovers(self, baseline: Mapping[int, str]) -> list[str]:
        """What is alive after a grace period (a joined thread may still be unwinding)."""
        started = time.monotonic()
        pause = SETTLE_POLL
        while True:
            left = await super().leftovers(baseline)
            if not left or time.monotonic() - started >= SETTLE_LIMIT:
                return left
            await anyio.sleep(pause)
            pause = min(pause * 2, SETTLE_GRACE)

    def adapt(self, factory_name: str, make: Callable[..., Any]) -> Callable[..., Any]:
        """A factory, run in a thread, that hands sync callbacks in and returns the facade."""

        async def build(**kwargs: Any) -> ThreadFacade:
            gate = _CancelGate()
            converted = {
                key: self.callbacks.sync(value, gate)
                if inspect.iscoroutinefunction(value)
                else value
                for key, value in kwargs.items()
            }
            made = await run_blocking(functools.partial(make, **converted))
            return ThreadFacade(made, factory_name, gate)

        return build


def _agree(
    first: tuple[int, int, tuple[Hashable, ...]], second: tuple[int, int, tuple[Hashable, ...]]
) -> bool:
    return first[:2] == second[:2] and _same(first[2], second[2])


def _activity(loop: GuardedLoop) -> int:
    # Every callback a thread hands to the loop goes through call_soon_threadsafe: an unchanged
    # count means no thread handed the loop anything between two snapshots.
    return int(getattr(loop, "activity", 0))


class _CountingLoop(GuardedLoop):
    """A real-clock guarded loop that counts what threads hand to it."""

    activity = 0

    def call_soon_threadsafe(self, callback: Any, *args: Any, context: Any = None) -> Any:
        self.activity += 1
        return super().call_soon_threadsafe(callback, *args, context=context)


class ThreadsBackend(Backend):
    """Runs thread-based implementations on the real clock through an async facade."""

    name = "threads"
    waived: ClassVar[Mapping[str, str]] = {
        "POOL-CANCEL-PROMPT": "threads cannot be interrupted, and promptness is judged on elapsed "
        "time, which real threads only approximate",
        "POOL-TIMEOUT": "judged on elapsed time, which real threads only approximate",
        "CANCEL-PROPAGATES": "a thread blocked in a call cannot be cancelled: the pool's own "
        "cancel() is what is driven",
    }
    unsupported: ClassVar[Mapping[Pattern, str]] = {
        pattern: "the threads backend drives only the worker pool (a thread blocked in a call "
        "cannot be cancelled, which these patterns' rules are about)"
        for pattern in Pattern
        if pattern is not Pattern.POOL
    }
    note = (
        f"threads backend: real clock, 1 model s = {TIME_SCALE} s; an instant is settled when "
        "every thread provably waits (or after "
        f"{SETTLE_LIMIT} s); cancel() is driven, and rules judged on elapsed time are not "
        "applicable"
    )

    def run(
        self, main: Callable[[Runtime], Awaitable[None]], budgets: Budgets, seed: int
    ) -> str | None:
        """A fresh real-clock guarded loop per example."""
        loop = _CountingLoop(budgets, virtual=False)
        loop.scale = TIME_SCALE
        loop.origin = loop.time()
        loop.wall_deadline = time.monotonic() + max(
            budgets.wall_budget, budgets.call_deadline * DEADLINE_SCALE * 20
        )
        runtime = ThreadsRuntime(loop)
        try:
            return run_guarded(loop, main(runtime))
        finally:
            runtime.callbacks.end()
