from __future__ import annotations

from pathlib import Path

import pytest

SMALL_POOL = """
pattern = "pool"
seed = 1

[params]
workers = 2
jobs_buffer = 4
results_buffer = 0

[load]
producers = 4
duration = { dist = "fixed", value = 0.1 }

[run]
jobs = 200
"""


@pytest.fixture
def small_pool(tmp_path: Path) -> Path:
    path = tmp_path / "small-pool.toml"
    path.write_text(SMALL_POOL)
    return path
