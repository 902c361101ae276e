"""The GPU queue on the stand-in host (issue 'A GPU queue that runs overnight', point 1): runs wait for
the host's GPU slots in their own scripts, with flock, so the queue advances with no product process
running; the product only observes it. The stand-in model records the GPUs each run held."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmos_core.api import CosmosAPI, Refresh
from tests.hostkit import TestHost, max_concurrent, start_order, wait_until
from tests.workspace import Workspace, write_config


def queue_workspace(root: Path, host: TestHost, gpus: int) -> Workspace:
    return Workspace(root, write_config(root, host, hosts_toml=host.host_config_toml("gpu1", gpus=gpus)), host)


@pytest.fixture
def two_gpus(tmp_path: Path, gpu_host: TestHost) -> Workspace:
    return queue_workspace(tmp_path, gpu_host, 2)


@pytest.fixture
def one_gpu(tmp_path: Path, gpu_host: TestHost) -> Iterator[tuple[Workspace, CosmosAPI]]:
    workspace = queue_workspace(tmp_path, gpu_host, 1)
    api = workspace.api()
    yield workspace, api
    api.close()


def record_of(host: TestHost, run_ids: list[str]) -> list:
    """The stand-in's record of these runs (the host is shared by every test)."""
    dirs = {f"cosmos_runs/{run_id}" for run_id in run_ids}
    return [entry for entry in host.gpu_record() if entry[1] in dirs]


def container_status(host: TestHost, run_id: str) -> str:
    return host.docker("inspect", "-f", "{{.State.Status}}", f"cosmos-{run_id}", check=False).stdout.strip()


def start(api: CosmosAPI, text: str, video: Path) -> dict:
    return api.start_inference(api.add_prompt(text, video)["id"], host="gpu1")


def test_five_runs_on_two_gpus_take_turns_in_creation_order_with_no_product_process_running(two_gpus, sample_video):
    """The runs are started by five `run` processes, one after another, into the paused queue, which is
    then resumed (so that two hold GPUs at once however slowly the processes start); then no product
    process runs until every container has exited; only then does the product look."""
    prompt = two_gpus.cli("prompt", "add", "queued [sleep=4]", "--video", str(sample_video), check=True).stdout.strip()
    two_gpus.cli("queue", "pause", "gpu1", check=True)
    run_ids = [two_gpus.cli("run", prompt, check=True).stdout.strip() for _ in range(5)]
    two_gpus.cli("queue", "resume", "gpu1", check=True)
    host = two_gpus.host
    wait_until(lambda: all(container_status(host, r) == "exited" for r in run_ids), 90,
               "every container to exit, with no product process running")
    record = record_of(host, run_ids)
    assert max_concurrent(record) == 2
    assert start_order(record) == [f"cosmos_runs/{r}" for r in run_ids]  # creation order
    assert {entry[2] for entry in record} <= {"0", "1"}
    synced = two_gpus.cli("sync", "--wait", "--timeout", "60")
    assert synced.returncode == 0, synced.stderr
    assert [r["status"] for r in two_gpus.cli_json("runs")] == ["completed"] * 5


def test_a_queued_run_shows_its_place_and_cancels_without_ever_starting_its_model(one_gpu, sample_video):
    workspace, api = one_gpu
    holder = start(api, "holds the GPU [sleep=6]", sample_video)
    waiting = [start(api, f"waits {i} [sleep=1]", sample_video) for i in (1, 2)]
    running = wait_until(lambda: (r := api.get_run(holder["id"], Refresh.FORCE))["status"] == "running" and r, 30,
                         "the first run to hold the GPU")
    assert running["gpus"] == [0]
    second = wait_until(lambda: (r := api.get_run(waiting[1]["id"], Refresh.FORCE))["queue_position"] == 2 and r,
                        30, "the third run to show its place")
    assert second["status"] == "queued" and second["progress"] == "waiting for GPUs"
    cancelled = api.cancel(waiting[0]["id"])
    assert cancelled["status"] == "cancelled"
    wait_until(lambda: container_status(workspace.host, waiting[0]["id"]) in ("exited", ""), 30,
               "the cancelled run's container to stop")
    moved_up = wait_until(lambda: (r := api.get_run(waiting[1]["id"], Refresh.FORCE))["queue_position"] == 1 and r,
                          30, "the last run to move up")
    assert moved_up["status"] == "queued"
    final = wait_until(lambda: (r := api.get_run(waiting[1]["id"], Refresh.FORCE))["status"] == "completed" and r,
                       60, "the last run to run once the GPU is free")
    assert final["queue_position"] is None
    record = record_of(workspace.host, [holder["id"], *[w["id"] for w in waiting]])
    never_the_cancelled_one = [f"cosmos_runs/{holder['id']}", f"cosmos_runs/{waiting[1]['id']}"]
    assert start_order(record) == never_the_cancelled_one
    log = workspace.remote_run_dir(waiting[0]["id"]) / "run.log"
    assert log.read_text().rstrip().endswith("[COSMOS_COMPLETE] exit_code=143")


