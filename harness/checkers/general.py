"""Pattern-independent rules decided from the guard events every run records."""

from __future__ import annotations

from harness.checking import Checker
from harness.events import Event


class GuardChecker(Checker):
    """NO-HANG, NO-CRASH and NO-LEAK from ``hang``, ``crash`` and ``leak`` events.

    A pool reports leaked tasks under POOL-NO-LEAK instead (see ``checkers.pool``), so this
    checker leaves ``leak`` events to it when the run's params name the pool pattern.
    """

    rules = ("NO-HANG", "NO-CRASH", "NO-LEAK")

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
