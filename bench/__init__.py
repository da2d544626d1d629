"""Benchmarks: `python -m bench [name ...]` prints figure, target, baseline, ratio and verdict."""
