"""The stand-in GPU host's GPUs, for the GPU queue's tests: util-linux `flock` in
the image (locks on a bind-mounted dir are shared between containers and the
host, and die with their holder), the stand-in `nvidia-smi` (over SSH, with the
count a test sets, and in the image), and the stand-in model's record of the
GPUs each run held (TestHost.gpu_record, max_concurrent, start_order)."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.hostkit import (
    DEFAULT_GPUS,
    TRANSFER25_SCRIPT,
    TRANSFER_SCRIPT,
    UPSAMPLER_SCRIPT,
    TestHost,
    max_concurrent,
    parse_gpu_record,
    start_order,
    wait_until,
)

TORCHRUN = ["torchrun", "--nproc_per_node=1", "--nnodes=1", "--node_rank=0"]
LOCK = "cosmos_runs/.gpus/gpu0.lock"  # as the product's scripts name a GPU slot, under /workspace


def run(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def host_lock_is_free(path: Path) -> bool:
    """Can this machine (outside every container) take the lock right now?"""
    return run(["flock", "-n", str(path), "true"]).returncode == 0


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A dir to mount at /workspace, with cosmos_runs/.gpus/ in it."""
    (tmp_path / "checkout" / "cosmos_runs" / ".gpus").mkdir(parents=True)
    return tmp_path / "checkout"


# --- flock ------------------------------------------------------------------
def test_flock_is_util_linux_in_the_image(gpu_host: TestHost) -> None:
    result = gpu_host.docker("run", "--rm", gpu_host.image, "flock", "--version")
    assert result.stdout.startswith("flock from util-linux "), result
    which = gpu_host.docker("run", "--rm", gpu_host.image, "sh", "-c", "command -v flock")
    assert which.stdout.strip() == "/usr/bin/flock"


def test_two_containers_contend_for_one_lock_until_the_holder_dies(gpu_host: TestHost, checkout: Path) -> None:
    """As the queue takes a slot: bash opens the lock file on an fd and `flock`s the fd; the
    lock is the kernel's, on the host's file, so another container, and the host, see it held.
    The holder waits for the lock rather than `-n`: this test's own probe from the host takes
    it for an instant, and a `flock -n` landing in that instant would give up for good."""
    name = f"lockholder-{uuid.uuid4().hex[:8]}"
    hold = f'exec {{fd}}>{LOCK} && flock -w 60 "$fd" && echo held && exec sleep 300'
    holder = gpu_host.container_argv("bash", "-c", hold, detach=True, remote_dir=str(checkout))
    holder.insert(holder.index("-d") + 1, f"--name={name}")
    lock = checkout / LOCK
    try:
        assert run(holder).returncode == 0
        wait_until(lambda: not host_lock_is_free(lock), 15, "the holder to take the lock")
        assert gpu_host.docker("logs", name).stdout == "held\n"

        take = f'exec {{fd}}>{LOCK} && flock -n "$fd" && echo got'
        other = run(gpu_host.container_argv("bash", "-c", take, remote_dir=str(checkout)))
        assert (other.returncode, other.stdout) == (1, ""), other  # flock -n: rc 1 while it is held
        waited = run(gpu_host.container_argv("flock", "-w", "0.5", LOCK, "true", remote_dir=str(checkout)))
        assert waited.returncode == 1, waited

        gpu_host.docker("kill", name)  # SIGKILL: no trap runs, the kernel frees the lock
        wait_until(lambda: host_lock_is_free(lock), 15, "the lock to be freed")
        now = run(gpu_host.container_argv("bash", "-c", take, remote_dir=str(checkout)))
        assert (now.returncode, now.stdout) == (0, "got\n"), now
    finally:
        gpu_host.docker("rm", "--force", "--time", "0", name, check=False)


# --- nvidia-smi ---------------------------------------------------------------
def test_nvidia_smi_over_ssh_shows_the_gpus_the_test_sets(gpu_host: TestHost) -> None:
    assert gpu_host.gpu_count_file.read_text().strip() == str(DEFAULT_GPUS)
    where = gpu_host.ssh_run("command -v nvidia-smi")
    assert where.stdout.strip() == str(Path(gpu_host.docker_cmd).parent / "nvidia-smi")
    query = "nvidia-smi --query-gpu=name,memory.total --format=csv,noheader"
    try:
        gpu_host.set_gpus(3)
        listed = gpu_host.ssh_run("nvidia-smi -L")
        assert listed.returncode == 0 and listed.stdout.splitlines() == [
            f"GPU {i}: Stand-in GPU (UUID: GPU-standin-{i})" for i in range(3)
        ]
        assert gpu_host.ssh_run(query).stdout == "Stand-in GPU, 81920 MiB\n" * 3
        gpu_host.set_gpus(0)
        none = gpu_host.ssh_run(query)
        assert (none.returncode, none.stdout) == (6, "No devices were found\n")
    finally:
        gpu_host.set_gpus(DEFAULT_GPUS)
    assert len(gpu_host.ssh_run("nvidia-smi -L").stdout.splitlines()) == DEFAULT_GPUS


