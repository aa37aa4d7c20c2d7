"""Checkers: streaming folds over a trace, one concern each, reporting violations by rule ID.

A checker sees events one at a time through ``on_<kind>`` methods and keeps only the state it
needs (open puts, waiting jobs, a window of admissions), so the same code checks a ten-event
counterexample and a million-job stress trace in flat memory. Two event kinds are shared by all
patterns: ``idle`` (the system under test has settled at this virtual instant: every task is
blocked, so anything that was due must have happened) and ``end`` (the run is over and torn
down; eventual properties are decided here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Final

from harness.events import Event
from harness.rules import RULES

#: How many offending events a violation keeps, so reports stay short and memory flat.
MAX_EVIDENCE: Final = 8
#: How many violations of one rule a checker keeps; the count goes on.
MAX_VIOLATIONS_KEPT: Final = 5
#: Virtual-time tolerance for comparisons of float instants.
EPSILON: Final = 1e-9


class Verdict(StrEnum):
    """A rule's verdict for one implementation."""

    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "not-applicable"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Violation:
    """A rule broken by ``events`` (the first few that show it), explained by ``message``."""

    rule_id: str
    message: str
    events: tuple[Event, ...] = ()

    def describe(self) -> str:
        """One line: the rule, the message, and the instant of the first offending event."""
        at = f" (at t={self.events[0].t:.6g})" if self.events else ""
        return f"{self.rule_id}: {self.message}{at}"


class Checker:
    """Base of every checker: dispatches events to ``on_<kind>`` methods, collects violations.

    Subclasses set ``rules`` (the IDs they decide) and read their parameters from ``params``
    (the run's ``params`` event, or ``--param`` on the command line).
    """

    rules: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: Mapping[str, Any]) -> None:
        for rule_id in self.rules:
            if rule_id not in RULES:
                raise ValueError(f"{type(self).__name__} checks unknown rule {rule_id!r}")
        self.params = params
        self.violations: list[Violation] = []
        self.violation_count = 0
        self.exercised: set[str] = set()

    def handlers(self) -> dict[str, Callable[[Event], None]]:
        """Map each event kind this checker folds to its bound ``on_<kind>`` method."""
        names = _HANDLER_NAMES.get(type(self))
        if names is None:
            # ``dir`` of a checker class costs more than folding a short example: every
            # example builds its checkers afresh, so each class is read once.
            cls = type(self)
            names = _HANDLER_NAMES[cls] = tuple(
                name for name in dir(cls) if name.startswith("on_") and callable(getattr(cls, name))
            )
        return {name[3:]: getattr(self, name) for name in names}

    def violate(self, rule_id: str, message: str, *events: Event) -> None:
        """Record that ``rule_id`` is broken, keeping the first few violations verbatim."""
        assert rule_id in self.rules, f"{type(self).__name__} does not decide {rule_id}"
        self.violation_count += 1
        if len(self.violations) < MAX_VIOLATIONS_KEPT:
            self.violations.append(Violation(rule_id, message, tuple(events[:MAX_EVIDENCE])))

    def exercise(self, rule_id: str) -> None:
        """Note that the trace gave ``rule_id`` something to check (else it is unknown)."""
        self.exercised.add(rule_id)


#: Each checker class's ``on_<kind>`` method names (see :meth:`Checker.handlers`).
_HANDLER_NAMES: dict[type, tuple[str, ...]] = {}


def param(params: Mapping[str, Any], name: str, kind: type, default: Any = ...) -> Any:
    """Read a run parameter, converting it to ``kind``; a missing one without default raises."""
    if name not in params:
        if default is ...:
            raise KeyError(f"missing run parameter {name!r}")
        return default
    value = params[name]
    if value is None:
        return None
    return kind(value)


class TraceChecker:
    """Feeds one trace to a set of checkers: the streaming fold shared by models and tools."""

    def __init__(self, checkers: Iterable[Checker]) -> None:
        self.checkers = list(checkers)
        #: Each event kind's handlers, in checker order: what :meth:`feed` calls.
        self.table: dict[str, list[Callable[[Event], None]]] = {}
        for checker in self.checkers:
            for kind, handler in checker.handlers().items():
                self.table.setdefault(kind, []).append(handler)

    def feed(self, event: Event) -> None:
        """Fold one event into every checker that cares about its kind."""
        for handler in self.table.get(event.kind, ()):
            handler(event)

    def feed_all(self, events: Iterable[Event]) -> None:
        """Fold a whole (possibly lazy) trace."""
        table = self.table
        for event in events:
            for handler in table.get(event.kind, ()):
                handler(event)

    def violations(self) -> list[Violation]:
        """Every violation kept so far, in checker order."""
        return [v for checker in self.checkers for v in checker.violations]

    def rule_ids(self) -> set[str]:
        """Every rule some checker here decides."""
        return {rule_id for checker in self.checkers for rule_id in checker.rules}

    def exercised(self) -> set[str]:
        """The rules the trace gave something to check."""
        return set().union(*(checker.exercised for checker in self.checkers))
