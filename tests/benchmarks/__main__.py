"""`python -m tests.benchmarks [--only NAME ...]`: every figure of the README's benchmark table.

Starts one stand-in GPU host (sshd + podman, tests/hostkit.py), runs each benchmark against
workspaces of its own, and prints `name=value` lines on stdout, each figure beside its baseline
measured in the same run; the machine comes first, the total time last. Progress notes go to
stderr. Exit status 1 if a benchmark failed (its `NAME_error=` line says why).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from tests.hostkit import TestHost

from .cli import bench_cli, bench_logs
from .common import Bench, code_version, machine, process_seconds
from .dashboard import bench_rss, bench_tick
from .hosts import bench_hosts
from .probes import bench_commands, bench_tabs
from .scores import bench_scores
from .table import bench_table
from .transfers import bench_download, bench_first_sync

# name -> (benchmark, the shared set-ups it uses). Ordered so that shared set-ups are used back to
# back and released right after their last user.
BENCHMARKS: dict[str, tuple[Callable[[Bench], None], tuple[str, ...]]] = {
    "cli": (bench_cli, ()),                    # 8. CLI start-up
    "download": (bench_download, ()),          # 1. exited -> verified 256 MiB output vs OpenSSH
    "first_sync": (bench_first_sync, ()),      # 4. first sync after a run with a 1 GiB log
    "logs": (bench_logs, ()),                  # 3. logs --tail 5 on a 1 GiB log
    "commands": (bench_commands, ("active",)),  # 5. remote commands per sync, 30 active runs
    "tabs": (bench_tabs, ("active",)),          # 7. 10 tabs share one probe per interval
    "tick": (bench_tick, ("filled_100", "filled_10000", "filled_100000")),  # 2. quiet tick vs runs stored
    "rss": (bench_rss, ("filled_10000", "filled_100000")),  # 6. dashboard memory vs runs stored
    "table": (bench_table, ("filled_100000",)),  # the experiment table's quiet tick vs today's, 100,000 runs
    "hosts": (bench_hosts, ()),                # two Docker hosts + a Slurm login node: one sync vs each probe
    "scores": (bench_scores, ()),              # 10. Blur SSIM + Canny-F1 of a 121-frame 1280x704 output vs decode
}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=list(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    chosen = [name for name in BENCHMARKS if not args.only or name in args.only]
    began = time.perf_counter()
    for key, value in (machine() | code_version()).items():
        print(f"{key}={value}", flush=True)
    # Gradio's default temp dir (/tmp/gradio) is shared by everything on the machine.
    root = tempfile.mkdtemp(prefix="cosmos-bench-")
    os.environ.setdefault("GRADIO_TEMP_DIR", os.path.join(root, "gradio"))
    failed = []
    try:
        with TestHost() as host:
            bench = Bench(host, Path(root) / "work")
            bench.emit("bench_host_start_seconds", time.perf_counter() - began)
            for index, name in enumerate(chosen):
                function, uses = BENCHMARKS[name]
                started = time.perf_counter()
                bench.note(f"{name}: {function.__module__.rsplit('.', 1)[-1]}.{function.__name__}")
                try:
                    function(bench)
                except Exception as exc:  # one broken benchmark must not hide the others' figures
                    failed.append(name)
                    traceback.print_exc()
                    bench.emit(f"{name}_error", " ".join(f"{type(exc).__name__}: {exc}".split())[:300])
                bench.emit(f"{name}_bench_seconds", time.perf_counter() - started)
                later = {key for other in chosen[index + 1:] for key in BENCHMARKS[other][1]}
                for key in set(uses) - later:
                    bench.release(key)
            bench.release_all()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"bench_total_seconds={process_seconds():.1f}", flush=True)  # from process start to here
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
