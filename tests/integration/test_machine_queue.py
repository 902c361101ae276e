"""One GPU queue per machine (issue 19, item 3), on the stand-in host: two users with two checkouts and
two installs of the product share the machine's queue (the default directory, outside every checkout);
a container given some of the GPUs queues for them by the machine's indices; a GPU another user's job
is using is not handed out until it is free; `hosts check` reports the queue and the image's flock."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosmos_core.api import CosmosAPI, Refresh
from cosmos_core.config import load_config
from cosmos_core.upstream import gpu_queue
from tests.hostkit import OTHER_USER, TestHost, max_concurrent, wait_until
from tests.workspace import write_config


def api_for(root: Path, host: TestHost, **host_options) -> CosmosAPI:
    root.mkdir(parents=True, exist_ok=True)
    return CosmosAPI(load_config(write_config(root, host, hosts_toml=host.host_config_toml("box", **host_options))))


@pytest.fixture
def apis() -> Iterator[list[CosmosAPI]]:
    opened: list[CosmosAPI] = []
    yield opened
    for api in opened:
        api.close()


def start(api: CosmosAPI, text: str, video: Path) -> str:
    return api.start_inference(api.add_prompt(text, video)["id"], host="box")["id"]


def finished(api: CosmosAPI, run_id: str, timeout: float = 90) -> dict:
    run = wait_until(lambda: (r := api.get_run(run_id, Refresh.FORCE)) and r["status"] in ("completed", "failed")
                     and r, timeout, f"{run_id} to end", interval=0.3)
    assert run["status"] == "completed", run["error"]
    return run


def record_of(host: TestHost, checkouts: list[str], run_ids: list[str]) -> list:
    """The stand-in's record of these runs, from every checkout, in time order."""
    dirs = {f"cosmos_runs/{run_id}" for run_id in run_ids}
    lines = [entry for checkout in checkouts for entry in host.gpu_record(checkout) if entry[1] in dirs]
    return sorted(lines, key=lambda entry: entry[3])


def test_two_users_with_two_checkouts_share_the_machines_one_queue(gpu_host, tmp_path, apis, sample_video):
    """Before, each checkout had a queue of its own, and both runs took GPU 0 at once."""
    theirs = str(tmp_path / "their-checkout" / "cosmos-transfer1")
    shutil.copytree(gpu_host.remote_dir, theirs, ignore=shutil.ignore_patterns("cosmos_runs"))
    mine = api_for(tmp_path / "me", gpu_host, gpus=1, machine_queue=True)
    other = api_for(tmp_path / "them", gpu_host, gpus=1, machine_queue=True, remote_dir=theirs, user=OTHER_USER)
    apis += [mine, other]
    first = start(mine, "mine [sleep=3]", sample_video)
    second = start(other, "theirs [sleep=1]", sample_video)
    runs = [finished(mine, first), finished(other, second)]
    record = record_of(gpu_host, [gpu_host.remote_dir, theirs], [first, second])
    assert len(record) == 4 and max_concurrent(record) == 1, record  # one at a time, on the machine's one slot
    assert [run["gpus"] for run in runs] == [[0], [0]]


def test_a_container_given_some_gpus_queues_for_them_by_the_machines_indices(gpu_host, tmp_path, apis,
                                                                              sample_video):
    api = api_for(tmp_path, gpu_host, run_args=("--gpus", '"device=2,3"', "--ipc=host"))
    apis.append(api)
    run_ids = [start(api, f"subset {i} [sleep=2]", sample_video) for i in range(3)]
    runs = [finished(api, run_id) for run_id in run_ids]
    assert sorted(tuple(run["gpus"]) for run in runs[:2]) == [(2,), (3,)]
    assert runs[2]["gpus"] in ([2], [3])  # the third waited for one of the two
    record = record_of(gpu_host, [gpu_host.remote_dir], run_ids)
    assert max_concurrent(record) == 2 and {entry[2] for entry in record} == {"2", "3"}


def test_a_gpu_another_users_job_is_using_is_not_handed_out_until_it_is_free(gpu_host, tmp_path, apis,
                                                                            sample_video):
    api = api_for(tmp_path, gpu_host, gpus=2)
    apis.append(api)
    gpu_host.set_gpu_use({0: (30000, 4242, "python")})
    try:
        report = api.check_host("box")
        assert report["queue"]["status"] == "ok"
        assert report["queue"]["detail"] == (f"{gpu_host.queue_dir}: 1 of 2 GPUs free; GPU 0 busy outside the queue "
                                             "(30000 MiB: python pid 4242, 30000 MiB)")
        first = start(api, "takes GPU 1 [sleep=600]", sample_video)
        wait_until(lambda: api.get_run(first, Refresh.FORCE)["gpus"] == [1], 60, "the first run to hold GPU 1")
        second = start(api, "waits for GPU 0 [sleep=1]", sample_video)
        waiting = wait_until(lambda: (r := api.get_run(second, Refresh.FORCE))["progress"] and
                             "outside the queue" in r["progress"] and r, 60, "the second run to say what it waits for")
        assert waiting["status"] == "queued"
        assert waiting["progress"] == "waiting for GPU 0: 30000 MiB in use outside the queue"
        assert "GPU 1 held by a run of the queue" in api.check_host("box")["queue"]["detail"]
        gpu_host.set_gpu_use({})  # their job ended
        assert finished(api, second)["gpus"] == [0]
    finally:
        gpu_host.set_gpu_use({})
    api.cancel(first)


def test_hosts_check_says_where_the_queue_is_and_whether_the_image_has_flock(gpu_host, tmp_path, apis):
    api = api_for(tmp_path, gpu_host)
    apis.append(api)
    report = api.check_host("box")
    assert report["ok"] and report["start"] == {
        "status": "ok", "detail": f"{gpu_host.image} starts with the run_args and has /usr/bin/flock"}
    assert report["queue"]["detail"].startswith(f"{gpu_host.queue_dir}: ")
    assert Path(gpu_host.queue_dir, gpu_queue.TICKETS).stat().st_mode & 0o7777 == 0o1777


def test_an_image_without_flock_is_not_ready_and_its_runs_fail_at_once(gpu_host, tmp_path, apis, sample_video):
    image = "cosmos-noflock:test"
    gpu_host.docker("rm", "-f", "noflock-build", check=False)
    gpu_host.docker("run", "--name", "noflock-build", gpu_host.image, "rm", "/usr/bin/flock")
    gpu_host.docker("commit", "noflock-build", image)
    gpu_host.docker("rm", "-f", "noflock-build")
    config = write_config(tmp_path, gpu_host, hosts_toml=gpu_host.host_config_toml("box").replace(
        f'image = "{gpu_host.image}"', f'image = "{image}"'))
    api = CosmosAPI(load_config(config))
    apis.append(api)
    report = api.check_host("box")
    assert not report["ok"]
    assert report["start"] == {"status": "fail",
                               "detail": f"{image} has no flock (util-linux): its runs would fail at once"}
    run = start(api, "no flock", sample_video)
    final = wait_until(lambda: (r := api.get_run(run, Refresh.FORCE))["status"] == "failed" and r, 60,
                       "the run to fail")
    assert "needs flock (util-linux) in the image, which has none" in final["error"]
