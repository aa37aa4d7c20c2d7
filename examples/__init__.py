"""Example implementations and programs validated by poolcheck (run in the tests)."""
