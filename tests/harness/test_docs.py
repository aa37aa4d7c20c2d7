"""The pattern pages and the trace format agree with the registries, checkers and schema."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import jsonschema
import pytest

from harness.checking import Checker, Verdict
from harness.contract import CAPABILITIES, FACTORIES
from harness.offline import SCHEMA_PATH, check_lines
from harness.rules import RULES, Pattern

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "docs" / "patterns"
TRACE_FORMAT = ROOT / "docs" / "trace-format.md"
SNIPPET = re.compile(r"```jsonl\n(.*?)```", re.DOTALL)


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", PAGES / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", ["README", *map(str, Pattern)])
def test_generated_tables_are_up_to_date(page: str) -> None:
    path = PAGES / f"{page}.md"
    text = path.read_text(encoding="utf-8")
    assert "<!-- generated:" in text
    assert generator().render(text, page) == text, "run python docs/patterns/generate.py"


def test_every_rule_and_factory_is_documented_on_its_page() -> None:
    pages = {p: (PAGES / f"{p}.md").read_text(encoding="utf-8") for p in Pattern}
    index = (PAGES / "README.md").read_text(encoding="utf-8")
    for rule in RULES.values():
        page = pages[rule.pattern] if rule.pattern is not None else index
        assert f"| `{rule.id}` |" in page, f"{rule.id} has no row on its page"
    for name, (pattern, kwargs) in FACTORIES.items():
        assert f"| `{name}` |" in pages[pattern]
        for kwarg in kwargs:
            assert f"`{kwarg}`" in pages[pattern]
    for capability in CAPABILITIES:
        assert any(f"| `{capability}` |" in page for page in pages.values()), capability


def test_a_new_rule_would_make_its_page_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = generator()
    text = (PAGES / "queue.md").read_text(encoding="utf-8")
    extra = RULES["QUEUE-FIFO"].__class__(
        "QUEUE-NEW", Pattern.QUEUE, "§2", RULES["QUEUE-FIFO"].kind, "A rule nobody documented."
    )
    monkeypatch.setitem(gen.RULES, "QUEUE-NEW", extra)
    assert gen.render(text, "queue") != text


@pytest.mark.parametrize("pattern", list(Pattern), ids=str)
def test_page_example_trace_is_valid_and_checks_clean(pattern: Pattern) -> None:
    text = (PAGES / f"{pattern}.md").read_text(encoding="utf-8")
    snippets = SNIPPET.findall(text)
    assert snippets, f"{pattern}.md has no jsonl example"
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    for snippet in snippets:
        lines = snippet.splitlines()
        for line in lines:
            assert validator.is_valid(json.loads(line)), line
        result = check_lines(lines, pattern, source=f"{pattern}.md")
        failures = [v for v in result.verdicts if v.verdict is Verdict.FAIL]
        assert not failures, [v.violations[0].describe() for v in failures]
        own = [v for v in result.verdicts if v.rule.pattern is pattern]
        assert any(v.verdict is Verdict.PASS for v in own), "the example exercises no rule"


def _handled_kinds(pattern: Pattern) -> set[str]:
    module = importlib.import_module(f"harness.checkers.{pattern}")
    kinds = set()
    for obj in vars(module).values():
        if isinstance(obj, type) and issubclass(obj, Checker) and obj is not Checker:
            kinds |= {name[3:] for name in dir(obj) if name.startswith("on_")}
    return kinds


def _section(text: str, pattern: Pattern) -> str:
    start = text.index(f'<a id="{pattern}"></a>')
    end = text.find('<a id="', start + 1)
    return text[start : end if end != -1 else None]


@pytest.mark.parametrize("pattern", list(Pattern), ids=str)
def test_trace_format_lists_every_kind_the_checkers_read(pattern: Pattern) -> None:
    text = TRACE_FORMAT.read_text(encoding="utf-8")
    section = _section(text, pattern)
    shared = _section(text, "shared")  # type: ignore[arg-type]
    missing = {
        kind
        for kind in _handled_kinds(pattern)
        if f"`{kind}`" not in section and f"`{kind}`" not in shared
    }
    assert not missing, f"docs/trace-format.md does not describe {sorted(missing)} for {pattern}"


@pytest.mark.parametrize("pattern", list(Pattern), ids=str)
def test_each_page_states_every_rules_timing_and_ordering_demands(pattern: Pattern) -> None:
    """A rule added to a pattern without saying when it must hold makes its page fail."""
    text = (PAGES / f"{pattern}.md").read_text(encoding="utf-8")
    assert "## Timing and ordering demands" in text, pattern
    section = text.split("## Timing and ordering demands", 1)[1].split("\n## ", 1)[0]
    for rule in RULES.values():
        if rule.pattern is pattern:
            assert rule.id in section, rule.id