def test_hosts_check_reads_the_stand_in_gpus(workspace) -> None:
    """The product's `hosts check` (cosmos_core/executors/hostcheck.py) runs the query above over SSH."""
    workspace.host.set_gpus(3)
    try:
        check = workspace.cli("hosts", "check", "gpu1", "--json")
    finally:
        workspace.host.set_gpus(DEFAULT_GPUS)
    report = json.loads(check.stdout)
    assert report["gpus"] == {"status": "ok", "detail": ";".join(["Stand-in GPU, 81920 MiB"] * 3)}, report


def test_nvidia_smi_in_the_image(gpu_host: TestHost) -> None:
    default = gpu_host.docker("run", "--rm", gpu_host.image, "nvidia-smi", "-L")
    listed = [f"GPU {i}: Stand-in GPU (UUID: GPU-standin-{i})" for i in range(DEFAULT_GPUS)]
    assert default.stdout.splitlines() == listed
    four = gpu_host.docker(
        "run", "--rm", "-e", "STANDIN_GPUS=4", gpu_host.image,
        "nvidia-smi", "--query-gpu=index,name,memory.total", "--format=csv,nounits",
    )  # fmt: skip
    assert four.stdout.splitlines() == ["index, name, memory.total", *(f"{i}, Stand-in GPU, 81920" for i in range(4))]


# --- the stand-in's record of the GPUs each run held ---------------------------
def new_run(host: TestHost, video: Path, prompt: str, remote_dir: str | None = None) -> str:
    """cosmos_runs/<id> under the checkout, as the product lays a run out (input.mp4, spec.json)."""
    rel = f"cosmos_runs/sg_{uuid.uuid4().hex[:8]}"
    run_dir = Path(remote_dir or host.remote_dir) / rel
    run_dir.mkdir(parents=True)
    shutil.copy(video, run_dir / "input.mp4")
    if remote_dir is None:
        spec = {"prompt": prompt, "input_video_path": f"{rel}/input.mp4", "vis": {}}
    else:  # Transfer2.5
        spec = {"name": "output", "prompt": prompt, "video_path": "input.mp4", "edge": {}}
    (run_dir / "spec.json").write_text(json.dumps(spec))
    return rel


def transfer1_argv(host: TestHost, rel: str, devices: str | None, detach: bool = False) -> list[str]:
    """Transfer1's stand-in as scripts/common.sh's cosmos_transfer runs it, with CUDA_VISIBLE_DEVICES."""
    args = [
        *TORCHRUN, TRANSFER_SCRIPT, "--checkpoint_dir", "checkpoints", "--video_save_folder", f"{rel}/outputs",
        "--video_save_name", "output", "--controlnet_specs", f"{rel}/spec.json", "--num_gpus", "1",
        "--offload_text_encoder_model", "--offload_guardrail_models",
    ]  # fmt: skip
    env = {} if devices is None else {"CUDA_VISIBLE_DEVICES": devices}
    return host.container_argv(*args, detach=detach, env=env)


def lines_of(record: list[tuple[str, str, str, float]], *runs: str) -> list[tuple[str, str, str, float]]:
    return [line for line in record if line[1] in runs]


def test_a_run_records_its_start_and_end_with_its_devices(gpu_host: TestHost, sample_video: Path) -> None:
    rel = new_run(gpu_host, sample_video, "a harbour [sleep=1]")
    result = run(transfer1_argv(gpu_host, rel, "1"))
    assert result.returncode == 0, result
    (start, end) = lines_of(gpu_host.gpu_record(), rel)
    assert start[:3] == ("start", rel, "1") and end[:3] == ("end", rel, "1")
    assert 1 <= end[3] - start[3] < 10
    text = (Path(gpu_host.remote_dir) / "cosmos_runs" / ".standin-gpus.log").read_text()
    assert f"start {rel} 1 {start[3]:.6f}\n" in text  # epoch seconds with microseconds

    failed = new_run(gpu_host, sample_video, "a crash [exit=3]")
    assert run(transfer1_argv(gpu_host, failed, None)).returncode == 3
    assert [line[:3] for line in lines_of(gpu_host.gpu_record(), failed)] == [
        ("start", failed, "-"),  # no CUDA_VISIBLE_DEVICES
        ("end", failed, "-"),
    ]


