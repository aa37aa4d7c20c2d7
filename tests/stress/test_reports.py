"""Reports: JSON, Markdown and self-contained HTML are written; the baseline gate trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main


def run(*args: str) -> int:
    return main(["stress", *args])


def test_reports_are_written_with_verdicts_and_inline_images(
    small_pool: Path, tmp_path: Path
) -> None:
    out = tmp_path / "reports"
    assert run(str(small_pool), "--report-dir", str(out)) == 0
    report = json.loads((out / "small-pool.json").read_text())
    assert report["version"] == 1
    assert report["verdict"] == "pass"
    assert {rule["id"] for rule in report["rules"]} >= {"POOL-EXACTLY-ONCE", "NO-HANG"}
    markdown = (out / "small-pool.md").read_text()
    assert "| POOL-CONCURRENCY | ✅ pass |" in markdown
    html = (out / "small-pool.html").read_text()
    assert "POOL-CONCURRENCY" in html
    assert html.count("data:image/png;base64,") >= 3
    # Self-contained: nothing is fetched from anywhere.
    assert "<script src" not in html
    assert "<link" not in html
    assert 'src="http' not in html


def test_a_failed_rule_shows_its_first_offending_events(small_pool: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    code = run(
        str(small_pool), "--impl", "tests.stress.broken:extra_worker", "--report-dir", str(out)
    )
    assert code == 1
    html = (out / "small-pool.html").read_text()
    assert "FAIL" in html
    assert "First offending events" in html
    assert "job_start" in html
    assert "POOL-CONCURRENCY" in (out / "small-pool.md").read_text().split("## Metrics")[0]


def test_rate_reports_plot_admissions_against_the_bound(tmp_path: Path) -> None:
    scenario = tmp_path / "gate.toml"
    scenario.write_text(
        'pattern = "rate"\n[params]\nfactory = "shedding_gate"\nrate = 5.0\nburst = 2\n'
        "[load]\nrate = 50.0\n[run]\nseconds = 5.0\n"
    )
    out = tmp_path / "reports"
    assert run(str(scenario), "--report-dir", str(out)) == 0
    assert 'alt="Admissions against the bound"' in (out / "gate.html").read_text()


def test_the_baseline_gate_fails_on_a_regression(small_pool: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    baseline = tmp_path / "baseline.json"
    assert run(str(small_pool), "--report-dir", str(out), "--save-baseline", str(baseline)) == 0
    saved = json.loads(baseline.read_text())
    figures = saved["scenarios"]["small-pool"]
    # The same run against its own baseline passes (virtual time: the figures are exact).
    assert run(str(small_pool), "--report-dir", str(out), "--baseline", str(baseline)) == 0
    # A baseline twice as fast as this run makes it a regression.
    figures["throughput"] *= 2
    baseline.write_text(json.dumps(saved))
    assert run(str(small_pool), "--report-dir", str(out), "--baseline", str(baseline)) == 1
    report = json.loads((out / "small-pool.json").read_text())
    assert report["baseline"]["regressed"] is True
    assert "throughput" in report["baseline"]["problems"][0]


def test_a_previous_report_serves_as_a_baseline(small_pool: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    assert run(str(small_pool), "--report-dir", str(out)) == 0
    previous = tmp_path / "previous.json"
    report = json.loads((out / "small-pool.json").read_text())
    report["metrics"]["latency_seconds"]["end_to_end"]["p99"] /= 2
    previous.write_text(json.dumps(report))
    assert run(str(small_pool), "--report-dir", str(out), "--baseline", str(previous)) == 1


@pytest.mark.parametrize(
    "content",
    ["not json", '{"version": 7}', '{"version": 1, "scenarios": {"a": {"throughput": "x"}}}'],
)
def test_a_malformed_baseline_exits_2(
    small_pool: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    baseline = tmp_path / "baseline.json"
    baseline.write_text(content)
    assert run(str(small_pool), "--report-dir", str(tmp_path), "--baseline", str(baseline)) == 2
    assert capsys.readouterr().err.count("\n") == 1
