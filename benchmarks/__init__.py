"""Benchmarks: every figure is a ratio of variants measured side by side in one run (``make bench``)."""
