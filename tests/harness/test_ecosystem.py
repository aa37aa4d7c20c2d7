"""The ecosystem matrix: real checks through the CLI of a fake registry, read back and tabled."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness import ecosystem

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FakeAdapter:
    name: str
    module: str
    distribution: str | None
    extra: str | None


FAKE_REGISTRY = {
    a.name: a
    for a in (
        FakeAdapter("tiny", "examples.tiny_bucket", None, None),
        FakeAdapter("wrong", "examples.wrong_token_bucket", None, None),
        # A module that does not exist: the CLI exits 2 before any search.
        FakeAdapter("broken", "tests.harness.no_such_adapter", "no-such-dist", "ecosystem"),
    )
}


def table(markdown: str, heading: str) -> dict[str, dict[str, str]]:
    """The table under ``## heading``: row name -> column header -> cell text."""
    section = markdown.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    cells = {}
    for line in rows[2:]:
        values = [cell.strip() for cell in line.strip("|").split("|")]
        cells[re.sub(r"\[(\w+)\]\(.*?\)", r"\1", values[0])] = dict(
            zip(header, values, strict=True)
        )
    return cells


def note(markdown: str, heading: str, cell: str) -> str:
    """The text of the note a cell like ``n/a [2]`` points to, in ``heading``'s section."""
    number = re.fullmatch(r"\S+ \[(\d+)\]", cell)
    assert number, cell
    section = markdown.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    [line] = [x for x in section.splitlines() if x.startswith(f"[{number.group(1)}] ")]
    return line


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], str, Path]:
    base = tmp_path_factory.mktemp("ecosystem")
    findings = base / "findings"
    findings.mkdir()
    (findings / "wrong_refills_past_burst.py").write_text("")
    (findings / "wrongly_named.py").write_text("")  # another library's prefix, not wrong's
    reports = base / "reports"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)  # the examples import from the project root, as with `python -m`
        code = ecosystem.main(
            ["--report-dir", str(reports), "--jobs", "1", "--findings-dir", str(findings)],
            adapters=FAKE_REGISTRY,
        )
    report = json.loads((reports / "ecosystem.json").read_text(encoding="utf-8"))
    return code, report, (reports / "ecosystem.md").read_text(encoding="utf-8"), reports


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {library["name"]: library for library in report["libraries"]}


def test_json_holds_pass_fail_and_not_applicable_with_reasons(
    matrix: tuple[int, dict[str, Any], str, Path],
) -> None:
    _, report, _, _ = matrix
    libraries = by_name(report)
    tiny, wrong = libraries["tiny"]["rules"], libraries["wrong"]["rules"]
    assert tiny["RATE-BOUND"]["verdict"] == "pass"
    assert tiny["RATE-BOUND"]["examples"] > 0
    assert wrong["RATE-BOUND"]["verdict"] == "fail"
    assert "ideal bucket" in wrong["RATE-BOUND"]["reason"]  # the counterexample's message
    assert tiny["METRICS-CONSISTENT"] == {
        "verdict": "not-applicable",
        "reason": "capability 'metrics' not declared",
        "examples": 0,
    }
    assert libraries["tiny"]["status"] == "conforms"
    assert libraries["wrong"]["status"] == "does not conform"
    assert libraries["wrong"]["exit_code"] == 1
    assert libraries["wrong"]["patterns"] == ["rate"]
    assert libraries["wrong"]["findings"] == ["../findings/wrong_refills_past_burst.py"]


def test_a_config_error_is_shown_as_such_and_is_no_harness_error(
    matrix: tuple[int, dict[str, Any], str, Path],
) -> None:
    code, report, markdown, _ = matrix
    broken = by_name(report)["broken"]
    assert broken["exit_code"] == 2
    assert broken["status"] == "config error"
    assert "cannot import module 'tests.harness.no_such_adapter'" in broken["message"]
    assert broken["rules"] == {}
    assert report["summary"]["config_errors"] == 1
    assert report["summary"]["harness_errors"] == 0
    assert code == report["exit_code"] == 2
    libraries = table(markdown, "Libraries")
    assert libraries["broken"]["Status"] == "**CONFIG ERROR**"
    assert libraries["broken"]["Exit"] == "2"
    assert f"- **broken: config error**: {broken['message']}" in markdown
    assert "**Harness errors: 0**" in markdown


