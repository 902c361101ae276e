"""Figures 1 and 4: getting a finished run's files home.

1. `download`: from "container exited" to a verified 256 MiB output.mp4 with `python -m cosmos_core
   sync --wait` (a process, as a user runs it), against the best of OpenSSH's `sftp` and `scp`
   fetching the same file from the same sshd: on loopback, then through a veth link into a network
   namespace whose far end sends at 1 Gbit/s (tc's token bucket), as a real LAN would.
4. `first_sync`: the first sync (decide only, no download) after a run whose log is 1 GiB, against
   one with a normal log: a tick must never wait on hashing big files.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

from cosmos_core.api import CosmosAPI, Refresh
from tests.hostkit import CuttableLink
from tests.workspace import Workspace

from .common import GIB, MIB, Bench, cli_argv, measure, write_log

DOWNLOAD_BYTES = 256 * MIB
DOWNLOAD_TRIES = 3  # runs synced by us, and fetches by each of sftp and scp; the best time of each counts
LINK_RATE = "1000mbit"  # the shaped link's rate (tc's units)
BIG_LOG_BYTES = 1 * GIB
BIG_LOG_SLEEP = 12  # seconds the big-log run sleeps: time enough to append 1 GiB to its log meanwhile


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def openssh_options(bench: Bench, port: int) -> list[str]:
    """The stand-in's key and known_hosts; no agent, no user config, never a prompt."""
    host = bench.host
    return ["-F", "/dev/null", "-i", host.key_file, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={host.known_hosts}",
            "-P", str(port)]  # fmt: skip


def openssh_fetch(bench: Bench, tool: str, address: tuple[str, int], remote: Path, local: Path) -> float:
    """Seconds `sftp` or `scp` takes to fetch `remote` to `local` from the sshd at `address` (a fresh
    process, as a user runs it)."""
    source = f"{bench.host.user}@{address[0]}"
    if tool == "sftp":
        batch = local.parent / "sftp-batch"
        batch.write_text(f'get "{remote}" "{local}"\n')
        argv = ["sftp", "-q", *openssh_options(bench, address[1]), "-b", str(batch), source]
    else:
        argv = ["scp", "-q", *openssh_options(bench, address[1]), f"{source}:{remote}", str(local)]
    result = measure(argv, local.parent).check(tool)
    if local.stat().st_size != remote.stat().st_size:
        raise RuntimeError(f"{tool} fetched {local.stat().st_size} bytes of {remote.stat().st_size}")
    local.unlink()
    return result.seconds


def bench_download(bench: Bench) -> None:
    """The same figures on loopback and over a veth link shaped to 1 Gbit/s (LINK_RATE)."""
    _download_figures(bench, "download", None)
    with bench.host.cuttable_link() as link:
        link.shape(LINK_RATE)
        _download_figures(bench, "download_1gbit", link)


def _download_figures(bench: Bench, name: str, link: CuttableLink | None) -> None:
    workspace = bench.workspace(name, link=link)
    api = workspace.api()
    run_ids: list[str] = []
    try:
        prompt = api.add_prompt(f"bench download [size={DOWNLOAD_BYTES}]", bench.video)
        ours = []
        for _ in range(DOWNLOAD_TRIES):
            run_ids.append(api.start_inference(prompt["id"])["id"])
            ours.append(_sync_wait_download(bench, workspace, api, run_ids[-1]))
        best_ours = min(ours)
        remote = workspace.remote_run_dir(run_ids[-1]) / "outputs" / "output.mp4"
        scratch = bench.root / f"{name}-openssh"
        scratch.mkdir(exist_ok=True)
        address = (link.address, link.port) if link else (bench.host.hostname, bench.host.port)
        best = {tool: min(openssh_fetch(bench, tool, address, remote, scratch / f"{tool}.mp4")
                          for _ in range(DOWNLOAD_TRIES))
                for tool in ("sftp", "scp")}  # fmt: skip
        baseline = min(best.values())
        bench.emit(f"{name}_256mib_seconds", best_ours)
        bench.emit(f"{name}_256mib_mb_per_second", DOWNLOAD_BYTES / 1e6 / best_ours)
        bench.emit(f"{name}_256mib_openssh_sftp_seconds", best["sftp"])
        bench.emit(f"{name}_256mib_openssh_scp_seconds", best["scp"])
        bench.emit(f"{name}_256mib_openssh_best_seconds", baseline)
        bench.ratio(f"{name}_time_vs_openssh", best_ours / baseline)
    finally:
        api.close()
        bench.discard_runs(run_ids)
        shutil.rmtree(workspace.root, ignore_errors=True)


