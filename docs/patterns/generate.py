"""Regenerate the parts of docs/patterns/*.md that come from the registries.

The rule tables come from :data:`harness.rules.RULES`, the factory tables from
:data:`harness.contract.FACTORIES` and the capability tables from
:data:`harness.contract.CAPABILITIES`, so a page can never disagree with what poolcheck
checks. Each generated part sits between ``<!-- generated:NAME -->`` and
``<!-- end generated -->``; everything else on a page is written by hand.

    python docs/patterns/generate.py           # rewrite the pages in place
    python docs/patterns/generate.py --check   # exit 1 and name the stale pages

``tests/harness/test_docs.py`` runs the check, so a new rule without docs fails the tests.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from harness.checking import Checker  # noqa: E402
from harness.contract import CAPABILITIES, FACTORIES  # noqa: E402
from harness.rules import RULES, Pattern, Rule  # noqa: E402

BLOCK = re.compile(r"(<!-- generated:(\w+) -->\n)(.*?)(<!-- end generated -->)", re.DOTALL)

#: The capabilities a pattern's model or checkers use. ``metrics`` belongs to every pattern
#: whose checkers decide METRICS-CONSISTENT (found in :func:`_decides_metrics`).
_CAPABILITY_PATTERN = {
    "drop_policy": Pattern.QUEUE,
    "fifo_waiters": Pattern.QUEUE,
    "job_timeout": Pattern.POOL,
    "weighted_acquire": Pattern.RATE,
    "fifo": Pattern.CONCURRENCY,
    "strict_release": Pattern.CONCURRENCY,
    "own_schedule": Pattern.RETRY,
}


def _decides_metrics(pattern: Pattern) -> bool:
    module = importlib.import_module(f"harness.checkers.{pattern}")
    checkers = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, Checker) and obj is not Checker
    ]
    return any("METRICS-CONSISTENT" in checker.rules for checker in checkers)


def _rule_row(rule: Rule) -> str:
    tier = f"optional (`{rule.capability}`)" if rule.capability else "required"
    return f"| `{rule.id}` | {rule.statement} | {rule.kind} | {tier} | {rule.section} |"


def rules_table(rules: list[Rule]) -> str:
    """A Markdown table of ``rules``: ID, statement, kind, tier, guide section."""
    lines = ["| Rule | Statement | Kind | Tier | Guide |", "|---|---|---|---|---|"]
    return "\n".join([*lines, *map(_rule_row, rules)]) + "\n"


def factories_table(pattern: Pattern) -> str:
    """The factories of ``pattern`` and the keyword arguments the harness passes them."""
    lines = ["| Factory | Keyword arguments |", "|---|---|"]
    for name, (owner, kwargs) in FACTORIES.items():
        if owner is pattern:
            args = ", ".join(f"`{arg}`" for arg in kwargs) or "(none)"
            lines.append(f"| `{name}` | {args} |")
    return "\n".join(lines) + "\n"


def capabilities_table(pattern: Pattern) -> str:
    """The capabilities that make this pattern's optional rules applicable."""
    names = [name for name, owner in _CAPABILITY_PATTERN.items() if owner is pattern]
    if _decides_metrics(pattern):
        names.append("metrics")
    if not names:
        return "None: every rule of this pattern is required.\n"
    lines = ["| Capability | Meaning | Rules it makes applicable |", "|---|---|---|"]
    for name in names:
        rules = [r.id for r in RULES.values() if r.capability == name]
        shown = ", ".join(f"`{r}`" for r in rules) or "none of its own: the model draws more cases"
        lines.append(f"| `{name}` | {CAPABILITIES[name]} | {shown} |")
    return "\n".join(lines) + "\n"


def index_table() -> str:
    """One row per pattern: its page, its factories, its rules."""
    lines = ["| Pattern | Factories | Rules |", "|---|---|---|"]
    for pattern in Pattern:
        factories = ", ".join(f"`{n}`" for n, (p, _) in FACTORIES.items() if p is pattern)
        rules = ", ".join(f"`{r.id}`" for r in RULES.values() if r.pattern is pattern)
        lines.append(f"| [{pattern}]({pattern}.md) | {factories} | {rules} |")
    return "\n".join(lines) + "\n"


def render_block(name: str, page: str) -> str:
    """The text of generated block ``name`` on ``page`` (a pattern name or ``README``)."""
    if name == "rules":
        return rules_table([r for r in RULES.values() if r.pattern == Pattern(page)])
    if name == "shared_rules":
        return rules_table([r for r in RULES.values() if r.pattern is None])
    if name == "factories":
        return factories_table(Pattern(page))
    if name == "capabilities":
        return capabilities_table(Pattern(page))
    if name == "index":
        return index_table()
    raise ValueError(f"unknown generated block {name!r}")


def render(text: str, page: str) -> str:
    """``text`` with every generated block brought up to date."""
    return BLOCK.sub(
        lambda m: m.group(1) + render_block(m.group(2), page) + m.group(4),
        text,
    )


def pages() -> list[Path]:
    """The index and one page per pattern."""
    return [HERE / "README.md", *(HERE / f"{pattern}.md" for pattern in Pattern)]


def main(argv: list[str]) -> int:
    """Rewrite the pages, or with ``--check`` report the stale ones."""
    check = "--check" in argv
    stale = []
    for path in pages():
        text = path.read_text(encoding="utf-8")
        fresh = render(text, path.stem)
        if fresh != text:
            stale.append(path)
            if not check:
                path.write_text(fresh, encoding="utf-8")
    if check and stale:
        names = ", ".join(str(p) for p in stale)
        print(f"stale: {names} (run python docs/patterns/generate.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
