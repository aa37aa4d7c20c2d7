"""Idempotent side effects (guide §5): apply each job's effect at most once per key.

Retries (§5) and at-least-once delivery mean the same job can arrive twice, possibly at the
same time. The guide's advice is to make side effects safe to repeat, e.g. with "upserts,
natural keys". :class:`IdempotentSink` does exactly that: it remembers which keys have been
applied in a :class:`KeyStore`, and only marks a key *after* its effect succeeded, so a failed
effect can be retried while a successful one is never repeated.

Two stores are provided: :class:`MemoryKeyStore` (a set) and :class:`SqliteKeyStore`, which
marks keys with the guide's upsert, ``INSERT ... ON CONFLICT(key) DO NOTHING``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, Protocol, TypeVar

import trio

from reference.instrumentation import Metrics

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)

# Counter names used here (beside the shared ones in reference.instrumentation).
EFFECTS_APPLIED = "effects_applied"
DUPLICATES = "duplicates"


class KeyStore(Protocol[K_contra]):
    """Where an :class:`IdempotentSink` records the keys whose effect has been applied."""

    def __contains__(self, key: K_contra, /) -> bool:
        """Return True if ``key`` has been marked as applied."""
        ...

    def add(self, key: K_contra, /) -> bool:
        """Mark ``key`` as applied; return True if it was not marked before."""
        ...


class MemoryKeyStore(Generic[K]):
    """A :class:`KeyStore` kept in a Python set; it lives as long as the process."""

    def __init__(self) -> None:
        self._keys: set[K] = set()

    def __contains__(self, key: K, /) -> bool:
        """Return True if ``key`` has been marked as applied."""
        return key in self._keys

    def __len__(self) -> int:
        """Return how many keys are marked."""
        return len(self._keys)

    def add(self, key: K, /) -> bool:
        """Mark ``key`` as applied; return True if it was not marked before."""
        if key in self._keys:
            return False
        self._keys.add(key)
        return True


class SqliteKeyStore:
    """A :class:`KeyStore` in an SQLite table, so marks can survive a restart (given a file).

    Keys must be ``str`` or ``int``. They are stored in one ``TEXT PRIMARY KEY`` column as
    ``"s:" + key`` or ``"i:" + str(int(key))``, so the string ``"1"`` and the integer ``1`` stay
    distinct keys (as they are in a Python set), while ``True`` and ``1`` coincide (as they
    also do in a set). The calls are synchronous: each is one small local statement, and
    keeping mark-after-effect free of checkpoints keeps it atomic with respect to trio tasks.
    """

    def __init__(self, path: str = ":memory:") -> None:
        # Autocommit: each upsert is its own transaction, durable as soon as it returns.
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("CREATE TABLE IF NOT EXISTS applied (key TEXT PRIMARY KEY NOT NULL)")

    @staticmethod
    def _encode(key: str | int) -> str:
        if isinstance(key, str):
            return "s:" + key
        if isinstance(key, int):
            return "i:" + str(int(key))
        raise TypeError(f"SqliteKeyStore keys must be str or int, got {type(key).__name__}")

    def __contains__(self, key: str | int, /) -> bool:
        """Return True if ``key`` has been marked as applied."""
        row = self._db.execute(
            "SELECT 1 FROM applied WHERE key = ?", (self._encode(key),)
        ).fetchone()
        return row is not None

    def __len__(self) -> int:
        """Return how many keys are marked."""
        (count,) = self._db.execute("SELECT COUNT(*) FROM applied").fetchone()
        return int(count)

    def add(self, key: str | int, /) -> bool:
        """Mark ``key`` with an upsert; return True if this call inserted it."""
        cursor = self._db.execute(
            "INSERT INTO applied (key) VALUES (?) ON CONFLICT(key) DO NOTHING",
            (self._encode(key),),
        )
        return cursor.rowcount == 1

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()


class IdempotentSink(Generic[K, V]):
    """Runs ``effect(key, value)`` at most once per key, however often ``apply`` is called.

    Concurrent calls for one key are serialised: the second waits for the first and then
    finds the key applied (or, if the first failed, runs the effect itself). The at-most-once
    guarantee covers every call through this sink; sinks sharing one store should also
    share the sink, since the in-flight bookkeeping lives here.
    """

    def __init__(
        self,
        effect: Callable[[K, V], Awaitable[None]],
        store: KeyStore[K] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.effect = effect
        self.store: KeyStore[K] = store if store is not None else MemoryKeyStore[K]()
        self.metrics = metrics if metrics is not None else Metrics()
        # key -> Event set when the call currently applying that key finishes (either way).
        self._in_flight: dict[K, trio.Event] = {}

    async def apply(self, key: K, value: V) -> bool:
        """Apply the effect for ``key`` unless already applied; return True if it ran now.

        If the effect raises (or is cancelled) the key stays unmarked and the error
        propagates, so a later retry may apply it.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            if key in self.store:
                self.metrics.incr(DUPLICATES)
                # Every apply is a checkpoint, whichever way it goes.
                await trio.lowlevel.cancel_shielded_checkpoint()
                return False
            running = self._in_flight.get(key)
            if running is None:
                break
            # Someone is applying this key right now: wait, then look again, because their
            # effect may have failed and left the key for us.
            await running.wait()
        done = self._in_flight[key] = trio.Event()
        try:
            await self.effect(key, value)
            # No checkpoint between the effect finishing and the mark: nothing can interleave.
            self.store.add(key)
        finally:
            del self._in_flight[key]
            done.set()
        self.metrics.incr(EFFECTS_APPLIED)
        return True
