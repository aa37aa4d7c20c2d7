"""The backends that run an implementation's examples, and the one place that picks one.

``trio`` runs on trio's virtual clock, ``asyncio`` on looptime's virtual loop time,
``sync`` runs blocking retriers and limiters inline on trio's virtual clock, ``threads`` runs
thread-based pools on the real clock with a time scale. Each module defines one
:class:`~harness.backends.base.Backend`. On the virtual clocks the ``time`` module's clocks are
bridged to the run's (:mod:`harness.backends.clock`).
"""

from __future__ import annotations

import importlib
from typing import Final

from harness.backends.base import Backend, Runtime

__all__ = ["BACKEND_NAMES", "Backend", "Runtime", "backend_for", "backend_note"]

_MODULES: Final[dict[str, str]] = {
    "trio": "harness.backends.trio_run:TrioBackend",
    "asyncio": "harness.backends.asyncio_run:AsyncioBackend",
    "threads": "harness.backends.threads_run:ThreadsBackend",
    "sync": "harness.backends.sync_run:SyncBackend",
}

#: The backend names a declaration may give.
BACKEND_NAMES: Final = frozenset(_MODULES)

_CACHE: dict[str, Backend] = {}


def backend_note(name: str) -> str:
    """The report note of backend ``name``: "" if it has none or is no backend (a trace's)."""
    return backend_for(name).note if name in BACKEND_NAMES else ""


def backend_for(name: str) -> Backend:
    """The backend called ``name`` (imported on first use)."""
    backend = _CACHE.get(name)
    if backend is None:
        module_name, _, class_name = _MODULES[name].partition(":")
        backend = getattr(importlib.import_module(module_name), class_name)()
        assert isinstance(backend, Backend)
        _CACHE[name] = backend
    return backend
