"""Benchmarks: every figure of the README's table, each against a baseline measured in the same run.

Run them all with ``python -m tests.benchmarks`` (one stand-in GPU host, ``name=value`` lines on
stdout), one with ``--only NAME``; ``python -m pytest tests/benchmarks -s`` runs the pytest ones.
"""
