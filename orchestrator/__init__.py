"""Benchmark orchestration: model zoo and run coordination."""
