"""The harness of `python -m tests.benchmarks` keeps working as the product changes: the command
prints `name=value` figures, and the child measurement sees a child's own peak memory. The figures
themselves come from `python -m tests.benchmarks`, outside the test run; none is asserted."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.benchmarks.common import measure
from tests.workspace import REPO

pytestmark = pytest.mark.slow


def test_the_bench_command_prints_name_value_lines():
    result = subprocess.run([sys.executable, "-m", "tests.benchmarks", "--only", "cli"], cwd=REPO,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    figures = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert {"machine_cpus", "machine_cpu_model", "python_startup_seconds", "cli_help_seconds",
            "cli_runs_empty_seconds", "bench_total_seconds"} <= figures.keys(), result.stdout  # fmt: skip
    assert figures["cli_runs_empty_vs_python_startup"].endswith("x")


def test_measure_sees_the_childs_own_peak_memory(tmp_path):
    held = bytearray(300 * 1024 * 1024)
    held[::4096] = b"x" * len(held[::4096])  # this process is now 300 MB bigger: a child must not inherit that
    big = measure([sys.executable, "-c", "b = bytearray(200 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])"],
                  tmp_path)  # fmt: skip
    small = measure([sys.executable, "-c", "pass"], tmp_path)
    assert big.returncode == small.returncode == 0
    assert 200 < big.max_rss_mb < 300
    assert small.max_rss_mb < 100
    assert 0 < small.seconds < big.seconds + 5
