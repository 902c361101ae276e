"""The stand-in GPU host works: strict SSH, podman behind the docker shim,
the stand-in Cosmos-Transfer1 model, and the sshd log counters."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path

import paramiko
import pytest

from tests.hostkit import TRANSFER_SCRIPT, UPSAMPLER_SCRIPT, TestHost, wait_until

TORCHRUN = ["torchrun", "--nproc_per_node=1", "--nnodes=1", "--node_rank=0"]
HOSTILE = "$(touch /workspace/pwned); rm -rf x 'q\" `id`"


def strict_client(known_hosts: str) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return client


def connect(host: TestHost, known_hosts: str) -> paramiko.SSHClient:
    client = strict_client(known_hosts)
    client.connect(
        host.hostname,
        port=host.port,
        username=host.user,
        key_filename=host.key_file,
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )
    return client


def new_run(host: TestHost, video: Path, spec: dict[str, object]) -> str:
    """A fresh run dir under remote_dir holding the input video and spec."""
    run = f"runs/{uuid.uuid4().hex[:8]}"
    run_dir = Path(host.remote_dir) / run
    run_dir.mkdir(parents=True)
    shutil.copy(video, run_dir / "input.mp4")
    spec = {"input_video_path": f"{run}/input.mp4", **spec}
    (run_dir / "spec.json").write_text(json.dumps(spec))
    return run


def transfer_args(run: str) -> list[str]:
    """The product's inference command line for a run made by new_run."""
    return [
        *TORCHRUN,
        TRANSFER_SCRIPT,
        *f"--checkpoint_dir checkpoints --video_save_folder {run}/out --video_save_name output".split(),
        *f"--controlnet_specs {run}/spec.json --num_gpus 1 --num_steps 35 --guidance 7.0 --seed 1".split(),
        "--offload_text_encoder_model",
        "--offload_guardrail_models",
    ]


def transfer(host: TestHost, run: str) -> subprocess.CompletedProcess[str]:
    """Run inference in a container over SSH, as the product does."""
    return host.ssh_run(host.container_argv(*transfer_args(run)))


def test_login_with_strict_host_key_checking(gpu_host: TestHost) -> None:
    client = connect(gpu_host, gpu_host.known_hosts)
    try:
        _, out, _ = client.exec_command("command -v docker; echo ok")
        assert out.read().decode().split() == [gpu_host.docker_cmd, "ok"]
        key = client.get_transport().get_remote_server_key()
        assert key.get_name() == "ssh-ed25519"
    finally:
        client.close()


