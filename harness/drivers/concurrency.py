"""The concurrency driver: tasks that acquire a slot, hold it, and release it, on one limiter.

One limiter per run, from ``params["limit"]``. It is driven in one of two forms, as its users
write it: ``await limiter.acquire()`` ... ``limiter.release()`` when it has both methods,
else ``async with limiter:`` (its ``__aenter__`` and ``__aexit__``). ``release()`` and
``__aexit__`` may be plain functions or coroutines (:meth:`Host.call` awaits what is
awaitable); so may ``acquire``, though a blocking acquire belongs on a backend that runs it.

Each holder is **one harness task** from start to end (:meth:`ConcurrencyDriver.hold`): it
acquires, holds until told to release (or for a given duration), then releases. Libraries tie
a slot to the task that took it (trio's ``CapacityLimiter`` raises if another task releases),
so the acquire and the release must come from the same task. Its caller can cancel the task,
natively for the backend (:class:`~harness.drivers.host.CallerScope`): before its acquire
starts or while it waits, which is a cancelled acquire; or while it holds, which ends its block
the way ``async with`` does, the release (or ``__aexit__`` with the cancellation) called inside
a shield, as asyncio's edge-triggered cancellation would let it run.

With capability ``strict_release``, :meth:`ConcurrencyDriver.stray_release` calls ``release()``
from a task that holds no slot: raising is allowed (``stray_refused``), and so is returning
(``stray_returned``); the checker then watches that no slot was created.

Events (see :mod:`harness.checkers.concurrency`): ``created``, ``acquire``, ``grant``,
``cancel``, ``acquire_cancelled``, ``acquire_failed``, ``release``, ``released``,
``release_failed``, ``stray_release``, ``stray_refused``, ``stray_returned``, plus the shared
``hang``/``crash`` and ``caller_cancel``/``caller_cancel_end`` (for the acquire).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import anyio

from harness.checkers.concurrency import ConcurrencyChecker
from harness.checking import Checker
from harness.drivers.base import Driver
from harness.drivers.host import CallerScope, Host, NotAProduct, StepFailed
from harness.rules import Pattern

__all__ = ["ConcurrencyDriver", "Holder"]

WAITING, HOLDING, RELEASING, DONE = "waiting", "holding", "releasing", "done"


class Holder:
    """One holder task's state: its caller's cancellation, its release signal, where it is."""

    def __init__(self, host: Host, ident: Any) -> None:
        #: The caller of the acquire, then (a new one) of the hold.
        self.caller = CallerScope(host, "cancel", ident)
        self.release_now = anyio.Event()
        self.state = WAITING


def _not_a_limiter(made: Any) -> str | None:
    """Why ``made`` can be driven in neither form, or None."""

    def offers(name: str) -> bool:
        try:
            return callable(getattr(made, name, None))
        except Exception:
            return False

    if (offers("acquire") and offers("release")) or (offers("__aenter__") and offers("__aexit__")):
        return None
    return (
        f"returned {made!r:.60}, not a concurrency limiter (neither acquire and release nor "
        "__aenter__ and __aexit__)"
    )


class ConcurrencyDriver(Driver):
    """One ``concurrency_limiter`` and the tasks that hold or wait for its slots."""

    pattern: ClassVar[Pattern] = Pattern.CONCURRENCY
    factories: ClassVar[tuple[str, ...]] = ("concurrency_limiter",)

    def __init__(self, host: Host, params: Mapping[str, Any]) -> None:
        super().__init__(host, params)
        self.limiter: Any = None
        #: ``acquire`` (acquire/release) or ``context`` (``async with``).
        self.form = "acquire"
        #: Every holder task alive, by number.
        self.holders: dict[Any, Holder] = {}

    @classmethod
    def make_checkers(cls, params: Mapping[str, Any]) -> list[Checker]:
        """One checker folds every concurrency rule."""
        return [ConcurrencyChecker(params)]

    async def setup(self) -> None:
        """Build the limiter and choose its form: acquire/release if it has both."""
        make = self.host.factory("concurrency_limiter")

        def build(limit: int) -> Any:
            made = make(limit=limit)
            problem = _not_a_limiter(made)
            if problem is not None:
                raise NotAProduct(problem)
            return made

        self.limiter = self.host.call_sync(
            "concurrency_limiter()", build, int(self.params["limit"])
        )
        # Both looked up, so that a missing release() is noted (its rule is not-applicable).
        paired = [self.has(self.limiter, name) for name in ("acquire", "release")]
        self.form = "acquire" if all(paired) else "context"
        self.record("created", form=self.form)

    def can_release_stray(self) -> bool:
        """Whether a stray release may be tried: declared harmless, and a release() to call."""
        return self.implementation.has("strict_release") and self.form == "acquire"

    # -- who is where ------------------------------------------------------------------------
    def in_state(self, state: str) -> list[Any]:
        """The holder numbers in ``state`` (waiting, holding, ...), in number order."""
        return sorted(ident for ident, h in self.holders.items() if h.state == state)

    # -- one holder, start to end ------------------------------------------------------------
    async def hold(
        self,
        ident: Any,
        duration: float | None = None,
        *,
        deadline: bool = True,
        cancel_first: bool = False,
    ) -> str:
        """Acquire, hold until :meth:`release` (or for ``duration``), release: in this task.

        Without ``deadline`` the acquire may wait as long as it takes (the search's holders may
        never release); the checker judges at each settled instant whether it should have
        been granted. With ``cancel_first`` the caller has cancelled the task before its
        acquire starts. Returns how it ended: ``released``, ``acquire_cancelled``, or raises
        :class:`StepFailed` after a hang or crash (recorded).
        """
        holder = self.holders[ident] = Holder(self.host, ident)
        if cancel_first:
            holder.caller.cancel("entry")
        limiter = self.limiter
        if self.form == "acquire":
            what, enter = f"acquire() #{ident}", limiter.acquire
        else:
            what, enter = f"__aenter__() #{ident}", limiter.__aenter__
        try:
            self.record("acquire", ident)
            try:
                await holder.caller.call(what, enter, deadline=deadline)
            except StepFailed:
                self.record("acquire_failed", ident)
                raise
            if holder.caller.stopped:
                self.record("acquire_cancelled", ident)
                return "acquire_cancelled"
            holder.state = HOLDING
            self.record("grant", ident)

            async def holding() -> None:
                if duration is None:
                    await holder.release_now.wait()
                else:
                    await self.host.sleep(duration)

            # The hold is the harness's own wait, in the task's block: its cancellation is
            # the block's, handed to the release as ``async with`` hands it to ``__aexit__``.
            holder.caller = CallerScope(self.host, "cancel", ident)
            await holder.caller.call(f"hold #{ident}", holding, deadline=False, judged=False)
            await self._exit(ident, holder, holder.caller.caught if holder.caller.stopped else None)
            return "released"
        finally:
            holder.state = DONE
            self.holders.pop(ident, None)

    async def _exit(self, ident: Any, holder: Holder, exc: BaseException | None) -> None:
        """Release the slot; inside a cancellation, shielded as asyncio would let it run."""
        holder.state = RELEASING
        self.record("release", ident, cancelled=exc is not None)
        limiter = self.limiter
        fn: Callable[..., Any]
        args: tuple[Any, ...]
        if self.form == "acquire":
            what, fn, args = f"release() #{ident}", limiter.release, ()
        else:
            what, fn = f"__aexit__() #{ident}", limiter.__aexit__
            args = (None, None, None) if exc is None else (type(exc), exc, exc.__traceback__)
        with anyio.CancelScope(shield=exc is not None):
            try:
                await self.host.call(what, fn, *args)
            except StepFailed:
                self.record("release_failed", ident)
                raise
        self.record("released", ident)

    # -- what the caller tells a holder --------------------------------------------------------
    def release(self, ident: Any) -> None:
        """Tell holder ``ident`` to release its slot."""
        self.holders[ident].release_now.set()

    def cancel(self, ident: Any, how: str = "once") -> None:
        """Cancel holder ``ident``'s task, waiting or holding (``how``: ``CANCEL_HOWS``).

        A task already releasing is left alone: its release runs to its end (a cancelled
        release would leave nobody knowing whether the slot came back).
        """
        holder = self.holders[ident]
        if holder.state in (WAITING, HOLDING):
            holder.caller.cancel(how)

    def finish(self) -> None:
        """Cancel every waiter, then tell every holder to release (the run's end)."""
        for ident in self.in_state(WAITING):
            self.cancel(ident)
        for ident in self.in_state(HOLDING):
            self.release(ident)

    async def stray_release(self, ident: Any) -> str:
        """Call ``release()`` from this task, which holds no slot; raising is allowed.

        Returns the kind recorded: ``stray_refused`` (it raised) or ``stray_returned``.
        """
        release = self.limiter.release

        async def attempt() -> Exception | None:
            try:
                result = release()
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                return exc
            return None

        self.record("stray_release", ident)
        refused = await self.host.call(f"release() by non-holder s{ident}", attempt)
        if refused is None:
            self.record("stray_returned", ident)
            return "stray_returned"
        self.record("stray_refused", ident, error=repr(refused)[:200])
        return "stray_refused"
