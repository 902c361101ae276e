"""Figures 5 and 7: how often the product talks to a host.

5. `commands`: remote commands (exec sessions counted by the stand-in's sshd) and time of one sync
   over 30 running runs, against the naive design implemented here: two commands per run.
7. `tabs`: 10 tabs ticking for some seconds share one probe per `sync.min_interval_seconds`: exec
   sessions against ticks, for 10 tabs of one dashboard process (one Handlers, a thread per tab, as
   Gradio runs timer events) and for 10 dashboard processes' worth of API instances (their own SSH
   connections; only the database throttles them).
"""

from __future__ import annotations

import math
import shlex
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from app.handlers import Handlers, Query
from cosmos_core.api import CosmosAPI, Refresh
from cosmos_core.executors import docker_cli as docker
from cosmos_core.executors.base import ProbeTarget
from cosmos_core.ssh.host import Host
from tests.workspace import Workspace

from .common import PRODUCT_SYNC, Bench, percentile

ACTIVE_RUNS = 30
TABS = 10
TAB_TICK_SECONDS = 0.5  # each tab's timer (ui.refresh_seconds); short, so that many ticks fall in one interval
TABS_SECONDS = 8.0


@dataclass
class ActiveRuns:
    workspace: Workspace
    api: CosmosAPI
    run_ids: list[str]


def active_runs(bench: Bench, count: int = ACTIVE_RUNS) -> ActiveRuns:
    """`count` runs whose containers are running (sleeping for 10 minutes), shared by the benchmarks."""

    def build() -> ActiveRuns:
        workspace = bench.workspace("active")
        api = workspace.api()
        prompt = api.add_prompt("bench active [sleep=600]", bench.video)
        began = time.perf_counter()
        run_ids = [api.start_inference(prompt["id"])["id"] for _ in range(count)]
        bench.wait_running(run_ids)
        bench.note(f"started {count} runs in {time.perf_counter() - began:.1f} s")
        return ActiveRuns(workspace, api, run_ids)

    return bench.shared("active", build, _cleanup_active)


def _cleanup_active(active: ActiveRuns) -> None:
    active.api.close()
    active.workspace.host.docker("rm", "-f", "-t", "0", *[docker.container_name(r) for r in active.run_ids],
                                 check=False)
    shutil.rmtree(active.workspace.root, ignore_errors=True)
    for run_id in active.run_ids:
        shutil.rmtree(active.workspace.remote_run_dir(run_id), ignore_errors=True)


def naive_status(host: Host, targets: Sequence[ProbeTarget]) -> None:
    """The naive design: for every run, inspect its container, then read its log for the marker."""
    for target in targets:
        host.run(docker.inspect_command(host.config.docker, [docker.container_name(target.run_id)]))
        host.run(f"tail -c 65536 {shlex.quote(target.run_dir + '/run.log')} | grep -a COSMOS_COMPLETE || true")


def sync_against_naive(workspace: Workspace, api: CosmosAPI, run_ids: Sequence[str]) -> dict[str, float]:
    """One product sync over the running runs, then the naive design over the same runs:
    remote commands (exec sessions on the host's sshd) and seconds of each."""
    host = api.executors["gpu1"].shell
    assert isinstance(host, Host), f"gpu1 is reached over SSH, not by {host.label}"
    targets = [ProbeTarget(r, str(workspace.remote_run_dir(r)), ("outputs/output.mp4", "run.log")) for r in run_ids]
    count = workspace.host.count_exec_sessions
    before = count()
    started = time.perf_counter()
    report = api.sync(Refresh.FORCE)
    sync_seconds = time.perf_counter() - started
    sync_commands = count() - before
    if report.probed != ["gpu1"] or report.unreachable:
        raise RuntimeError(f"the sync did not probe gpu1: {report}")
    before = count()
    started = time.perf_counter()
    naive_status(host, targets)
    naive_seconds = time.perf_counter() - started
    return {"sync_commands": sync_commands, "sync_seconds": sync_seconds,
            "naive_commands": count() - before, "naive_seconds": naive_seconds}  # fmt: skip


def bench_commands(bench: Bench) -> None:
    active = active_runs(bench)
    api = active.api
    api.executors["gpu1"].shell.run("true")  # an open connection, as a dashboard keeps: neither side pays the handshake
    figures = sync_against_naive(active.workspace, api, active.run_ids)
    n = len(active.run_ids)
    bench.emit(f"sync_{n}_active_remote_commands", figures["sync_commands"])
    bench.emit(f"naive_{n}_active_remote_commands", figures["naive_commands"])
    bench.emit(f"sync_{n}_active_seconds", figures["sync_seconds"])
    bench.emit(f"naive_{n}_active_seconds", figures["naive_seconds"])
    bench.ratio(f"naive_vs_sync_{n}_active_time", figures["naive_seconds"] / figures["sync_seconds"])


def _tick_tabs(handlers: Sequence[Handlers], seconds: float, every: float) -> list[float]:
    """One thread per tab, each rendering its tab with Refresh.AUTO every `every` seconds
    (tab i uses handlers[i % len(handlers)]); the seconds each tick took."""
    took: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def tab(index: int) -> None:
        mine = handlers[index % len(handlers)]
        next_tick = time.monotonic() + every * index / TABS  # tabs opened at different moments
        while next_tick < stop_at:
            time.sleep(max(0.0, next_tick - time.monotonic()))
            started = time.perf_counter()
            try:
                mine.render(Query(), None, Refresh.AUTO)
            except BaseException as exc:  # noqa: BLE001 - reported after the threads end
                errors.append(exc)
                return
            with lock:
                took.append(time.perf_counter() - started)
            next_tick += every

    threads = [threading.Thread(target=tab, args=(i,)) for i in range(TABS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return took


def bench_tabs(bench: Bench) -> None:
    active = active_runs(bench)
    count = bench.host.count_exec_sessions
    interval = PRODUCT_SYNC["min_interval_seconds"]
    limit = math.floor(TABS_SECONDS / interval) + 1
    time.sleep(interval)  # the last probe (by any benchmark before) is an interval old
    apis = [active.workspace.api()]
    try:
        before = count()
        took = _tick_tabs([Handlers(apis[0])], TABS_SECONDS, TAB_TICK_SECONDS)
        probes = count() - before
        bench.emit(f"tabs_{TABS}_one_process_ticks", len(took))
        bench.emit(f"tabs_{TABS}_one_process_probes", probes)
        bench.emit(f"tabs_{TABS}_one_process_tick_p50_ms", percentile(took, 50) * 1000)
        bench.emit(f"tabs_{TABS}_one_process_tick_p95_ms", percentile(took, 95) * 1000)
        apis += [active.workspace.api() for _ in range(TABS - 1)]
        time.sleep(interval)
        before = count()
        took = _tick_tabs([Handlers(api) for api in apis], TABS_SECONDS, TAB_TICK_SECONDS)
        probes = count() - before
        bench.emit(f"tabs_{TABS}_processes_ticks", len(took))
        bench.emit(f"tabs_{TABS}_processes_probes", probes)
        bench.emit(f"tabs_{TABS}_processes_tick_p95_ms", percentile(took, 95) * 1000)
        bench.emit(f"tabs_{TABS}_probes_allowed", limit)
    finally:
        for api in apis:
            api.close()
