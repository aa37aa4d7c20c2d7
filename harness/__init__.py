"""poolcheck conformance harness: rules, traces, checkers and models for any implementation."""
