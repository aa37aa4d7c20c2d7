"""Bundled adapters: declarations of real libraries' public APIs, named by a short name.

``poolcheck check --impl janus`` is ``--impl harness.adapters.janus:implementation``. Each
adapter wraps its library's public API as the library's own users write it and declares the
deviations from the guide that the library documents (see ``docs/findings/README.md`` for what
the ecosystem matrix found). Third-party libraries are not dependencies of poolcheck: they come
with the ``ecosystem`` extra (``pip install 'poolcheck[ecosystem]'``), which ``nox -s
ecosystem`` installs pinned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["ADAPTERS", "EXTRA", "Adapter"]

#: The extra that installs every third-party library an adapter wraps.
EXTRA: Final = "ecosystem"


@dataclass(frozen=True, slots=True)
class Adapter:
    """One bundled adapter: its short name, module, and the distribution it wraps."""

    name: str
    module: str
    #: The PyPI distribution the adapter needs, or None for the standard library and trio.
    distribution: str | None
    summary: str
    #: The declaration's callable in ``module`` (a library's blocking form has its own).
    attr: str = "implementation"
    extra: str = EXTRA

    @property
    def spec(self) -> str:
        """The ``module:callable`` spec the short name stands for."""
        return f"{self.module}:{self.attr}"


def _adapter(
    name: str, module: str, distribution: str | None, summary: str, attr: str = "implementation"
) -> Adapter:
    return Adapter(name, f"harness.adapters.{module}", distribution, summary, attr)


#: Every bundled adapter by short name, standard library and trio first.
ADAPTERS: Final[dict[str, Adapter]] = {
    adapter.name: adapter
    for adapter in (
        _adapter("asyncio-queue", "asyncio_queue", None, "asyncio.Queue"),
        _adapter("asyncio-taskgroup", "asyncio_taskgroup", None, "asyncio.TaskGroup"),
        _adapter("asyncio-semaphore", "asyncio_semaphore", None, "asyncio.Semaphore"),
        _adapter(
            "thread-pool-executor",
            "thread_pool_executor",
            None,
            "concurrent.futures.ThreadPoolExecutor",
        ),
        _adapter("trio-channels", "trio_channels", None, "trio memory channels"),
        _adapter("trio-nursery", "trio_nursery", None, "trio nursery"),
        _adapter("trio-capacity-limiter", "trio_capacity_limiter", None, "trio.CapacityLimiter"),
        _adapter("janus", "janus", "janus", "janus.Queue (async side)"),
        _adapter("culsans", "culsans", "culsans", "culsans.Queue (async side)"),
        _adapter("aiometer", "aiometer", "aiometer", "aiometer.run_all (first-error group)"),
        _adapter("asyncio-throttle", "asyncio_throttle", "asyncio-throttle", "Throttler"),
        _adapter("throttler", "throttler", "throttler", "throttler.Throttler"),
        _adapter("limiter", "limiter", "limiter", "limiter.Limiter"),
        _adapter(
            "limiter-sync",
            "limiter",
            "limiter",
            "limiter.Limiter (blocking)",
            "sync_implementation",
        ),
        _adapter("token-bucket", "token_bucket", "token-bucket", "token_bucket.Limiter"),
        _adapter("opnieuw", "opnieuw", "opnieuw", "opnieuw.retry_async"),
        _adapter("opnieuw-sync", "opnieuw", "opnieuw", "opnieuw.retry", "sync_implementation"),
        _adapter("asyncio-pool", "asyncio_pool", "asyncio-pool", "asyncio_pool.AioPool"),
        _adapter("pebble", "pebble", "pebble", "pebble.ThreadPool"),
    )
}
