"""The shared pieces of every mutant module: the registry and the reference declaration.

``@mutant("QUEUE-FIFO")`` records a declaration callable with the rules it must violate; its
docstring is the bug in one line. :func:`reference_with` is the reference declaration with
some factories replaced by broken ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from harness.contract import FACTORIES
from harness.rules import RULES, Pattern
from reference.plugin import implementation as reference_implementation

F = TypeVar("F", bound=Callable[[], Any])


@dataclass(frozen=True, slots=True)
class Mutant:
    """One registered mutant: where it lives, what it drives and what must catch it."""

    spec: str
    pattern: str
    rules: tuple[str, ...]
    bug: str

    @property
    def name(self) -> str:
        """``module:function`` relative to this package, for tables and test IDs."""
        return self.spec.removeprefix(f"{__package__}.")


#: spec -> mutant, filled as the mutant modules are imported (see ``catalog.catalog``).
REGISTRY: dict[str, Mutant] = {}


def mutant(*rule_ids: str, pattern: str | None = None) -> Callable[[F], F]:
    """Register a declaration callable as a mutant that must violate every one of ``rule_ids``.

    The pattern to run is the rules' own, else ``pattern`` (for the pattern-independent rules),
    else the module's name (``tests.mutants.queue`` -> ``queue``).
    """
    if not rule_ids:
        raise ValueError("a mutant declares at least one rule ID")
    unknown = [rule_id for rule_id in rule_ids if rule_id not in RULES]
    if unknown:
        raise KeyError(f"unknown rule ID(s) {unknown}")

    def register(fn: F) -> F:
        doc = (fn.__doc__ or "").strip()
        if not doc:
            raise ValueError(f"mutant {fn.__qualname__} needs a docstring naming its bug")
        own = {RULES[r].pattern for r in rule_ids} - {None}
        if len(own) > 1:
            raise ValueError(f"mutant {fn.__qualname__} mixes patterns {sorted(map(str, own))}")
        module_pattern = fn.__module__.rsplit(".", 1)[-1]
        chosen = str(own.pop()) if own else pattern or module_pattern
        spec = f"{fn.__module__}:{fn.__name__}"
        REGISTRY[spec] = Mutant(spec, str(Pattern(chosen)), rule_ids, doc.splitlines()[0])
        return fn

    return register


def reference_with(*, only: bool = False, **factories: Callable[..., Any]) -> dict[str, Any]:
    """The reference's declaration with ``factories`` replacing the reference's ones.

    With ``only``, the other factories of the same pattern are removed, so that the model
    spends every example on the broken object instead of on its correct siblings.
    """
    declaration = reference_implementation()
    kept = dict(declaration.factories)
    if only:
        patterns = {FACTORIES[name][0] for name in factories}
        kept = {k: v for k, v in kept.items() if FACTORIES[k][0] not in patterns}
    return {
        "name": "mutant",
        "backend": declaration.backend,
        "capabilities": declaration.capabilities,
        "factories": {**kept, **factories},
        "closed_errors": declaration.closed_errors,
        "counters": declaration.counters,
    }
