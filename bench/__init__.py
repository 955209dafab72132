"""Benchmarks: each figure is printed beside its named baseline, measured in the same run."""
