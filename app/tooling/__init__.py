"""Tooling set apart from the service: benchmarks, evaluation, reliability checks."""
