"""What a person reads after a failed check: drawn parameters, steps, why rules were skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main


def test_a_failure_shows_its_drawn_parameters_and_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = "examples.wrong_token_bucket:implementation"
    args = [
        "check",
        "--impl",
        spec,
        "--profile",
        "quick",
        "--pattern",
        "rate",
        "--pattern",
        "queue",
    ]
    assert main([*args, "--report-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "params: factory='token_bucket', rate=" in out
    assert "       1. t=" in out
    markdown = (tmp_path / "conformance.md").read_text()
    assert "Parameters: `factory='token_bucket', rate=" in markdown
    assert "not applicable, and why" in markdown
    assert "QUEUE-FIFO" in markdown.split("not applicable, and why")[1]


def chatty_bucket() -> dict[str, object]:
    """The wrong token bucket, printing and logging as it works."""
    import logging

    from examples.wrong_token_bucket import implementation

    declaration = implementation()
    make = declaration["factories"]["token_bucket"]  # type: ignore[index]

    def chatty(**kwargs: object) -> object:
        print("bucket made", kwargs)
        logging.getLogger("chatty").warning("a warning from the bucket")
        return make(**kwargs)

    return {**declaration, "factories": {"token_bucket": chatty}}


def test_the_implementations_output_is_shown_for_the_minimal_example_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = f"{__name__}:chatty_bucket"
    code = main(["check", "--impl", spec, "--profile", "quick", "--report-dir", str(tmp_path)])
    assert code == 1
    out = capsys.readouterr().out
    # One example's worth, not one line per example searched.
    assert out.count("bucket made") == 1
    assert "it printed: bucket made" in out
    markdown = (tmp_path / "conformance.md").read_text()
    assert "WARNING chatty: a warning from the bucket" in markdown