def test_a_stopped_run_records_its_end(gpu_host: TestHost, sample_video: Path) -> None:
    rel = new_run(gpu_host, sample_video, "slow [sleep=60]")
    argv = transfer1_argv(gpu_host, rel, "0,1", detach=True)
    name = f"standin-{rel.rsplit('_', 1)[1]}"
    argv.insert(argv.index("-d") + 1, f"--name={name}")
    try:
        assert run(argv).returncode == 0
        wait_until(lambda: lines_of(gpu_host.gpu_record(), rel), 15, "the start line")
        gpu_host.docker("stop", "--time", "10", name)  # SIGTERM: torchrun's trap exits 143
        code = gpu_host.docker("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        assert code == "143"
    finally:
        gpu_host.docker("rm", "--force", "--time", "0", name, check=False)
    assert [line[:3] for line in lines_of(gpu_host.gpu_record(), rel)] == [("start", rel, "0,1"), ("end", rel, "0,1")]


def test_transfer25_and_the_upsampler_record_too(gpu_host: TestHost, sample_video: Path) -> None:
    rel = new_run(gpu_host, sample_video, "a lighthouse", remote_dir=gpu_host.remote_dir_25)
    args = [
        "torchrun", "--nproc_per_node=1", TRANSFER25_SCRIPT,
        "-i", f"/workspace/{rel}/spec.json", "-o", f"/workspace/{rel}/outputs",
    ]  # fmt: skip
    env = {"HF_TOKEN": "hf_standin", "CUDA_VISIBLE_DEVICES": "1"}
    result = run(gpu_host.container_argv(*args, remote_dir=gpu_host.remote_dir_25, env=env))
    assert result.returncode == 0, result
    assert not lines_of(gpu_host.gpu_record(), rel)  # the record is in its own checkout
    assert [line[:3] for line in gpu_host.gpu_record(gpu_host.remote_dir_25) if line[1] == rel] == [
        ("start", rel, "1"),
        ("end", rel, "1"),
    ]

    up = new_run(gpu_host, sample_video, "")
    args = [*TORCHRUN, UPSAMPLER_SCRIPT, "--prompt=a quiet street", "--input_video", f"{up}/input.mp4",
            "--checkpoint_dir", "checkpoints", "--offload_prompt_upsampler"]  # fmt: skip
    result = run(gpu_host.container_argv(*args, env={"OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "0"}))
    assert result.returncode == 0, result
    assert [line[:3] for line in lines_of(gpu_host.gpu_record(), up)] == [("start", up, "0"), ("end", up, "0")]


def test_two_runs_at_once_overlap_in_the_record(gpu_host: TestHost, sample_video: Path) -> None:
    runs = [new_run(gpu_host, sample_video, "together [sleep=2]") for _ in range(2)]
    names = [f"standin-{rel.rsplit('_', 1)[1]}" for rel in runs]
    try:
        for rel, name, devices in zip(runs, names, ("0", "1"), strict=True):
            argv = transfer1_argv(gpu_host, rel, devices, detach=True)
            argv.insert(argv.index("-d") + 1, f"--name={name}")
            assert run(argv).returncode == 0
        for name in names:
            assert gpu_host.docker("wait", name).stdout.strip() == "0"
    finally:
        gpu_host.docker("rm", "--force", "--time", "0", *names, check=False)
    record = lines_of(gpu_host.gpu_record(), *runs)
    assert len(record) == 4 and max_concurrent(record) == 2
    assert sorted(start_order(record)) == sorted(runs)
    assert {(kind, devices) for kind, _, devices, _ in record} == {("start", "0"), ("start", "1"), ("end", "0"),
                                                                   ("end", "1")}  # fmt: skip


# --- max_concurrent and start_order on hand-written records -------------------
def test_max_concurrent_replays_the_record_in_file_order() -> None:
    record = parse_gpu_record(
        "start cosmos_runs/a 0 100.5\n"
        "start cosmos_runs/b 1 101.0\n"
        "end cosmos_runs/a 0 102.25\n"
        "start cosmos_runs/c 0 102.5\n"
        "garbage line\n"
        "end cosmos_runs/b 1 103\n"
        "end cosmos_runs/c 0 104\n"
        "start cosmos_runs/d 0,1 105\n"
        "end cosmos_runs/zz 0 105.5\n"  # an end with no start is ignored
        "end cosmos_runs/d 0,1 106\n"
        "start cosmos_runs/a 0 107\n"  # the same dir again
        "end cosmos_runs/a 0 108\n"
        "start cosmos_runs/e - 109"  # killed: no end, no newline
    )
    assert record[0] == ("start", "cosmos_runs/a", "0", 100.5)
    assert record[6] == ("start", "cosmos_runs/d", "0,1", 105.0)
    assert len(record) == 12
    assert max_concurrent(record) == 2
    assert start_order(record) == ["cosmos_runs/a", "cosmos_runs/b", "cosmos_runs/c", "cosmos_runs/d",
                                   "cosmos_runs/a", "cosmos_runs/e"]  # fmt: skip
    one_at_a_time = [line for line in record if line[1] != "cosmos_runs/b"]
    assert max_concurrent(one_at_a_time) == 1
    assert max_concurrent([]) == 0
    three = [("start", f"r{i}", str(i), float(i)) for i in range(3)] + [("end", "r0", "0", 9.0)]
    assert max_concurrent(three) == 3
    assert parse_gpu_record("start a dir with spaces 0 1.5\n") == [("start", "a dir with spaces", "0", 1.5)]
