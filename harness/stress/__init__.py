"""Stress runs: scenarios as data, driven through the plug-in path, checked by the same rules."""
