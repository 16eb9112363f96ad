"""Benchmarks: scripts that measure and print (never timed assertions in tests)."""
