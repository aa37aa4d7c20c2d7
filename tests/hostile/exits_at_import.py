"""A module that ends the process as it is imported (``sys.exit`` at import time)."""

from __future__ import annotations

import sys
from typing import Any

sys.exit(7)


def implementation() -> dict[str, Any]:  # pragma: no cover - never reached
    """Never reached: importing the module exits first."""
    return {}
