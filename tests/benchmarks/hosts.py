"""Figure: a sync over several hosts (issue 'Outgrowing one GPU box').

`hosts`: two Docker hosts (gpu1 direct, gpu2 through a veth link into a network namespace) and one
Slurm login node (slurm1, a private single-node Slurm with accounting), each with a few active runs.
One forced sync costs one round trip per host (exec sessions counted on each sshd's log: gpu1's and
gpu2's sessions share the stand-in's log and are told apart by the address they come from) and,
since the hosts are probed at once, about the time of the slowest host's probe alone, printed
beside the sum of the three.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cosmos_core.api import CosmosAPI, Refresh
from cosmos_core.executors.base import ProbeTarget
from cosmos_core.lifecycle import ACTIVE, RunStatus
from cosmos_core.status import remote_files
from tests.hostkit import EXEC_SESSION_MARK, CuttableLink, TestHost, wait_until
from tests.slurmkit import SlurmCluster, SlurmLoginHost
from tests.workspace import Workspace, write_config

from .common import PRODUCT_SYNC, Bench, median

RUNS_PER_HOST = 3  # Slurm runs 2 at once (the node's 2 GPUs): the third waits, queued, as on a busy cluster
SYNCS = 10
PROBES = 10
HOSTS = ("gpu1", "gpu2", "slurm1")


def _exec_sessions(log: Path, source: str) -> int:
    """Exec channels an sshd log shows opened by clients at `source`."""
    try:
        text = log.read_text(errors="replace")
    except FileNotFoundError:
        return 0
    return sum(1 for line in text.splitlines() if EXEC_SESSION_MARK in line and f" from {source} port " in line)


def _outer_address(link: CuttableLink) -> str:
    """The product's end of the veth pair (the sshd's is the next address)."""
    prefix, last = link.address.rsplit(".", 1)
    return f"{prefix}.{int(last) - 1}"


def _config(root: Path, host: TestHost, link: CuttableLink, login: SlurmLoginHost) -> Path:
    hosts = (host.host_config_toml("gpu1") + "\n" + host.host_config_toml("gpu2", link=link) + "\n"
             + login.host_config_toml("slurm1"))
    return write_config(root, host, hosts_toml=hosts, **PRODUCT_SYNC)


def _targets(api: CosmosAPI, host: str) -> list[ProbeTarget]:
    """What a sync asks `host` about: its active runs (as LazySync builds them)."""
    runs = api.repo.list_runs(refresh=Refresh.NONE, host=host)
    return [ProbeTarget(r.id, r.remote_run_dir or "", remote_files(r.kind, RunStatus.COMPLETED), r.container_id)
            for r in runs if r.status in ACTIVE]


def _busy_cpu_seconds() -> float:
    """CPU seconds this machine has spent busy (every process, every CPU) since boot, from /proc/stat."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # user..steal (guest time is inside user)


def _timed(call) -> float:
    began = time.perf_counter()
    call()
    return time.perf_counter() - began


def bench_hosts(bench: Bench) -> None:
    host = bench.host
    began = time.perf_counter()
    with host.cuttable_link() as link, SlurmCluster() as cluster, SlurmLoginHost(host, cluster) as login:
        bench.note(f"link, Slurm cluster and login node up in {time.perf_counter() - began:.1f} s")
        root = bench.root / "hosts"
        root.mkdir(parents=True)
        workspace = Workspace(root, _config(root, host, link, login), host)
        api = workspace.api()
        run_ids: dict[str, list[str]] = {name: [] for name in HOSTS}
        try:
            _measure(bench, api, host, link, login, run_ids)
        finally:
            _clean_up(bench, api, run_ids)


