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

from harness.checking import Checker
from harness.contract import Implementation
from harness.drivers.host import Host
from harness.rules import Pattern

__all__ = ["Driver", "receiver"]


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
