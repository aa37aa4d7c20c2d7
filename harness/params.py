"""Run parameters: one table of every pattern's parameters, their types and their ranges.

A run's parameters are the factories' keyword arguments (:data:`harness.contract.FACTORIES`,
less the callables the harness supplies) and the few extra ones a run records
(:data:`RECORDED_EXTRAS`). Two kinds of input carry them, and both are validated here so the
two cannot drift apart:

* a stress scenario's ``[params]`` table (:mod:`harness.stress.scenario`), with
  ``run=True``: the tighter :attr:`Param.run_high` applies where poolcheck itself will build
  and drive the object (ten thousand workers, not a hundred million);
* a trace's ``params`` event and ``check-trace --param`` (:mod:`harness.offline`), through
  :func:`check_recorded`: every name known for the pattern, every value in range, a name the
  named factory does not take only null, JSON's ``2.0`` read as the integer ``2``.

A bad value raises :class:`ParamError`, one line naming the parameter; the callers turn it
into their own one-line error (exit 2). The ranges are listed in ``docs/stress.md`` and
``docs/trace-format.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from harness.contract import FACTORIES
from harness.rules import Pattern

#: Things that run at once (workers, producers, consumers, a group's tasks) in a stress run.
MAX_CONCURRENT: Final = 10_000
#: Sizes held at once: capacities, buffers, windows, batch sizes, bursts, attempts per call.
MAX_SIZE: Final = 1_000_000
#: Totals over a stress run: jobs, distinct keys.
MAX_TOTAL: Final = 100_000_000
#: The largest count any input may state (traces of other programs may be bigger than a run).
MAX_COUNT: Final = 1_000_000_000
#: The longest stress run, in virtual seconds (about 116 days).
MAX_RUN_SECONDS: Final = 1e7
#: Rates, per virtual second.
MIN_RATE: Final = 1e-6
MAX_RATE: Final = 1e9
#: Times, in virtual seconds: the floor for those that must be positive, and the ceiling for all.
MIN_TIME: Final = 1e-6
MAX_TIME: Final = 1e6
#: The largest factor of a backoff schedule.
MAX_FACTOR: Final = 1e6
#: Seeds are unsigned 64-bit integers.
MAX_SEED: Final = 2**64 - 1

#: Factory keyword arguments the harness supplies itself (callables), never parameters.
SUPPLIED: Final = frozenset({"handler", "effect", "retryable"})
#: Parameters a scenario may give beyond its factory's keyword arguments.
SCENARIO_EXTRAS: Final[Mapping[Pattern, frozenset[str]]] = {
    Pattern.IDEMPOTENCY: frozenset({"keys"}),
}
#: Parameters a run records beyond its factory's keyword arguments (the models' draw_params).
RECORDED_EXTRAS: Final[Mapping[Pattern, frozenset[str]]] = {
    Pattern.IDEMPOTENCY: frozenset({"keys"}),
    Pattern.RATE: frozenset({"weighted"}),
    Pattern.CONCURRENCY: frozenset({"fifo"}),
    Pattern.RETRY: frozenset({"own_schedule"}),
    Pattern.QUEUE: frozenset({"fifo_waiters"}),
}


class ParamError(ValueError):
    """A parameter that is unknown, of the wrong type or out of range; one line naming it."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True, slots=True)
class Param:
    """The type and range of one run parameter."""

    kind: type
    low: float | None = None
    high: float | None = None
    #: A tighter ceiling where poolcheck builds and drives the object itself (stress runs).
    run_high: float | None = None
    #: Whether null is meaningful ("none", "not recorded") rather than a missing value.
    nullable: bool = False
    choices: tuple[str, ...] = ()
    #: What the value means, for error messages ("virtual s", "per virtual s").
    unit: str = ""


def _count(low: int, run_high: int) -> Param:
    return Param(int, low, MAX_COUNT, run_high)


def _time(low: float, *, nullable: bool = False) -> Param:
    return Param(float, low, MAX_TIME, nullable=nullable, unit="virtual s")


#: Every run parameter of every pattern (tabled in ``docs/stress.md`` and ``docs/trace-format.md``).
PARAMS: Final[Mapping[str, Param]] = {
    "capacity": _count(1, MAX_SIZE),
    "policy": Param(str, nullable=True, choices=("newest", "oldest")),
    "workers": _count(1, MAX_CONCURRENT),
    "jobs_buffer": _count(0, MAX_SIZE),
    "results_buffer": _count(0, MAX_SIZE),
    # 0 is a boundary value with a meaning (docs/patterns/pool.md and retry.md).
    "job_timeout": _time(0.0, nullable=True),
    "max_attempts": _count(0, MAX_SIZE),
    "base": _time(0.0, nullable=True),
    "factor": Param(float, 1.0, MAX_FACTOR, nullable=True),
    "cap": _time(0.0, nullable=True),
    "jitter": Param(str, nullable=True, choices=("none", "full", "equal")),
    "seed": Param(int, 0, MAX_SEED, nullable=True),
    "keys": Param(int, 1, MAX_COUNT, MAX_TOTAL, nullable=True),
    "window": _count(1, MAX_SIZE),
    "rate": Param(float, MIN_RATE, MAX_RATE, unit="per virtual s"),
    "burst": _count(1, MAX_SIZE),
    "interval": _time(MIN_TIME),
    "max_size": _count(1, MAX_SIZE),
    "max_age": _time(MIN_TIME),
    "weighted": Param(bool, nullable=True),
    "limit": _count(1, MAX_CONCURRENT),
    "fifo": Param(bool, nullable=True),
    "fifo_waiters": Param(bool, nullable=True),
    "own_schedule": Param(bool, nullable=True),
}


