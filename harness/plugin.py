"""Loading an implementation under test from a ``module:callable`` spec.

Every implementation, the reference included, arrives through :func:`load_implementation`.
Whatever goes wrong here is the user's configuration, so it becomes a :class:`ConfigError`
with one clear sentence, never a traceback. That includes the implementation ending the
process while it is imported or declared (``sys.exit``, a ``KeyboardInterrupt`` it raises
itself): its fault, said in one line, never poolcheck's silent exit.

:func:`watching_user_signals` tells such faults from the user's own Ctrl-C, which must still
stop poolcheck.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import signal
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import metadata
from types import FrameType
from typing import Any

from harness.adapters import ADAPTERS, Adapter
from harness.contract import (
    BACKENDS,
    CAPABILITIES,
    DEFAULT_CLOSED_ERRORS,
    DEFAULT_END_ERRORS,
    DEFAULT_WOULD_BLOCK_ERRORS,
    FACTORIES,
    SUPPORTABLE,
    Bound,
    Implementation,
)
from harness.rules import RULES


class ConfigError(Exception):
    """A usage or configuration error: reported as one line, exit code 2."""


class _SignalWatch:
    """Whether the user signalled poolcheck (Ctrl-C, or a SIGTERM a handler turns into one)."""

    def __init__(self) -> None:
        self.depth = 0
        self.signalled = False


_WATCH = _SignalWatch()
#: The signals a user stops poolcheck with; each is watched only if a Python handler runs it.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def watching_user_signals() -> Iterator[None]:
    """While inside, remember whether the user sent SIGINT (or a handled SIGTERM).

    An implementation may raise ``KeyboardInterrupt`` or ``SystemExit`` itself; that is its
    fault and becomes a verdict. The same exception from the user's Ctrl-C must stop
    poolcheck. Nothing in the exception tells them apart, so each Python-level handler of a
    stop signal is wrapped to set a flag before it runs (:func:`user_signalled`). Signal
    handlers can only be set from the main thread; elsewhere no signal is delivered anyway.

    Trio only takes over SIGINT when the handler is Python's default, so inside this block a
    Ctrl-C raises ``KeyboardInterrupt`` wherever the interpreter is, as in plain Python:
    harmless, since whatever then comes out of the run is re-raised as the user's stop.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _WATCH.depth += 1
    if _WATCH.depth > 1:  # an outer block watches already
        try:
            yield
        finally:
            _WATCH.depth -= 1
        return
    _WATCH.signalled = False
    previous: dict[signal.Signals, Any] = {}
    for signum in _STOP_SIGNALS:
        handler = signal.getsignal(signum)
        if callable(handler):
            previous[signum] = handler
            signal.signal(signum, _flagging(handler))
    try:
        yield
    finally:
        _WATCH.depth -= 1
        for stopped, handler in previous.items():
            signal.signal(stopped, handler)


def _flagging(handler: Callable[[int, FrameType | None], Any]) -> Callable[..., Any]:
    def flag_then_handle(signum: int, frame: FrameType | None) -> Any:
        _WATCH.signalled = True
        return handler(signum, frame)

    return flag_then_handle


def user_signalled() -> bool:
    """Whether the user sent a stop signal inside the current :func:`watching_user_signals`."""
    return _WATCH.signalled


def _from_inside(spec: str, doing: str, exc: BaseException) -> ConfigError:
    """The one-line error for a fault of the implementation while it is loaded."""
    return ConfigError(
        f"--impl {spec!r}: {doing} raised {exc!r} (from inside the implementation, not poolcheck)"
    )


def _field(declaration: object, name: str, default: Any = ...) -> Any:
    if isinstance(declaration, Mapping):
        value = declaration.get(name, default)
    else:
        value = getattr(declaration, name, default)
    if value is ...:
        raise ConfigError(f"the declaration has no {name!r}")
    return value


