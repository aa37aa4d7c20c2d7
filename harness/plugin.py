"""Loading an implementation under test from a ``module:callable`` spec.

Every implementation, the reference included, arrives through :func:`load_implementation`.
Whatever goes wrong here is the user's configuration, so it becomes a :class:`ConfigError`
with one clear sentence, never a traceback.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from harness.contract import (
    BACKENDS,
    CAPABILITIES,
    DEFAULT_CLOSED_ERRORS,
    DEFAULT_END_ERRORS,
    DEFAULT_WOULD_BLOCK_ERRORS,
    FACTORIES,
    Implementation,
)


class ConfigError(Exception):
    """A usage or configuration error: reported as one line, exit code 2."""


def _field(declaration: object, name: str, default: Any = ...) -> Any:
    if isinstance(declaration, Mapping):
        value = declaration.get(name, default)
    else:
        value = getattr(declaration, name, default)
    if value is ...:
        raise ConfigError(f"the declaration has no {name!r}")
    return value


def load_implementation(spec: str) -> Implementation:
    """Import ``module:callable``, call it, and validate the declaration it returns."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(
            f"--impl {spec!r}: expected MODULE:CALLABLE, e.g. reference.plugin:implementation"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"--impl {spec!r}: cannot import module {exc.name!r}") from None
    except Exception as exc:
        raise ConfigError(f"--impl {spec!r}: importing {module_name} raised {exc!r}") from None
    factory = getattr(module, attr, None)
    if factory is None:
        raise ConfigError(f"--impl {spec!r}: module {module_name} has no attribute {attr!r}")
    if not callable(factory):
        raise ConfigError(f"--impl {spec!r}: {attr} is not callable")
    try:
        declaration = factory()
    except Exception as exc:
        raise ConfigError(f"--impl {spec!r}: the factory raised {exc!r}") from None
    try:
        return _validate(spec, declaration)
    except ConfigError as exc:
        raise ConfigError(f"--impl {spec!r}: {exc}") from None


def _validate(spec: str, declaration: object) -> Implementation:
    name = _field(declaration, "name")
    if not isinstance(name, str) or not name:
        raise ConfigError("'name' must be a non-empty string")
    backend = _field(declaration, "backend")
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ConfigError(f"backend {backend!r} is not supported (known: {sorted(BACKENDS)})")
    capabilities = frozenset(_field(declaration, "capabilities", ()))
    unknown = capabilities - CAPABILITIES.keys()
    if unknown:
        raise ConfigError(f"unknown capabilities {sorted(unknown)} (known: {sorted(CAPABILITIES)})")
    factories = _field(declaration, "factories")
    if not isinstance(factories, Mapping) or not factories:
        raise ConfigError("'factories' must be a non-empty mapping of factory name to callable")
    for factory_name, make in factories.items():
        if factory_name not in FACTORIES:
            raise ConfigError(f"unknown factory {factory_name!r} (known: {sorted(FACTORIES)})")
        if not callable(make):
            raise ConfigError(f"factory {factory_name!r} is not callable")
    closed_errors = _error_types(declaration, "closed_errors")
    would_block_errors = _error_types(declaration, "would_block_errors")
    end_errors = _error_types(declaration, "end_errors")
    counters: Callable[[Any], Mapping[str, int]] | None = _field(declaration, "counters", None)
    if "metrics" in capabilities and not callable(counters):
        raise ConfigError("capability 'metrics' needs a callable 'counters'")
    return Implementation(
        spec=spec,
        name=name,
        backend=backend,
        capabilities=capabilities,
        factories=dict(factories),
        closed_errors=closed_errors or DEFAULT_CLOSED_ERRORS,
        would_block_errors=would_block_errors or DEFAULT_WOULD_BLOCK_ERRORS,
        # An async iterator's end always means "no more items", whatever else is declared.
        end_errors=tuple(dict.fromkeys((*(end_errors or DEFAULT_END_ERRORS), StopAsyncIteration))),
        counters=counters,
    )


def _error_types(declaration: object, name: str) -> tuple[type[BaseException], ...]:
    value = _field(declaration, name, ())
    try:
        types = tuple(value)
    except TypeError:
        raise ConfigError(f"{name!r} must be a sequence of exception types") from None
    if not all(isinstance(t, type) and issubclass(t, BaseException) for t in types):
        raise ConfigError(f"{name!r} must be exception types")
    return types
