"""What a person reads after a failed check: drawn parameters, steps, why rules were skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main


def test_a_failure_shows_its_drawn_parameters_and_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = "examples.wrong_token_bucket:implementation"
    args = ["check", "--impl", spec, "--profile", "ci", "--pattern", "rate", "--pattern", "queue"]
    assert main([*args, "--report-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "params: factory='token_bucket', rate=" in out
    assert "       1. t=" in out
    markdown = (tmp_path / "conformance.md").read_text()
    assert "Parameters: `factory='token_bucket', rate=" in markdown
    assert "not applicable, and why" in markdown
    assert "QUEUE-FIFO" in markdown.split("not applicable, and why")[1]
