"""Benchmarks (python -m bench.run_all): never part of the test suite's pass/fail."""
