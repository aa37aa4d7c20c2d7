"""An adapter as bundled ones are written: it imports its library at the top."""

import tests.fixtures_adapters.broken_library  # noqa: F401


def implementation() -> dict[str, object]:
    return {}