def _measure(bench: Bench, api: CosmosAPI, host: TestHost, link: CuttableLink, login: SlurmLoginHost,
             run_ids: dict[str, list[str]]) -> None:
    prompt = api.add_prompt("bench hosts [sleep=600]", bench.video)
    began = time.perf_counter()
    for name in HOSTS:
        for _ in range(RUNS_PER_HOST):
            run_ids[name].append(api.start_inference(prompt["id"], host=name)["id"])
    bench.wait_running(run_ids["gpu1"] + run_ids["gpu2"])
    # Slurm starts what fits (2 jobs on the node's 2 GPUs); the rest stays queued: all are active.
    wait_until(lambda: sum(r["status"] == "running" for r in api.list_runs(refresh=Refresh.FORCE, host="slurm1"))
               >= 2, 120, "two Slurm jobs to run", interval=0.5)
    bench.note(f"started {RUNS_PER_HOST} runs on each of {', '.join(HOSTS)} in {time.perf_counter() - began:.1f} s")

    def sync() -> None:
        report = api.sync(Refresh.FORCE, deadline=time.monotonic())
        if sorted(report.probed) != list(HOSTS) or report.unreachable:
            raise RuntimeError(f"the sync did not probe every host: {report}")

    sync()  # connections open, as a dashboard keeps them: no sync below pays a handshake
    counters = {
        "gpu1": lambda: _exec_sessions(host.sshd_log, "127.0.0.1"),
        "gpu2": lambda: _exec_sessions(host.sshd_log, _outer_address(link)),
        "slurm1": lambda: _exec_sessions(login.sshd_log, "127.0.0.1"),
    }
    before = {name: count() for name, count in counters.items()}
    sync()
    wait_until(lambda: all(count() > before[name] for name, count in counters.items()), 10,
               "each host's sshd to log the sync's session")
    round_trips = {name: count() - before[name] for name, count in counters.items()}

    sync_times = [_timed(sync) for _ in range(SYNCS)]
    syncer = api.repo.syncer
    assert syncer is not None, "the API syncs its hosts"
    checker = syncer.checker
    targets = {name: _targets(api, name) for name in HOSTS}
    for name, asked in targets.items():
        if len(asked) != RUNS_PER_HOST:
            raise RuntimeError(f"{name} has {len(asked)} active runs, not {RUNS_PER_HOST}")
    probe_times: dict[str, float] = {}
    cpu = 0.0  # the machine's busy CPU seconds per probe, summed over the hosts (the stand-ins run here)
    for name in HOSTS:
        busy = _busy_cpu_seconds()
        probe_times[name] = median([_timed(lambda name=name: checker.probe(name, targets[name]))
                                    for _ in range(PROBES)])
        cpu += (_busy_cpu_seconds() - busy) / PROBES

    def probes_at_once() -> None:  # the sync's probing alone: the three probes in threads, no database
        with ThreadPoolExecutor(max_workers=len(HOSTS)) as pool:
            for answer in [pool.submit(checker.probe, name, targets[name]) for name in HOSTS]:
                answer.result()

    at_once = median([_timed(probes_at_once) for _ in range(PROBES)])
    synced = median(sync_times)
    total = sum(probe_times.values())
    slowest = max(probe_times.values())

    bench.emit("hosts_active_runs_per_host", RUNS_PER_HOST)
    bench.emit("hosts_sync_seconds", synced)
    for name in HOSTS:
        bench.emit(f"hosts_probe_{name}_seconds", probe_times[name])
    bench.emit("hosts_sum_of_probes_seconds", total)
    bench.emit("hosts_slowest_probe_seconds", slowest)
    bench.ratio("hosts_sync_vs_sum", synced / total)
    bench.ratio("hosts_sync_vs_slowest", synced / slowest)
    bench.emit("hosts_probes_at_once_seconds", at_once)  # what the sync's threads take, without its database work
    bench.ratio("hosts_probes_at_once_vs_slowest", at_once / slowest)
    # On this machine the three "hosts" share its CPUs: probes at once take at least their CPU time
    # over the CPU count (all processes' CPU, so other load on the machine counts too).
    bench.emit("hosts_probes_cpu_seconds", cpu)
    bench.emit("hosts_probes_cpu_floor_seconds", cpu / (os.cpu_count() or 1))
    for name in HOSTS:
        bench.emit(f"hosts_round_trips_{name}_per_sync", round_trips[name])


def _clean_up(bench: Bench, api: CosmosAPI, run_ids: dict[str, list[str]]) -> None:
    """Cancel the Slurm jobs (scancel: their containers stop with them), then remove every run's
    container and directory on the stand-in."""
    try:
        for run_id in run_ids["slurm1"]:
            try:
                api.cancel(run_id)
            except Exception as exc:  # noqa: BLE001 - best effort: the cluster's stop cancels what is left
                bench.note(f"cancel {run_id}: {exc}")
    finally:
        api.close()
        bench.discard_runs([run_id for ids in run_ids.values() for run_id in ids])