def test_unknown_or_changed_host_key_is_rejected(gpu_host: TestHost, tmp_path: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        connect(gpu_host, str(empty))

    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    changed = tmp_path / "changed_known_hosts"
    key_type, key_b64 = Path(f"{other}.pub").read_text().split()[:2]
    changed.write_text(f"[{gpu_host.hostname}]:{gpu_host.port} {key_type} {key_b64}\n")
    with pytest.raises(paramiko.BadHostKeyException):
        connect(gpu_host, str(changed))


def test_failing_prompt_exits_with_its_code(gpu_host: TestHost, sample_video: Path) -> None:
    run = new_run(gpu_host, sample_video, {"prompt": "a crash [exit=3]"})
    result = transfer(gpu_host, run)
    assert result.returncode == 3, result
    assert "Prompt: a crash [exit=3]" in result.stdout
    assert not (Path(gpu_host.remote_dir) / run / "out" / "output.mp4").exists()


def test_transfer_writes_h264_video(gpu_host: TestHost, sample_video: Path) -> None:
    run = new_run(gpu_host, sample_video, {"prompt": "a red car", "vis": {"control_weight": 0.5}})
    result = transfer(gpu_host, run)
    assert result.returncode == 0, result
    first = result.stdout.splitlines()[0]
    assert first.startswith("standin-torchrun argv: --nproc_per_node=1 --nnodes=1 --node_rank=0 ")
    assert " --video_save_name output --controlnet_specs " in first
    assert f"Saved video to {run}/out/output.mp4" in result.stdout
    out = Path(gpu_host.remote_dir) / run / "out"
    assert (out / "output.txt").read_text() == "a red car"
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name"]
        + ["-of", "csv=p=0", str(out / "output.mp4")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "h264"


def test_upsampler_prints_upsampled_prompt(gpu_host: TestHost, sample_video: Path) -> None:
    run = new_run(gpu_host, sample_video, {})
    args = [
        *TORCHRUN[:2],
        UPSAMPLER_SCRIPT,
        *["--prompt", "a quiet street", "--input_video", f"{run}/input.mp4"],
        *"--checkpoint_dir checkpoints --offload_prompt_upsampler".split(),
    ]
    result = gpu_host.ssh_run(gpu_host.container_argv(*args))
    assert result.returncode == 0, result
    assert "Upsampled prompt: a quiet street with rich cinematic detail\n" in result.stdout


def test_hostile_prompt_is_never_evaluated(gpu_host: TestHost, sample_video: Path) -> None:
    run = new_run(gpu_host, sample_video, {"prompt": HOSTILE})
    result = transfer(gpu_host, run)
    assert result.returncode == 0, result
    assert f"Prompt: {HOSTILE}\n" in result.stdout
    assert (Path(gpu_host.remote_dir) / run / "out" / "output.txt").read_text() == HOSTILE
    assert not (Path(gpu_host.remote_dir) / "pwned").exists()


def test_each_exec_is_one_logged_session(gpu_host: TestHost) -> None:
    client = connect(gpu_host, gpu_host.known_hosts)
    try:
        for _ in range(3):
            before = gpu_host.count_exec_sessions()
            _, out, _ = client.exec_command("true")
            assert out.channel.recv_exit_status() == 0
            expected = before + 1
            wait_until(lambda: gpu_host.count_exec_sessions() >= expected, 5, "session line")  # noqa: B023
            assert gpu_host.count_exec_sessions() == expected
    finally:
        client.close()


def test_sftp_opens_are_counted(gpu_host: TestHost, sample_video: Path) -> None:
    name = f"upload-{uuid.uuid4().hex[:8]}.mp4"
    remote = f"{gpu_host.remote_dir}/{name}"
    client = gpu_host.connect()
    try:
        with client.open_sftp() as sftp:
            sftp.put(str(sample_video), remote)
            sftp.stat(remote)  # a stat is not an open
    finally:
        client.close()
    wait_until(lambda: gpu_host.count_sftp_opens(name) == 1, 5, "one sftp open")
    assert gpu_host.count_sftp_opens(name, "WRITE") == 1
    assert gpu_host.count_sftp_opens(name, "READ") == 0


def test_kill_container_and_restart_sshd(gpu_host: TestHost, sample_video: Path) -> None:
    run = new_run(gpu_host, sample_video, {"prompt": "slow [sleep=30]"})
    name = f"standin-{run.split('/')[1]}"
    argv = gpu_host.container_argv(*transfer_args(run), detach=True)
    argv.insert(argv.index("-d") + 1, f"--name={name}")
    assert gpu_host.ssh_run(argv).returncode == 0

    def state() -> str:
        return gpu_host.docker("inspect", "--format", "{{.State.Status}}", name).stdout.strip()

    wait_until(lambda: "step 1/30" in gpu_host.docker("logs", name).stdout, 10, "progress")
    try:
        gpu_host.stop_sshd()
        with pytest.raises(paramiko.ssh_exception.NoValidConnectionsError):
            gpu_host.connect(timeout=2)
        assert state() == "running"  # the container outlives sshd
        gpu_host.docker("kill", name)
        wait_until(lambda: state() == "exited", 10, "container exit")
        exit_code = gpu_host.docker("inspect", "--format", "{{.State.ExitCode}}", name)
        assert exit_code.stdout.strip() == "137"
    finally:
        if gpu_host.sshd_pid is None:
            gpu_host.start_sshd()
    assert gpu_host.ssh_run(f"{shlex.quote(gpu_host.docker_cmd)} rm {name}").returncode == 0