def test_run_json_of_a_run_that_waits_for_the_gpu_shows_its_place(one_gpu, sample_video):
    """`run --json` answers once the run's script has taken its ticket: queued, first in line."""
    workspace, api = one_gpu
    holder = start(api, "holds the GPU [sleep=30]", sample_video)
    wait_until(lambda: api.get_run(holder["id"], Refresh.FORCE)["status"] == "running", 30,
               "the first run to hold the GPU")
    prompt = api.add_prompt("waits [sleep=1]", sample_video)["id"]
    run = workspace.cli_json("run", prompt)
    assert (run["status"], run["queue_position"], run["progress"]) == ("queued", 1, "waiting for GPUs"), run
    assert run["queued_at"] is not None and run["started_at"] is None  # it holds no GPU yet
    api.cancel(holder["id"])
    started = wait_until(lambda: (r := api.get_run(run["id"], Refresh.FORCE))["status"] != "queued" and r, 30,
                         "the run to get the GPU")
    assert started["gpus"] == [0] and started["queued_at"] == run["queued_at"]
    assert started["started_at"] > started["queued_at"]


def test_front_and_delete_right_after_a_start_answer_with_the_runs_status_now(one_gpu, sample_video):
    """`run` stores a new run as queued; a moment later its script holds the free GPU, or waits behind
    the run holding it. `queue front` and `delete` called at once go by what the host says now, in one line."""
    workspace, _ = one_gpu
    text = "at once [sleep=30]"
    prompt = workspace.cli("prompt", "add", text, "--video", str(sample_video), check=True).stdout.strip()
    holder = workspace.cli("run", prompt, check=True).stdout.strip()
    front = workspace.cli("queue", "front", holder)
    assert (front.returncode, front.stderr) == (1, f"error: run {holder} is running; only a queued run can move "
                                                   f"to the front\n"), front.stderr
    deleted = workspace.cli("delete", holder, "--yes")
    assert (deleted.returncode, deleted.stderr) == (1, f"error: run {holder} is running: cancel it first\n")
    first, second = (workspace.cli("run", prompt, check=True).stdout.strip() for _ in range(2))
    front = workspace.cli("queue", "front", second)
    assert (front.returncode, front.stdout) == (0, f"{second}: queued, #1 in the queue of gpu1\n"), front.stderr
    deleted = workspace.cli("delete", first, "--yes")
    assert (deleted.returncode, deleted.stderr) == (1, f"error: run {first} is queued: cancel it first\n")


def test_pause_holds_the_queue_resume_releases_it_and_front_goes_first(one_gpu, sample_video):
    workspace, api = one_gpu
    api.pause_queue("gpu1")
    try:
        runs = [start(api, f"paused {i} [sleep=1]", sample_video) for i in range(3)]
        held = wait_until(lambda: (r := api.get_run(runs[0]["id"], Refresh.FORCE))["progress"] and r, 30,
                          "the first run to say it waits")
        assert held["status"] == "queued" and held["progress"] == "waiting for the host's queue to be resumed"
        time.sleep(2.5)  # the scripts look every second: a paused queue must not have moved meanwhile
        assert record_of(workspace.host, [r["id"] for r in runs]) == []
        front = api.move_to_front(runs[2]["id"])
        assert front["queue_position"] == 1
    finally:
        api.pause_queue("gpu1", paused=False)
    wait_until(lambda: all(api.get_run(r["id"], Refresh.FORCE)["status"] == "completed" for r in runs), 90,
               "the queue to run once resumed")
    order = start_order(record_of(workspace.host, [r["id"] for r in runs]))
    assert order == [f"cosmos_runs/{runs[i]['id']}" for i in (2, 0, 1)]
    assert max_concurrent(record_of(workspace.host, [r["id"] for r in runs])) == 1


def test_runs_of_both_models_on_one_host_wait_in_its_one_queue(tmp_path, gpu_host, sample_video):
    """Transfer1 and Transfer2.5 have their own checkouts on the host but share its GPUs."""
    toml = gpu_host.host_config_toml("gpu1", gpus=1, models=("transfer1", "transfer2.5"))
    workspace = Workspace(tmp_path, write_config(tmp_path, gpu_host, hosts_toml=toml), gpu_host)
    api = workspace.api()
    try:
        prompt = api.add_prompt("one GPU for both [sleep=2]", sample_video)["id"]
        runs = [api.start_inference(prompt, host="gpu1", model_name=m) for m in ("transfer2.5", "transfer1")]
        wait_until(lambda: all(api.get_run(r["id"], Refresh.FORCE)["status"] == "completed" for r in runs), 90,
                   "both runs to complete")
    finally:
        api.close()
    dirs = {f"cosmos_runs/{r['id']}" for r in runs}
    both = gpu_host.gpu_record() + gpu_host.gpu_record(gpu_host.remote_dir_25)
    record = sorted((entry for entry in both if entry[1] in dirs), key=lambda entry: entry[3])
    assert start_order(record) == [f"cosmos_runs/{r['id']}" for r in runs]
    assert max_concurrent(record) == 1