def test_markdown_matrix_marks_pass_fail_and_na_with_its_reason(
    matrix: tuple[int, dict[str, Any], str, Path],
) -> None:
    _, _, markdown, _ = matrix
    rate = table(markdown, "rate")
    assert set(rate) == {"tiny", "wrong"}  # broken provides nothing known
    assert rate["tiny"]["RATE-BOUND"] == "pass"
    assert rate["wrong"]["RATE-BOUND"] == "**FAIL**"
    shed = rate["tiny"]["RATE-SHED-ONLY-WHEN-EMPTY"]
    assert shed.startswith("n/a [")
    assert "only shedding_gate can break it" in note(markdown, "rate", shed)
    assert rate["wrong"]["Findings"] == (
        "[wrong_refills_past_burst](../findings/wrong_refills_past_burst.py)"
    )
    assert rate["tiny"]["Findings"] == ""
    shared = table(markdown, "all patterns")
    assert shared["tiny"]["NO-CRASH"] == "pass"
    assert "capability 'metrics' not declared" in note(
        markdown, "all patterns", shared["tiny"]["METRICS-CONSISTENT"]
    )
    # Patterns nobody provides get one line, not empty tables.
    assert "## queue" not in markdown
    assert "No library provides: queue, pool," in markdown


def test_each_library_keeps_its_full_report_and_nothing_half_written(
    matrix: tuple[int, dict[str, Any], str, Path],
) -> None:
    _, _, markdown, reports = matrix
    assert (reports / "ecosystem" / "wrong" / "conformance.md").is_file()
    assert "RATE-BOUND" in (reports / "ecosystem" / "wrong" / "poolcheck.log").read_text()
    assert table(markdown, "Libraries")["wrong"]["Library"] == (
        "[wrong](ecosystem/wrong/conformance.md)"
    )
    assert not [p for p in reports.iterdir() if p.name.endswith(".tmp")]