def load_implementation(spec: str) -> Implementation:
    """Import ``module:callable``, call it, and validate the declaration it returns.

    A bundled adapter's short name (``janus``, ``trio-nursery``: see
    :data:`harness.adapters.ADAPTERS`) stands for its module's ``implementation``.
    """
    adapter = ADAPTERS.get(spec)
    if adapter is not None:
        with watching_user_signals():
            return _load_adapter(adapter)
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        known = ", ".join(sorted(ADAPTERS))
        raise ConfigError(
            f"--impl {spec!r}: expected MODULE:CALLABLE, e.g. reference.plugin:implementation, "
            f"or a bundled adapter ({known})"
        )
    with watching_user_signals():
        return _load(spec, module_name, attr)


def _load_adapter(adapter: Adapter) -> Implementation:
    """Load a bundled adapter: its library must be installed, and a fault in it is its own."""
    if adapter.distribution is not None:
        try:
            version = metadata.version(adapter.distribution)
        except metadata.PackageNotFoundError:
            raise ConfigError(
                f"--impl {adapter.name}: the library {adapter.distribution!r} is not installed; "
                f"install it, or every adapter's library: pip install 'poolcheck[{adapter.extra}]'"
            ) from None
        library = f"the library {adapter.distribution} {version}"
    else:
        library = f"the library behind {adapter.summary}"
    try:
        importlib.import_module(adapter.module)
    except BaseException as exc:
        if user_signalled():
            raise
        where = "the adapter" if _raised_in(exc, adapter.module) else library
        raise ConfigError(
            f"--impl {adapter.name}: importing it raised {exc!r} (from inside {where}, not "
            "the adapter spec)"
        ) from None
    return _load(adapter.name, adapter.module, adapter.attr)


def _raised_in(exc: BaseException, module_name: str) -> bool:
    """Whether the innermost frame of ``exc``'s traceback runs the module ``module_name``."""
    frames = traceback.extract_tb(exc.__traceback__)
    spec = importlib.util.find_spec(module_name)
    origin = spec.origin if spec is not None else None
    return bool(frames) and origin is not None and frames[-1].filename == origin


def _load(spec: str, module_name: str, attr: str) -> Implementation:
    # Importing, declaring and reading the declaration all run the implementation's code:
    # whatever it raises there, SystemExit and KeyboardInterrupt included, is its fault; only
    # the user's own Ctrl-C goes through.
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"--impl {spec!r}: cannot import module {exc.name!r}") from None
    except Exception as exc:
        raise ConfigError(f"--impl {spec!r}: importing {module_name} raised {exc!r}") from None
    except BaseException as exc:
        if user_signalled():
            raise
        raise _from_inside(spec, f"importing {module_name}", exc) from None
    try:
        factory = getattr(module, attr, None)
    except BaseException as exc:
        if user_signalled():
            raise
        raise _from_inside(spec, f"reading {module_name}.{attr}", exc) from None
    if factory is None:
        raise ConfigError(f"--impl {spec!r}: module {module_name} has no attribute {attr!r}")
    if not callable(factory):
        raise ConfigError(f"--impl {spec!r}: {attr} is not callable")
    try:
        declaration = factory()
    except Exception as exc:
        raise ConfigError(f"--impl {spec!r}: the factory raised {exc!r}") from None
    except BaseException as exc:
        if user_signalled():
            raise
        raise _from_inside(spec, f"the declaration {attr}()", exc) from None
    try:
        return _validate(spec, declaration)
    except ConfigError as exc:
        raise ConfigError(f"--impl {spec!r}: {exc}") from None
    except BaseException as exc:
        if user_signalled():
            raise
        raise _from_inside(spec, "reading the declaration", exc) from None


def _validate(spec: str, declaration: object) -> Implementation:
    name = _field(declaration, "name")
    if not isinstance(name, str) or not name:
        raise ConfigError("'name' must be a non-empty string")
    backend = _field(declaration, "backend")
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ConfigError(f"backend {backend!r} is not supported (known: {sorted(BACKENDS)})")
    capabilities = _names(_field(declaration, "capabilities", ()), "capabilities")
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
    clock_bridge = _field(declaration, "clock_bridge", True)
    if not isinstance(clock_bridge, bool):
        raise ConfigError(f"'clock_bridge' must be True or False, not {clock_bridge!r:.60}")
    if backend == "sync" and not clock_bridge:
        raise ConfigError(
            "'clock_bridge' cannot be False on the sync backend: its time.sleep passes the "
            "virtual time the bridged clocks read"
        )
    deviations = _deviations(_field(declaration, "deviations", {}))
    supports = _supports(_field(declaration, "supports", {}))
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
        clock_bridge=clock_bridge,
        deviations=deviations,
        supports=supports,
    )


