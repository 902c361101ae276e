"""Figures 3 and 8: the command line.

3. `logs`: `python -m cosmos_core logs RUN --tail 5` on a run whose downloaded log is 1 GiB, against
   the same on a 10 kB log: wall time and the process's peak RSS.
8. `cli`: start-up, median of several: `--help`, and `runs` on an empty database, against the bare
   interpreter (`python -c pass`) measured alongside.
"""

from __future__ import annotations

import shutil
import sys
import time

from cosmos_core.status import LOG_FILE
from cosmos_core.store.queries import new_id
from cosmos_core.store.tables import Run

from .common import GIB, Bench, Measured, cli_argv, measure, median, write_log

LOG_SIZES = {"10kb": 10_000, "1gib": GIB}
LOG_REPEATS = 5
STARTUP_REPEATS = 7
MARKER = "[COSMOS_COMPLETE] exit_code=0"


def bench_logs(bench: Bench) -> None:
    workspace = bench.workspace("logs")
    api = workspace.api()
    try:
        prompt = api.add_prompt("bench logs", bench.video)
        runs = {}
        for label, size in LOG_SIZES.items():
            run = api.repo.create_run(new_id("rs"), prompt["id"], "inference", "gpu1", {})
            now = time.time()
            Run.update(status="completed", exit_code=0, completed_at=now, started_at=now, download_status="done",
                       container_removed=True).where(Run.id == run.id).execute()  # fmt: skip
            log = api.repo.local_dir(run.id) / LOG_FILE  # where a downloaded log lives (CosmosAPI.logs reads it)
            log.parent.mkdir(parents=True, exist_ok=True)
            write_log(log, size - len(MARKER) - 1, marker=MARKER)
            if not api.has_local_log(run.id):
                raise RuntimeError(f"the API does not see {log} as run {run.id}'s downloaded log")
            runs[label] = run.id
    finally:
        api.close()
    try:
        argv = {label: cli_argv(workspace, "logs", run_id, "--tail", "5") for label, run_id in runs.items()}
        measure(argv["10kb"], workspace.root).check("logs")  # a first start warms the disk cache: not counted
        results: dict[str, list[Measured]] = {label: [] for label in runs}
        for _ in range(LOG_REPEATS):  # the two take turns, so that this machine's other work weighs on both alike
            for label in runs:
                results[label].append(measure(argv[label], workspace.root).check("logs"))
        seconds, rss = {}, {}
        for label, measured in results.items():
            lines = measured[0].stdout.splitlines()
            if len(lines) != 5 or lines[-1] != MARKER:
                raise RuntimeError(f"logs --tail 5 printed {len(lines)} lines ending {lines[-1:]!r}")
            seconds[label] = median([m.seconds for m in measured])
            rss[label] = median([m.max_rss_mb for m in measured])
            bench.emit(f"logs_tail5_{label}_seconds", seconds[label])
            bench.emit(f"logs_tail5_{label}_max_rss_mb", rss[label])
        bench.ratio("logs_tail5_1gib_vs_10kb_time", seconds["1gib"] / seconds["10kb"])
        bench.ratio("logs_tail5_1gib_vs_10kb_rss", rss["1gib"] / rss["10kb"])
    finally:
        shutil.rmtree(workspace.root, ignore_errors=True)


def bench_cli(bench: Bench) -> None:
    workspace = bench.workspace("cli")
    try:
        measure(cli_argv(workspace, "runs"), workspace.root).check("runs")  # creates the empty database
        commands = {
            "python_startup": [sys.executable, "-c", "pass"],
            "cli_help": cli_argv(None, "--help"),
            "cli_runs_empty": cli_argv(workspace, "runs"),
        }
        took: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(STARTUP_REPEATS):  # in turns, as above
            for name, argv in commands.items():
                took[name].append(measure(argv, workspace.root).check(name).seconds)
        seconds = {name: median(values) for name, values in took.items()}
        for name, value in seconds.items():
            bench.emit(f"{name}_seconds", value)
        bench.ratio("cli_runs_empty_vs_python_startup", seconds["cli_runs_empty"] / seconds["python_startup"])
    finally:
        shutil.rmtree(workspace.root, ignore_errors=True)