def factories_of(pattern: Pattern) -> list[str]:
    """The factory names of ``pattern``, in catalog order."""
    return [name for name, (owner, _) in FACTORIES.items() if owner is pattern]


def takes(factory: str, pattern: Pattern, extras: Mapping[Pattern, frozenset[str]]) -> set[str]:
    """The parameters ``factory`` is built with, plus ``pattern``'s extras from ``extras``."""
    return {*FACTORIES[factory][1], *extras.get(pattern, frozenset())} - SUPPLIED


def known_names(pattern: Pattern) -> set[str]:
    """Every parameter name a run of ``pattern`` may record (``pattern`` and ``factory`` too)."""
    names = {"pattern", "factory", "deviations"}
    for factory in factories_of(pattern):
        names |= takes(factory, pattern, RECORDED_EXTRAS)
    return names


def show(value: Any) -> str:
    """A value as an error message quotes it: short, whatever it is."""
    if value is None:
        return "null"
    if isinstance(value, bool | str):
        text = repr(value)
    elif isinstance(value, float):
        # 2.0 stays 2.0: "must be an integer, not 2" would read as a contradiction.
        text = f"{value:.1f}" if value.is_integer() and abs(value) < 1e15 else f"{value:g}"
    elif isinstance(value, int):
        text = f"{value:,}" if abs(value) < 10**30 else "a huge integer"
    else:
        text = type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _bound(value: float, kind: type) -> str:
    return f"{int(value):,}" if kind is int else f"{value:g}"


def check_value(
    name: str, value: Any, *, where: str = "", run: bool = False, json_numbers: bool = False
) -> Any:
    """Validate one parameter's value against :data:`PARAMS`; return it normalised.

    ``where`` prefixes the name in messages (``params.``, ``--param ``); ``run`` applies the
    stress ceilings; ``json_numbers`` reads an integral float (JSON ``2.0``) as an integer.
    """
    spec = PARAMS[name]
    label = f"{where}{name}"
    if value is None:
        if spec.nullable:
            return None
        raise ParamError(name, f"{label} must be {_kind_name(spec)}, not null")
    if spec.choices:
        if value not in spec.choices:
            options = ", ".join(repr(choice) for choice in spec.choices[:-1])
            wanted = f"{options} or {spec.choices[-1]!r}"
            raise ParamError(name, f"{label} must be {wanted}, not {show(value)}")
        return value
    if spec.kind is bool:
        if not isinstance(value, bool):
            raise ParamError(name, f"{label} must be true or false, not {show(value)}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParamError(name, f"{label} must be {_kind_name(spec)}, not {show(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ParamError(name, f"{label} must be a finite number, not {show(value)}")
    if spec.kind is int and isinstance(value, float):
        if not (json_numbers and value.is_integer()):
            raise ParamError(name, f"{label} must be an integer, not {show(value)}")
        value = int(value)
    high = spec.run_high if run and spec.run_high is not None else spec.high
    unit = f" {spec.unit}" if spec.unit else ""
    if spec.low is not None and spec.low > 0 and spec.kind is float and value <= 0:
        # Say what is wrong first: a positive quantity, before how small it may be.
        raise ParamError(name, f"{label} must be greater than 0, not {show(value)}")
    if spec.low is not None and value < spec.low:
        raise ParamError(
            name, f"{label} must be at least {_bound(spec.low, spec.kind)}{unit}, not {show(value)}"
        )
    if high is not None and value > high:
        raise ParamError(
            name, f"{label} must be at most {_bound(high, spec.kind)}{unit}, not {show(value)}"
        )
    return float(value) if spec.kind is float else value


def _kind_name(spec: Param) -> str:
    return {int: "an integer", float: "a number", bool: "true or false"}.get(spec.kind, "a string")


def check_recorded(
    pattern: Pattern,
    params: Mapping[str, Any],
    *,
    where: str = "params.",
    factory: str | None = None,
) -> dict[str, Any]:
    """Validate parameters as a run records them (a trace's params event, ``--param``).

    Every name must be known for ``pattern``, every value in range (JSON numbers), ``factory``
    one of the pattern's, and a name the factory does not take may only be null (an unbounded
    queue has no capacity). ``factory`` is the run's factory when ``params`` does not name one
    (overrides are checked against the factory of the trace they override); without either,
    a pattern's only factory is assumed. ``pattern`` is
    left to the caller, whose message says which pattern was asked for. Return the values
    normalised; raise :class:`ParamError` naming the first bad one.
    """
    known = known_names(pattern)
    factories = factories_of(pattern)
    if factory is None and len(factories) == 1:
        factory = factories[0]
    for name in params:
        if name not in known:
            raise ParamError(
                name,
                f"{where}{name}: not a parameter of pattern {pattern} "
                f"(known: {', '.join(sorted(known))})",
            )
    checked: dict[str, Any] = {}
    factory = params.get("factory", factory)
    if "factory" in params and params["factory"] not in factories:
        raise ParamError(
            "factory",
            f"{where}factory must be one of {', '.join(factories)} for pattern {pattern}, "
            f"not {show(params['factory'])}",
        )
    taken = takes(factory, pattern, RECORDED_EXTRAS) if factory in factories else None
    for name, value in params.items():
        if name in ("pattern", "factory"):
            checked[name] = value
            continue
        if name == "deviations":
            # The rules the implementation departs from on purpose (its declaration's).
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ParamError(name, f"{where}{name}: a list of rule IDs, not {show(value)}")
            checked[name] = value
            continue
        if taken is not None and name not in taken:
            if value is not None:
                raise ParamError(
                    name, f"{where}{name}: {factory} takes no {name} (leave it out, or give null)"
                )
            checked[name] = None
            continue
        checked[name] = check_value(name, value, where=where, json_numbers=True)
    return checked