def _sync_wait_download(bench: Bench, workspace: Workspace, api: CosmosAPI, run_id: str) -> float:
    """Seconds from the run's container having exited to `sync --wait` ending with its output
    downloaded and verified (checked again here, outside the clock)."""
    bench.wait_exited(run_id)
    remote = workspace.remote_run_dir(run_id) / "outputs" / "output.mp4"
    if remote.stat().st_size != DOWNLOAD_BYTES:
        raise RuntimeError(f"the stand-in wrote {remote.stat().st_size} bytes, not {DOWNLOAD_BYTES}")
    seconds = measure(cli_argv(workspace, "sync", "--wait"), workspace.root).check("sync --wait").seconds
    run = api.get_run(run_id, Refresh.NONE)
    local = Path(run["output_path"] or "/nonexistent")
    if run["download"]["status"] != "done" or not local.is_file():
        raise RuntimeError(f"sync --wait ended without the output: {run['download']}")
    if local.stat().st_size != DOWNLOAD_BYTES or _sha256(local) != _sha256(remote):
        raise RuntimeError("the downloaded output.mp4 differs from the host's")
    local.unlink()  # the disk holds one copy at a time
    api.sync(Refresh.FORCE)  # removes the exited container, as the next tick would: not left for the next try
    return seconds


def _finished_run(bench: Bench, workspace: Workspace, api: CosmosAPI, prompt_text: str,
                  big_log: bool = False) -> str:
    """Start a run and return its id once its container has exited; with `big_log`, 1 GiB of log
    lines are appended to its run.log while it sleeps (the completion marker still ends the log)."""
    prompt = api.add_prompt(prompt_text, bench.video)
    run_id = api.start_inference(prompt["id"])["id"]
    if big_log:
        log = workspace.remote_run_dir(run_id) / "run.log"
        began = time.monotonic()
        bench.wait_running([run_id])
        while not log.is_file():
            time.sleep(0.05)
        write_log(log, BIG_LOG_BYTES, append=True)
        if bench.container_status(run_id) != "running":
            raise RuntimeError(f"the run ended before its log was inflated ({time.monotonic() - began:.1f} s): "
                               f"raise BIG_LOG_SLEEP")
    bench.wait_exited(run_id)
    return run_id


def _first_sync_seconds(api: CosmosAPI, run_id: str) -> float:
    """The first sync after the run finished, deciding only (the download deadline has passed)."""
    started = time.perf_counter()
    api.sync(Refresh.FORCE, deadline=time.monotonic())
    seconds = time.perf_counter() - started
    status = api.get_run(run_id, Refresh.NONE)["status"]
    if status != "completed":
        raise RuntimeError(f"the first sync left run {run_id} {status}")
    return seconds


def bench_first_sync(bench: Bench) -> None:
    workspace = bench.workspace("first_sync")
    api = workspace.api()
    runs: list[str] = []
    try:
        runs.append(_finished_run(bench, workspace, api, "bench normal log"))
        normal = _first_sync_seconds(api, runs[-1])
        runs.append(_finished_run(bench, workspace, api, f"bench big log [sleep={BIG_LOG_SLEEP}]", big_log=True))
        big = _first_sync_seconds(api, runs[-1])
        size = (workspace.remote_run_dir(runs[-1]) / "run.log").stat().st_size
        bench.emit("first_sync_normal_log_seconds", normal)
        bench.emit("first_sync_1gib_log_seconds", big)
        bench.emit("first_sync_1gib_log_bytes", size)
        bench.ratio("first_sync_1gib_vs_normal_log", big / normal)
    finally:
        api.close()
        bench.discard_runs(runs)
        shutil.rmtree(workspace.root, ignore_errors=True)