def _deviations(value: object) -> dict[str, str]:
    """``{rule ID: reason}``; only a pattern's own rules can be waived, never the guards."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"'deviations' must map rule IDs to reasons, not {value!r:.60}")
    for rule_id, reason in value.items():
        rule = RULES.get(rule_id) if isinstance(rule_id, str) else None
        if rule is None:
            raise ConfigError(f"'deviations' names {rule_id!r:.40}, which is no rule ID")
        if rule.pattern is None:
            raise ConfigError(f"'deviations' cannot waive {rule_id}: it holds for everything")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f"'deviations' must give {rule_id} a reason (a non-empty string)")
    return dict(value)


def _supports(value: object) -> dict[str, dict[str, Bound]]:
    """``{parameter: {"min": bound, "max": bound}}``, each range holding the ordinary values.

    A bound is a finite number or the name of a factory parameter; a range may leave out only
    boundary values (outside :data:`~harness.contract.SUPPORTABLE`'s ordinary range), so
    every implementation is still judged on the ordinary ones.
    """
    if not isinstance(value, Mapping):
        raise ConfigError(f"'supports' must map parameters to ranges, not {value!r:.60}")
    parameters = {name for _, kwargs in FACTORIES.values() for name in kwargs}
    supports: dict[str, dict[str, Bound]] = {}
    for name, declared in value.items():
        if name not in SUPPORTABLE:
            raise ConfigError(
                f"'supports' names {name!r:.40}, which has no boundary values to leave out "
                f"(known: {sorted(SUPPORTABLE)})"
            )
        if not isinstance(declared, Mapping) or not declared or set(declared) - {"min", "max"}:
            raise ConfigError(
                f"'supports' must give {name} a range {{'min': ..., 'max': ...}}, "
                f"not {declared!r:.60}"
            )
        for key, bound in declared.items():
            ordinary = SUPPORTABLE[name][0 if key == "min" else 1]
            if isinstance(bound, str):
                if bound not in parameters:
                    raise ConfigError(f"'supports' {name} {key}: {bound!r:.40} is no parameter")
                if bound != ordinary:
                    raise ConfigError(
                        f"'supports' {name} {key} {bound!r} would leave out ordinary values "
                        f"(the range must reach {ordinary!r})"
                    )
                continue
            if isinstance(bound, bool) or not isinstance(bound, int | float):
                raise ConfigError(f"'supports' {name} {key} must be a number, not {bound!r:.40}")
            if not math.isfinite(bound):
                raise ConfigError(f"'supports' {name} {key} must be finite, not {bound!r}")
            if isinstance(ordinary, str) or (
                bound > ordinary if key == "min" else bound < ordinary
            ):
                raise ConfigError(
                    f"'supports' {name} {key} {bound!r} would leave out ordinary values "
                    f"(the range must reach {ordinary!r})"
                )
        supports[name] = dict(declared)
    return supports


def _names(value: object, name: str) -> frozenset[str]:
    """A collection of names (not one bare string, whose letters are no names)."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(f"{name!r} must be a list of names, not {value!r:.60}")
    names = frozenset(value)
    if not all(isinstance(item, str) for item in names):
        raise ConfigError(f"{name!r} must be a list of names, not {value!r:.60}")
    return names


def _error_types(declaration: object, name: str) -> tuple[type[BaseException], ...]:
    value = _field(declaration, name, ())
    try:
        types = tuple(value)
    except TypeError:
        raise ConfigError(f"{name!r} must be a sequence of exception types") from None
    if not all(isinstance(t, type) and issubclass(t, BaseException) for t in types):
        raise ConfigError(f"{name!r} must be exception types")
    return types
