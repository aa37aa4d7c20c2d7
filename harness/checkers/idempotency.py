"""IDEMPOTENT-EFFECT: each key's effect applied exactly once, whatever the deliveries.

Event kinds read (the idempotency driver writes them; ``id`` is the natural key throughout):

``deliver`` (``delivery``, ``value``)
    ``apply(key, value)`` is called; ``delivery`` numbers the call.
``effect_begin`` (``effect``, ``value``)
    the sink entered the effect for the key (``effect`` numbers the invocation).
``effect_end`` (``effect``, ``ok``, ``cancelled``)
    the effect returned (``ok`` true) or raised (``ok`` false: the key is not applied);
    ``cancelled``: what it raised was a cancellation, which leaves the key unapplied as well.
``apply_end`` (``delivery``, ``outcome``)
    the ``apply`` call ended: ``applied`` (returned True), ``duplicate`` (returned False),
    ``error`` (the effect's error came out of it) or ``cancelled`` (its caller's cancellation
    came out of it).

The rule, as folded here: an effect may not start while the key is applied or while another
effect for the key is still running; ``apply`` returns True only for a successful effect no
other call has claimed, and False only once the key is applied; at the end, a key whose
effect succeeded must have had one call return True (checked once no call for it is open). A
cancelled effect is a failed one: the key stays applicable, so a later delivery that finds it
"applied" (False) is caught by the same clauses; and a call whose effect succeeded must report
it, so a cancellation that comes out of ``apply`` after the effect succeeded leaves the key
applied with no call returning True.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.checking import Checker
from harness.events import Event, Scalar


@dataclass(slots=True)
class _Key:
    """What the checker remembers about one natural key."""

    applied: Event | None = None
    running: Event | None = None
    running_count: int = 0
    claimed: bool = False
    open_deliveries: int = 0
    deliveries: int = 0
    failures: int = 0
    #: The last effect for the key that failed or was cancelled.
    failed: Event | None = None


class IdempotencyChecker(Checker):
    """Folds effect and apply events per key."""

    rules = ("IDEMPOTENT-EFFECT",)

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.keys: dict[Scalar, _Key] = {}

    def _key(self, event: Event) -> _Key:
        key = self.keys.get(event.id)
        if key is None:
            key = self.keys[event.id] = _Key()
        return key

    def on_deliver(self, event: Event) -> None:
        """Count an open delivery."""
        key = self._key(event)
        key.open_deliveries += 1
        key.deliveries += 1

    def on_effect_begin(self, event: Event) -> None:
        """Check the key is neither applied nor being applied when its effect starts."""
        key = self._key(event)
        if key.applied is not None:
            self.violate(
                "IDEMPOTENT-EFFECT",
                f"key {event.id!r}: effect ran again after it was applied",
                key.applied,
                event,
            )
        elif key.running is not None:
            self.violate(
                "IDEMPOTENT-EFFECT",
                f"key {event.id!r}: effect started while another effect for it was running",
                key.running,
                event,
            )
        if key.failures:
            self.exercise("IDEMPOTENT-EFFECT")
        key.running = event
        key.running_count += 1

    def on_effect_end(self, event: Event) -> None:
        """Mark the key applied after a successful effect; a failed one leaves it applicable."""
        key = self._key(event)
        key.running_count = max(0, key.running_count - 1)
        if key.running_count == 0:
            key.running = None
        if event.get("ok"):
            if key.applied is None:
                key.applied = event
        else:
            key.failures += 1
            key.failed = event

    def on_apply_end(self, event: Event) -> None:
        """Check ``apply`` says True only for a fresh effect, False only for an applied key."""
        key = self._key(event)
        key.open_deliveries = max(0, key.open_deliveries - 1)
        outcome = event.get("outcome")
        if key.deliveries > 1 or key.failures or outcome == "cancelled":
            self.exercise("IDEMPOTENT-EFFECT")
        if outcome == "applied":
            if key.applied is None:
                self.violate(
                    "IDEMPOTENT-EFFECT",
                    f"key {event.id!r}: apply returned True but no effect for it succeeded",
                    event,
                )
            elif key.claimed:
                self.violate(
                    "IDEMPOTENT-EFFECT",
                    f"key {event.id!r}: apply returned True again, though its effect ran once",
                    key.applied,
                    event,
                )
            key.claimed = True
        elif outcome == "duplicate" and key.applied is None:
            if key.running is not None:
                where, before = " (its effect was still running)", key.running
            elif key.failed is not None:
                how = "was cancelled" if key.failed.get("cancelled") else "failed"
                where, before = f" (its last effect {how}, which leaves it applicable)", key.failed
            else:
                where, before = "", None
            self.violate(
                "IDEMPOTENT-EFFECT",
                f"key {event.id!r}: apply returned False, but the key was never applied{where}",
                *(e for e in (before, event) if e is not None),
            )

    def on_end(self, event: Event) -> None:
        """Check each successful effect was reported by exactly one ``apply``."""
        for ident, key in self.keys.items():
            if key.applied is not None and not key.claimed and key.open_deliveries == 0:
                self.violate(
                    "IDEMPOTENT-EFFECT",
                    f"key {ident!r}: its effect succeeded but no apply returned True",
                    key.applied,
                    event,
                )
