"""An adapter whose own code fails at import."""

raise RuntimeError("adapter bug")
