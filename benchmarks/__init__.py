"""Benchmarks for suggest_api; each module runs with `python -m benchmarks.<name>` and prints its figures."""
