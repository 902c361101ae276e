"""Slurm's GPUs reach the container (issue 19, item 1): a job that runs its image with `docker` gives the
container the GPUs Slurm allocated to the job (`--gpus "device=…"` from SLURM_JOB_GPUS), never every GPU of
the node, so two one-GPU jobs on one node use two different GPUs.

The private cluster's node has two gres GPUs (char devices made with mknod); the test host's docker shim
gives a container the devices its `--gpus` names, as the NVIDIA toolkit does, and the stand-in model
records the machine's GPUs it ran on (TestHost.gpu_record).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from cosmos_core.api import CosmosAPI, Refresh
from cosmos_core.config import load_config
from tests.hostkit import make_video, max_concurrent, wait_until
from tests.slurmkit import SlurmLoginHost
from tests.workspace import write_config


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, slurm_login: SlurmLoginHost) -> Iterator[CosmosAPI]:
    root = tmp_path_factory.mktemp("slurm-gpus")
    hosts = slurm_login.host_config_toml("slurm1", gres="gpu:1")  # run_args keep the stand-in's `--gpus all`
    api = CosmosAPI(load_config(write_config(root, slurm_login.host, hosts_toml=hosts)))
    yield api
    api.close()
    slurm_login.cluster.cancel_jobs()


def _ended(api: CosmosAPI, run_id: str) -> dict | None:
    """The run once it has completed or failed, else None."""
    run = api.get_run(run_id, Refresh.FORCE)
    return run if run["status"] in ("completed", "failed") else None


def test_two_one_gpu_jobs_on_one_node_run_on_different_gpus(api: CosmosAPI, slurm_login: SlurmLoginHost,
                                                            tmp_path: Path) -> None:
    video = make_video(tmp_path / "sample.mp4")
    runs = [api.start_inference(api.add_prompt(f"side by side {i} [sleep=4]", video)["id"], host="slurm1")["id"]
            for i in (1, 2)]
    for run_id in runs:
        final = wait_until(partial(_ended, api, run_id), 120, f"{run_id} to end", interval=0.5)
        assert final["status"] == "completed", final["error"]
    record = [line for line in slurm_login.host.gpu_record() if line[1] in {f"cosmos_runs/{r}" for r in runs}]
    assert max_concurrent(record) == 2  # they ran at the same time...
    devices = {run_dir: gpus for kind, run_dir, gpus, _when in record if kind == "start"}
    assert sorted(devices.values()) == ["0", "1"], record  # ...each on a GPU of its own
