"""A trio nursery as poolcheck's first-error group (backend ``trio``).

    poolcheck check --impl harness.adapters.trio_nursery:implementation

Used as trio's users use it: ``async with trio.open_nursery() as nursery:
nursery.start_soon(fn)``. The contract's group is the object used in ``async with`` and also
has ``start_soon``, while trio's ``open_nursery()`` returns a manager whose ``__aenter__``
gives the nursery; the adapter only holds both.

Since trio 0.25 nurseries are strict by default: every error leaves the nursery inside an
``ExceptionGroup`` (the first error included, with any errors of siblings raised while they
were cancelled), which the adapter passes through unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import trio


class Nursery:
    """``trio.open_nursery()`` entered with ``async with``, and its nursery's ``start_soon``."""

    def __init__(self) -> None:
        self._manager = trio.open_nursery()
        self._nursery: trio.Nursery | None = None

    async def __aenter__(self) -> Nursery:
        self._nursery = await self._manager.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return await self._manager.__aexit__(exc_type, exc, tb)

    def start_soon(self, fn: Callable[[], Awaitable[Any]]) -> None:
        """``nursery.start_soon(fn)``."""
        if self._nursery is None:
            raise RuntimeError("start_soon() outside the nursery's async with block")
        self._nursery.start_soon(fn)


def implementation() -> dict[str, Any]:
    """The declaration of trio's nursery for poolcheck."""
    return {
        "name": "trio-nursery",
        "backend": "trio",
        "capabilities": [],
        "factories": {"first_error_group": Nursery},
    }