def write_report(folder: Path, rules: dict[str, dict[str, Any]], error: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    report = {
        "implementations": [
            {
                "name": "fake",
                "backend": "trio",
                "patterns": [{"pattern": "queue", "applicable": True, "error": error}],
                "rules": [{"id": rule_id, **fields} for rule_id, fields in rules.items()],
            }
        ]
    }
    (folder / "conformance.json").write_text(json.dumps(report))


FAKE = FakeAdapter("fake", "fake.adapter", None, None)
FAILING = {
    "QUEUE-FIFO": {
        "verdict": "fail",
        "reason": "",
        "examples": 3,
        "counterexample": {"message": "item 2 came out before item 1"},
    },
    "NO-CRASH": {"verdict": "pass", "reason": "", "examples": 3},
}


def test_an_internal_error_is_a_counted_harness_error(tmp_path: Path) -> None:
    line = "poolcheck: internal error: KeyError: 'x' (traceback in r/poolcheck-internal-error.txt)"
    result = ecosystem.collect(
        FAKE, 3, f"noise\n{line}\n", 1.0, tmp_path, findings_dir=tmp_path / "none"
    )
    assert result.status == "harness error"
    assert result.harness_errors == [line]
    assert ecosystem.summary([result])["harness_errors"] == 1
    assert ecosystem.exit_code([result]) == 3
    markdown = ecosystem.to_markdown([result], "ci", 1.0, tmp_path)
    assert "**Harness errors: 1**" in markdown
    assert f"- **fake: harness error**: {line}" in markdown


def test_a_search_error_inside_a_report_is_a_harness_error(tmp_path: Path) -> None:
    write_report(tmp_path, FAILING, error="AttributeError in the queue driver")
    result = ecosystem.collect(FAKE, 1, "", 1.0, tmp_path, findings_dir=tmp_path / "none")
    assert result.harness_errors == ["harness error in queue: AttributeError in the queue driver"]
    assert result.status == "harness error"
    assert ecosystem.exit_code([result]) == 3


def test_a_check_that_promises_a_report_but_wrote_none_is_a_harness_error(tmp_path: Path) -> None:
    result = ecosystem.collect(FAKE, 0, "", 1.0, tmp_path, findings_dir=tmp_path / "none")
    assert result.harness_errors == ["the check wrote no conformance.json"]
    assert ecosystem.exit_code([result]) == 3


def test_a_fail_without_a_finding_script_is_flagged_and_fails_the_run(tmp_path: Path) -> None:
    write_report(tmp_path, FAILING)
    result = ecosystem.collect(FAKE, 1, "", 1.0, tmp_path, findings_dir=tmp_path / "none")
    assert result.status == "does not conform"
    assert ecosystem.fails_without_finding([result]) == [("fake", "QUEUE-FIFO")]
    assert ecosystem.exit_code([result]) == 1
    markdown = ecosystem.to_markdown([result], "ci", 1.0, tmp_path)
    assert table(markdown, "queue")["fake"]["Findings"] == "**none**"
    assert "- **fake** (**no finding script** (a FAIL must be a finding" in markdown
    assert "  - QUEUE-FIFO: item 2 came out before item 1" in markdown
    findings = tmp_path / "findings"
    findings.mkdir()
    (findings / "fake-fifo.py").write_text("")
    explained = ecosystem.collect(FAKE, 1, "", 1.0, tmp_path, findings_dir=findings)
    assert ecosystem.exit_code([explained]) == 0


def test_a_check_past_its_timeout_is_stopped_and_reported(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import time; time.sleep(600)"]
    code, _, seconds, stopped = ecosystem.run_check(command, tmp_path / "log", timeout=0.2)
    assert code is None
    assert stopped is not None
    assert "no answer in 0.2 s" in stopped
    assert seconds < 60  # it was stopped, not waited for
    result = ecosystem.collect(
        FAKE, code, "", seconds, tmp_path, findings_dir=tmp_path, stopped=stopped
    )
    assert result.status == "harness error"


def test_unknown_adapter_names_are_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = ecosystem.main(["--report-dir", str(tmp_path), "nope"], adapters=FAKE_REGISTRY)
    assert code == 2
    assert "unknown adapters ['nope']" in capsys.readouterr().err
    assert not (tmp_path / "ecosystem.json").exists()


def test_findings_are_matched_by_the_library_name_as_a_prefix(tmp_path: Path) -> None:
    for name in ("trio_nursery_leak.py", "trio-nurseryx.py", "asyncio_throttle_fifo.py", "x.md"):
        (tmp_path / name).write_text("")
    by_name = ecosystem.findings_for("trio-nursery", None, tmp_path)
    assert [p.name for p in by_name] == ["trio_nursery_leak.py"]
    by_distribution = ecosystem.findings_for("throttle", "asyncio-throttle", tmp_path)
    assert [p.name for p in by_distribution] == ["asyncio_throttle_fifo.py"]
    assert ecosystem.findings_for("x", None, tmp_path / "missing") == []


def test_a_bundled_adapter_is_checked_by_its_short_name() -> None:
    name, bundled = next(iter(ecosystem.registry().items()))
    same = FakeAdapter(name, bundled.module, bundled.distribution, bundled.extra)
    assert ecosystem.impl_argument(same) == name
    elsewhere = FakeAdapter(name, "examples.tiny_bucket", None, None)
    assert ecosystem.impl_argument(elsewhere) == "examples.tiny_bucket:implementation"
    assert ecosystem.check_command(same, "ci", Path("r"), "1")[3:6] == ["check", "--impl", name]
