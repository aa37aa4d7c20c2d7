"""Checkers, one module per pattern; each class decides one or more rule IDs."""

from __future__ import annotations

from collections import OrderedDict
from typing import Final, TypeVar

K = TypeVar("K")
V = TypeVar("V")

#: How many finished items a checker remembers (to catch a late duplicate); older ones are
#: forgotten so a stress run of millions of jobs checks in flat memory. Far more than any
#: implementation keeps in flight, so a duplicate of a forgotten item is still caught as an
#: item that was never accepted.
RECENT_LIMIT: Final = 65_536


class Recent(OrderedDict[K, V]):
    """A dict (or, with :meth:`add`, a set) that forgets its oldest keys beyond ``limit``.

    An OrderedDict, not a dict: deleting a plain dict's first key again and again leaves a
    growing run of dead slots that ``next(iter(d))`` must skip, so eviction would cost O(limit).
    """

    def __init__(self, limit: int = RECENT_LIMIT) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        if len(self) > self.limit:
            self.popitem(last=False)

    def add(self: Recent[K, None], key: K) -> None:
        """Remember ``key`` as a set member."""
        self[key] = None

    def discard(self, key: K) -> None:
        """Forget ``key`` if present."""
        self.pop(key, None)
