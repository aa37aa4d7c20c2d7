"""Declarations used by the plug-in tests: the reference with one declared feature removed."""

from __future__ import annotations

import dataclasses
from typing import Any

from reference.plugin import implementation


def without_drop_policy() -> Any:
    """The reference, declaring no ``drop_policy``: QUEUE-DROP-POLICY must be not-applicable."""
    declaration = implementation()
    return dataclasses.replace(declaration, capabilities=declaration.capabilities - {"drop_policy"})
