"""``replay`` tells a reproduced bug from a fixed one, and refuses bad blobs in one short line.

The blob comes from a real search of ``examples/wrong_token_bucket.py`` (a bucket that refills
past its burst); replayed on that bucket it breaks RATE-BOUND again, replayed on the same bucket
with the refill capped (``examples/asyncio_impl.py``, what the fix looks like) or on the
reference it runs as recorded and passes.
"""

from __future__ import annotations

import base64
import functools
import tracemalloc
import zlib
from typing import Any

import pytest

from harness.contract import Implementation
from harness.plugin import load_implementation
from harness.search.engine import (
    MAX_BLOB_CHARS,
    MAX_INFLATED_BYTES,
    PROFILES,
    ReplayStatus,
    replay,
    search_model,
)
from harness.search.models.queue import QueueModel
from harness.search.models.rate import RateModel

WRONG = "examples.wrong_token_bucket:implementation"
#: The longest message a bad blob may produce: one line, quoting a few characters at most.
SHORT = 200


def fixed_token_bucket() -> dict[str, Any]:
    """The wrong bucket's declaration with the bug fixed (the refill capped at ``burst``)."""
    from examples.asyncio_impl import SheddingGate, TokenBucket

    return {
        "name": "fixed-token-bucket",
        "backend": "asyncio",
        "capabilities": ["weighted_acquire"],
        "factories": {"token_bucket": TokenBucket, "shedding_gate": SheddingGate},
    }


@functools.cache
def _wrong() -> Implementation:
    return load_implementation(WRONG)


@functools.cache
def _blob() -> tuple[str, tuple[str, ...]]:
    """RATE-BOUND's replay blob and minimal steps, as ``poolcheck check`` reports them."""
    outcome = search_model(RateModel, _wrong(), PROFILES["quick"])
    found = outcome.failures["RATE-BOUND"]
    assert found.blob is not None
    return found.blob, tuple(found.steps)


def _encode(choices: bytes, compressed: bool = True) -> str:
    if compressed:
        return base64.b64encode(b"\1" + zlib.compress(choices)).decode()
    return base64.b64encode(b"\0" + choices).decode()


def test_the_blob_reproduces_the_bug_with_its_steps() -> None:
    blob, steps = _blob()
    outcome = replay(RateModel, _wrong(), blob)
    assert outcome.status is ReplayStatus.REPRODUCED, outcome.message
    assert set(outcome.counterexamples) == {"RATE-BOUND"}
    assert outcome.counterexamples["RATE-BOUND"].steps == list(steps)
    assert outcome.counterexamples["RATE-BOUND"].blob == blob
    assert outcome.trace, "the replayed example's trace comes back"


@pytest.mark.parametrize(
    "spec", [f"{__name__}:fixed_token_bucket", "reference.plugin:implementation"]
)
def test_the_same_blob_passes_once_the_bug_is_fixed(spec: str) -> None:
    blob, steps = _blob()
    outcome = replay(RateModel, load_implementation(spec), blob)
    assert outcome.status is ReplayStatus.PASSED, outcome.message
    assert "fixed" in outcome.message
    assert outcome.counterexamples == {}
    assert outcome.steps == list(steps), "the same example ran, step for step"


def test_a_blob_of_another_model_diverges_rather_than_passes() -> None:
    blob, _ = _blob()
    outcome = replay(QueueModel, load_implementation("reference.plugin:implementation"), blob)
    assert outcome.status is ReplayStatus.DIVERGED, outcome.message
    assert "nothing to conclude" in outcome.message


def test_a_blob_whose_choices_run_out_diverges() -> None:
    from hypothesis.core import decode_failure, encode_failure

    blob, _ = _blob()
    truncated = encode_failure(decode_failure(blob.encode())[:-2]).decode()
    outcome = replay(RateModel, _wrong(), truncated)
    assert outcome.status is ReplayStatus.DIVERGED, outcome.message
    assert "more choices than the blob holds" in outcome.message


@pytest.mark.parametrize(
    ("blob", "reason"),
    [
        ("not base64 at all!" * 1000, "not base64"),
        (base64.b64encode(b"\7junk").decode(), "not a Hypothesis replay blob"),
        (base64.b64encode(b"\1" + b"\x78\x9cnot zlib").decode(), "corrupt compressed data"),
        (
            base64.b64encode(b"\1" + zlib.compress(b"\0" * 64)[:-6]).decode(),
            "truncated compressed data",
        ),
        (_encode(b"\xff" * 300), "does not hold a sequence of choices"),
        ("A" * (MAX_BLOB_CHARS + 1), f"has at most {MAX_BLOB_CHARS}"),
    ],
    ids=["not-base64", "bad-marker", "corrupt-zlib", "truncated-zlib", "not-choices", "too-long"],
)
def test_a_bad_blob_is_invalid_in_one_short_line(blob: str, reason: str) -> None:
    outcome = replay(RateModel, _wrong(), blob)
    assert outcome.status is ReplayStatus.INVALID
    assert reason in outcome.message
    assert len(outcome.message) < SHORT, outcome.message
    assert "\n" not in outcome.message


def test_a_zlib_bomb_is_refused_without_inflating_it() -> None:
    bomb = _encode(bytes(32 * MAX_INFLATED_BYTES))  # 32 MiB of zeros in about 40 KiB
    assert len(bomb) < MAX_BLOB_CHARS, "small enough to pass the length check"
    tracemalloc.start()
    try:
        outcome = replay(RateModel, _wrong(), bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome.status is ReplayStatus.INVALID
    assert f"inflates to more than {MAX_INFLATED_BYTES} bytes" in outcome.message
    assert len(outcome.message) < SHORT
    assert peak < 4 * MAX_INFLATED_BYTES, f"{peak} bytes allocated"


def test_a_blob_from_another_hypothesis_version_is_invalid() -> None:
    blob, _ = _blob()
    outcome = replay(RateModel, _wrong(), blob, hypothesis_version="0.0.1")
    assert outcome.status is ReplayStatus.INVALID
    assert "Hypothesis 0.0.1" in outcome.message
