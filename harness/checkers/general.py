"""Pattern-independent rules: the guards' verdicts, and how a cancelled call ends.

Trace vocabulary beyond the guard events (``hang``, ``crash``, ``leak``)::

    caller_cancel      id: the call (``put(3)``, ``acquire() #2``); its caller cancelled it
                       (``how``: entry, once, twice, again; see harness.drivers.host)
    caller_cancel_end  id: the call; the cancelled call is over: ``ended`` cancelled (the
                       cancellation came out), returned (as if not cancelled), raised (another
                       exception: a refusal, a group's errors, which win over a cancellation
                       on asyncio and trio) or failed (a hang or crash, reported already);
                       ``delivered`` true when the cancellation certainly reached the call
                       (asyncio), false when it ended before its first await, null when
                       unknown (trio: a call that reached no checkpoint may return)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from harness.checking import Checker
from harness.events import Event, Scalar

CANCEL: Final = "CANCEL-PROPAGATES"


class GuardChecker(Checker):
    """NO-HANG, NO-CRASH and NO-LEAK from the guard events; CANCEL-PROPAGATES.

    A pool reports leaked tasks under POOL-NO-LEAK instead (see ``checkers.pool``), so this
    checker leaves ``leak`` events to it when the run's params name the pool pattern.

    CANCEL-PROPAGATES: a call that ``returned`` although its cancellation was ``delivered``
    swallowed it (a call the cancellation never reached may return: it ended before its first
    await, or on trio reached no checkpoint); a cancelled call still open at an ``idle`` goes
    on waiting, whatever the backend: a cancellation ends a wait at once.
    """

    rules = ("NO-HANG", "NO-CRASH", "NO-LEAK", CANCEL)

    def __init__(self, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        #: Cancelled calls not over yet: their ``caller_cancel``.
        self.cancelled: dict[Scalar, Event] = {}
        #: Those already reported still waiting (a call that waits for good is reported once).
        self.reported: set[Scalar] = set()

    def on_params(self, event: Event) -> None:
        """Every run exercises the guards."""
        self.exercise("NO-HANG")
        self.exercise("NO-CRASH")
        self.exercise("NO-LEAK")

    def on_hang(self, event: Event) -> None:
        """A call did not return by its deadline, or the run had to be aborted."""
        reason = event.get("reason") or f"no return within {event.get('deadline')}s of virtual time"
        self.violate("NO-HANG", f"{event.id}: {reason}", event)

    def on_crash(self, event: Event) -> None:
        """An unexpected exception escaped the implementation."""
        self.violate("NO-CRASH", f"{event.id} raised {event.get('error')}", event)

    def on_leak(self, event: Event) -> None:
        """Tasks outlived the run."""
        if self.params.get("pattern") != "pool":
            self.violate(
                "NO-LEAK", f"{event.get('count')} task(s) still alive: {event.get('tasks')}", event
            )

    # -- CANCEL-PROPAGATES -----------------------------------------------------------------
    def on_caller_cancel(self, event: Event) -> None:
        """A caller cancelled its call: it must end by raising the cancellation."""
        self.exercise(CANCEL)
        self.cancelled.setdefault(event.id, event)

    def on_caller_cancel_end(self, event: Event) -> None:
        """The cancelled call is over: returning after the cancellation reached it is a swallow."""
        sent = self.cancelled.pop(event.id, None)
        if event.id in self.reported:
            return
        if event.get("ended") == "returned" and event.get("delivered") is True:
            evidence = (event,) if sent is None else (sent, event)
            self.violate(
                CANCEL,
                f"{event.id} was cancelled by its caller and the cancellation reached it, but "
                "it returned as if it had not been: the cancellation was swallowed",
                *evidence,
            )

    def on_idle(self, event: Event) -> None:
        """Everything settled: no cancelled call still waits."""
        for ident, sent in self.cancelled.items():
            if ident not in self.reported:
                self.reported.add(ident)
                self.violate(
                    CANCEL,
                    f"{ident} still waits after its caller cancelled it at t={sent.t:.6g}: "
                    "the cancellation was swallowed",
                    sent,
                    event,
                )
