"""The stand-in GPU host works: strict SSH, podman behind the docker shim,
the stand-in Cosmos models (Transfer1, its prompt upsampler, Transfer2.5)
behaving like upstream's entry points, and the sshd log counters.

The model tests run the stand-in directly with `docker run`, not through the
product: they pin down what the product must cope with."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import time
import tomllib
import uuid
from pathlib import Path

import paramiko
import pytest

from tests.hostkit import (
    STANDIN_SECOND_PARAGRAPH,
    TRANSFER25_SCRIPT,
    TRANSFER_SCRIPT,
    UPSAMPLER_SCRIPT,
    TestHost,
    wait_until,
)

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


def transfer(host: TestHost, run: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run inference in a container over SSH, as the product does; ``extra``
    flags go after the product's."""
    return host.ssh_run(host.container_argv(*transfer_args(run), *extra))


def outputs(host: TestHost, run: str) -> set[str]:
    out = Path(host.remote_dir) / run / "out"
    return {p.name for p in out.iterdir()} if out.exists() else set()


def test_login_with_strict_host_key_checking(gpu_host: TestHost) -> None:
    client = connect(gpu_host, gpu_host.known_hosts)
    try:
        _, out, _ = client.exec_command("command -v docker; echo ok")
        assert out.read().decode().split() == [gpu_host.docker_cmd, "ok"]
        transport = client.get_transport()
        assert transport is not None, "a connected client has a transport"
        key = transport.get_remote_server_key()
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


def upsample(
    host: TestHost,
    run: str,
    prompt_args: list[str],
    nproc: int = 1,
    env: dict[str, str] | None = None,
    launcher: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """The upsampler in a container, as enhancement runs it."""
    launch = launcher or ("torchrun", f"--nproc_per_node={nproc}", "--nnodes=1", "--node_rank=0")
    args = [
        *launch,
        UPSAMPLER_SCRIPT,
        *prompt_args,
        "--input_video",
        f"{run}/input.mp4",
        *"--checkpoint_dir checkpoints --offload_prompt_upsampler".split(),
    ]
    return host.ssh_run(host.container_argv(*args, env=env))


def test_upsampler_needs_omp_num_threads_with_one_process(gpu_host: TestHost, sample_video: Path) -> None:
    """It deletes torchrun's variables; torchrun sets OMP_NUM_THREADS only with nproc > 1."""
    run = new_run(gpu_host, sample_video, {})
    alone = upsample(gpu_host, run, ["--prompt=a quiet street"])
    assert alone.returncode == 1, alone
    assert "KeyError: 'OMP_NUM_THREADS'" in alone.stderr.splitlines()
    assert "upsampler_pipeline.py FAILED" in alone.stderr and "Upsampled prompt" not in alone.stdout

    assert upsample(gpu_host, run, ["--prompt=a quiet street"], env={"OMP_NUM_THREADS": "4"}).returncode == 0
    two = upsample(gpu_host, run, ["--prompt=a quiet street"], nproc=2)
    assert two.returncode == 0, two
    assert "Setting OMP_NUM_THREADS environment variable for each process to be 1" in two.stderr

    plain = upsample(gpu_host, run, ["--prompt=a quiet street"], launcher=("python",))
    assert plain.returncode == 1 and plain.stderr.rstrip().endswith("KeyError: 'RANK'"), plain


def test_upsampler_answers_in_two_paragraphs(gpu_host: TestHost, sample_video: Path) -> None:
    run = new_run(gpu_host, sample_video, {})
    result = upsample(gpu_host, run, ["--prompt", "a quiet street"], env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result
    answer = result.stdout.split("Upsampled prompt: ", 1)[1]
    assert (
        answer == f"a quiet street with rich cinematic detail\n\n{STANDIN_SECOND_PARAGRAPH}\n"
    )


def test_upsampler_takes_a_dash_prompt_only_as_prompt_equals(gpu_host: TestHost, sample_video: Path) -> None:
    run = new_run(gpu_host, sample_video, {})
    omp = {"OMP_NUM_THREADS": "1"}
    missing = upsample(gpu_host, run, ["--prompt", "-x marks the spot"], env=omp)
    assert missing.returncode == 0, missing  # a space: argparse takes it for a value
    missing = upsample(gpu_host, run, ["--prompt", "-x"], env=omp)
    assert missing.returncode == 2
    assert "upsampler_pipeline.py: error: argument --prompt: expected one argument" in missing.stderr
    joined = upsample(gpu_host, run, ["--prompt=-x"], env=omp)
    assert joined.returncode == 0 and "Upsampled prompt: -x with rich cinematic detail\n" in joined.stdout


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


def test_a_slow_docker_delays_the_chosen_commands_of_ssh_sessions_only(gpu_host: TestHost) -> None:
    """`slow_docker(S, "inspect")`: `docker inspect` over SSH waits S seconds first, `docker ps` over SSH
    and this machine's own `docker inspect` do not; once left, nothing waits."""

    def seconds(command: str) -> float:
        began = time.monotonic()
        assert gpu_host.ssh_run(command).returncode == 0
        return time.monotonic() - began

    held = 3.0  # the shim's delay; an unheld call over SSH takes well under it, even on a loaded machine
    inspect = f"docker image inspect --format '{{{{.Id}}}}' {shlex.quote(gpu_host.image)}"
    with gpu_host.slow_docker(held, "image"):
        assert seconds(inspect) >= held
        assert seconds("docker ps -q") < held
        began = time.monotonic()
        gpu_host.docker("image", "inspect", gpu_host.image)
        assert time.monotonic() - began < held
    assert seconds(inspect) < held


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


# --- Cosmos-Transfer1's transfer.py, as upstream behaves -------------------
def stdout_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """stdout without the loguru prefix "[MM-DD HH:MM:SS|LEVEL|where] "."""
    return [re.sub(r"^\[\d\d-\d\d \d\d:\d\d:\d\d\|[A-Z]+\|[^]]+\] ", "", line) for line in result.stdout.splitlines()]


def test_an_empty_negative_prompt_crashes_in_torch_cat(gpu_host: TestHost, sample_video: Path) -> None:
    run = new_run(gpu_host, sample_video, {"prompt": "a red car", "negative_prompt": "", "edge": {}})
    result = transfer(gpu_host, run)
    assert result.returncode == 1, result
    lines = stdout_lines(result)
    assert lines.index("Running text embedding on all prompts") < lines.index("Run generation")
    assert "Starting latent encoding" not in lines and not any(line.startswith("Negative prompt") for line in lines)
    assert "TypeError: expected Tensor as element 0 in argument 0, but got NoneType" in result.stderr.splitlines()
    assert "cosmos_transfer1/diffusion/inference/transfer.py FAILED" in result.stderr
    assert outputs(gpu_host, run) == set()


def test_a_negative_prompt_from_the_spec_reaches_the_model(gpu_host: TestHost, sample_video: Path) -> None:
    negative = "blurry, 'low' \"quality\"\n$(no) `shell`"
    run = new_run(gpu_host, sample_video, {"prompt": "a red car", "negative_prompt": negative, "edge": {}})
    result = transfer(gpu_host, run)
    assert result.returncode == 0, result
    assert f"Negative prompt: {negative}\n" in result.stdout


def test_spec_keys_override_flag_defaults_unless_the_exact_flag_is_given(
    gpu_host: TestHost, sample_video: Path
) -> None:
    run = new_run(gpu_host, sample_video, {"prompt": "from the spec", "negative_prompt": "spec negative", "vis": {}})
    default = transfer(gpu_host, run)
    assert "Prompt: from the spec\n" in default.stdout and "Negative prompt: spec negative\n" in default.stdout
    given = transfer(gpu_host, run, "--negative_prompt", "flag negative", "--prompt=flag prompt")
    assert given.returncode == 0, given
    assert "Negative prompt: flag negative\n" in given.stdout  # "--negative_prompt" is in sys.argv
    assert "Prompt: from the spec\n" in given.stdout  # "--prompt=..." is not the token "--prompt"

    other = new_run(gpu_host, sample_video, {"prompt": "x", "canny": {"control_weight": 1}})
    bad = transfer(gpu_host, other)
    assert bad.returncode == 1
    assert bad.stderr.splitlines()[7].startswith("ValueError: Invalid hint_key: canny. Must be one of {")


def test_argparse_takes_a_dash_value_for_a_missing_argument(gpu_host: TestHost, sample_video: Path) -> None:
    run = new_run(gpu_host, sample_video, {"edge": {}})
    missing = transfer(gpu_host, run, "--prompt", "-x")
    assert missing.returncode == 2 and outputs(gpu_host, run) == set()
    assert "transfer.py: error: argument --prompt: expected one argument" in missing.stderr.splitlines()
    for value in ("-5", "-x marks the spot"):  # a negative number or a space: a value
        result = transfer(gpu_host, run, "--prompt", value)
        assert result.returncode == 0 and f"Prompt: {value}\n" in result.stdout, result
    joined = transfer(gpu_host, run, "--prompt=-x")
    assert joined.returncode == 0 and "Prompt: -x\n" in joined.stdout


def test_argparse_refuses_a_bad_choice_or_number(gpu_host: TestHost, sample_video: Path) -> None:
    run = new_run(gpu_host, sample_video, {"prompt": "a red car", "edge": {}})
    choice = transfer(gpu_host, run, "--blur_strength", "extreme")
    assert choice.returncode == 2
    assert (
        "transfer.py: error: argument --blur_strength: invalid choice: 'extreme' "
        "(choose from 'very_low', 'low', 'medium', 'high', 'very_high')"
    ) in choice.stderr
    number = transfer(gpu_host, run, "--fps=fast")
    assert number.returncode == 2 and "argument --fps: invalid int value: 'fast'" in number.stderr
    fine = transfer(
        gpu_host,
        run,
        "--canny_threshold",
        "very_high",
        "--sigma_max",
        "80",
        "--fps",
        "16",
        "--use_distilled",
        "--upsample_prompt",
        "--offload_prompt_upsampler",
    )
    assert fine.returncode == 0, fine
    assert "Upsampled prompt 1: a red car with rich cinematic detail..." in stdout_lines(fine)


def test_the_distilled_model_takes_one_edge_control(gpu_host: TestHost, sample_video: Path) -> None:
    two = new_run(gpu_host, sample_video, {"prompt": "p", "edge": {}, "vis": {"ckpt_path": "checkpoints/vis.pt"}})
    result = transfer(gpu_host, two, "--use_distilled")
    assert result.returncode == 1
    assert "AssertionError: Distilled model only supports single control input" in result.stderr.splitlines()

    vis = new_run(gpu_host, sample_video, {"prompt": "p", "vis": {}})
    result = transfer(gpu_host, vis, "--use_distilled")
    assert (
        result.returncode == 1
        and ("ValueError: No default distilled checkpoint for vis. Users must specify ckpt_path in config.")
        in result.stderr.splitlines()
    )

    edge = new_run(gpu_host, sample_video, {"prompt": "p", "edge": {"control_weight": 1.0}})
    result = transfer(gpu_host, edge, "--use_distilled")
    assert result.returncode == 0, result
    assert "Using default checkpoint path: checkpoints/nvidia/Cosmos-Transfer1-7B/edge_control_distilled.pt" in (
        stdout_lines(result)
    )


def test_progress_lines_and_the_tqdm_bar_over_clips(gpu_host: TestHost, sample_video: Path) -> None:
    run = new_run(gpu_host, sample_video, {"prompt": "a red car [clips=3]", "vis": {}})
    result = transfer(gpu_host, run)
    assert result.returncode == 0, result
    lines = stdout_lines(result)
    clip = [
        "Starting latent encoding",
        "Completed latent encoding",
        "Starting diffusion sampling",
        "Completed diffusion sampling",
        "Starting VAE decode",
        "Completed VAE decode",
    ]
    start = lines.index("Running guardrail checks on all prompts")
    assert lines[start : start + 4] == [
        "Running guardrail checks on all prompts",
        "Running text embedding on all prompts",
        "Finish text embedding on prompt",
        "Run generation",
    ]
    assert lines[start + 4 : start + 4 + 18] == clip * 3
    assert lines[start + 22 :] == [
        "Finish generation",
        "Run guardrail on generated videos",
        f"Saved video to {run}/out/output.mp4",
        f"Saved prompt to {run}/out/output.txt",
    ]
    assert result.stderr.startswith("\r  0%|          | 0/3 [00:00<?, ?it/s]")
    assert re.search(r"\r100%\|##########\| 3/3 \[00:00<00:00, +[0-9.]+it/s\]\n$", result.stderr)


def test_sleep_is_spread_over_the_clips(gpu_host: TestHost, sample_video: Path) -> None:
    run = new_run(gpu_host, sample_video, {"prompt": "slowly [sleep=2]", "vis": {}})
    result = transfer(gpu_host, run)
    assert result.returncode == 0, result
    lines = stdout_lines(result)
    assert lines.index("standin: step 1/2") < lines.index("Completed VAE decode") < lines.index("standin: step 2/2")
    assert re.search(r"\r 50%\|#####     \| 1/2 \[00:01<00:01,  1\.\d\ds/it\]", result.stderr), result.stderr


def test_a_guardrail_block_crashes_transfer1(gpu_host: TestHost, sample_video: Path) -> None:
    prompt = "something forbidden [guardrail]"
    run = new_run(gpu_host, sample_video, {"prompt": prompt, "vis": {}})
    result = transfer(gpu_host, run)
    assert result.returncode == 1 and outputs(gpu_host, run) == set()
    critical = [line.split("] ", 1)[1] for line in result.stdout.splitlines() if "|CRITICAL|" in line]
    assert critical == [
        f"GUARDRAIL BLOCKED: BLOCKLIST: Prompt blocked by censorship: Censored Prompt: {prompt}",
        "Input text prompt 1 is not safe",
        "All prompts failed safety checks",
        "Guardrail blocked generation for entire batch.",
    ]
    errors = result.stderr.splitlines()
    assert "TypeError: cannot unpack non-iterable NoneType object" in errors
    assert "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: " in errors
    assert "  exitcode  : 1 (pid: 1)" in errors and len(errors) > 30


def test_out_of_gpu_memory(gpu_host: TestHost, sample_video: Path) -> None:
    run = new_run(gpu_host, sample_video, {"prompt": "too big [oom]", "vis": {}})
    result = transfer(gpu_host, run)
    assert result.returncode == 1 and outputs(gpu_host, run) == set()
    assert stdout_lines(result)[-1] == "Starting diffusion sampling"
    assert (
        "\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity "
        "of 79.15 GiB of which 1.06 GiB is free."
    ) in result.stderr
    assert "?it/s]Traceback (most recent call last):" in result.stderr  # tqdm's bar is left unfinished


def test_missing_checkpoints(gpu_host: TestHost, sample_video: Path) -> None:
    run = new_run(gpu_host, sample_video, {"prompt": "p", "vis": {}})
    args = transfer_args(run)
    args[args.index("checkpoints")] = "no-checkpoints"
    args.remove("--offload_guardrail_models")
    result = gpu_host.ssh_run(gpu_host.container_argv(*args))
    assert result.returncode == 1
    assert (
        "FileNotFoundError: [Errno 2] No such file or directory: "
        "'no-checkpoints/nvidia/Cosmos-Guardrail1/blocklist/custom'"
    ) in result.stderr.splitlines()


# --- Cosmos-Transfer2.5's examples/inference.py ---------------------------
def new_run_25(host: TestHost, video: Path, spec: dict[str, object]) -> str:
    """A run dir under remote_dir_25 with input.mp4 and spec.json (video_path
    relative to the spec, as upstream resolves it); returns its path in the container."""
    run = f"runs/{uuid.uuid4().hex[:8]}"
    run_dir = Path(host.remote_dir_25) / run
    run_dir.mkdir(parents=True)
    shutil.copy(video, run_dir / "input.mp4")
    (run_dir / "spec.json").write_text(json.dumps({"name": "output", "video_path": "input.mp4", **spec}))
    return f"/workspace/{run}"


def infer25(
    host: TestHost, run: str, *extra: str, env: dict[str, str] | None = None, verbose: bool = True
) -> subprocess.CompletedProcess[str]:
    """Transfer2.5 as its documented torchrun line, with a token unless ``env`` says otherwise."""
    env = {"HF_TOKEN": "hf_standin", **({"COSMOS_VERBOSE": "1"} if verbose else {}), **(env or {})}
    args = [
        "torchrun",
        "--nproc_per_node=1",
        "--master_port=12341",
        TRANSFER25_SCRIPT,
        "-i",
        f"{run}/spec.json",
        "-o",
        f"{run}/outputs",
        *extra,
    ]
    return host.ssh_run(host.container_argv(*args, remote_dir=host.remote_dir_25, env=env))


def local_25(host: TestHost, run: str) -> Path:
    return Path(host.remote_dir_25) / run.removeprefix("/workspace/")


def test_transfer25_writes_its_files_and_logs(gpu_host: TestHost, sample_video: Path) -> None:
    prompt = f"{HOSTILE} [chunks=2] [sleep=1]"
    run = new_run_25(gpu_host, sample_video, {"prompt": prompt, "num_steps": 35, "edge": {"control_weight": 0.8}})
    result = infer25(gpu_host, run)
    assert result.returncode == 0, result
    out = local_25(gpu_host, run) / "outputs"
    assert {"output.json", "output.mp4", "output.txt"} <= {p.name for p in out.iterdir()}
    assert (out / "output.txt").read_text() == prompt
    resolved = json.loads((out / "output.json").read_text())
    assert resolved["video_path"] == f"{run}/input.mp4" and resolved["seed"] == 2025
    assert resolved["edge"]["control_weight"] == 0.8
    lines = stdout_lines(result)
    assert "[1/1] Processing sample output" in lines
    assert lines.index("Generating chunk 1/2") < lines.index("Generating chunk 2/2")
    assert lines[-1] == f"Generated video saved to {run}/outputs/output.mp4"
    closed = re.findall(r"\rGenerating samples: 100%\|##########\| 35/35 \[[^]]+\]\n", result.stderr)
    assert len(closed) == 2  # one bar per chunk, each closed with a newline
    steps = {int(n) for n in re.findall(r"\rGenerating samples: +\d+%\|[# 0-9]{10}\| (\d+)/35 \[", result.stderr)}
    assert steps - {0, 35}, result.stderr  # [sleep=1] spreads over the steps: the bar moves
    assert not (Path(gpu_host.remote_dir_25) / "pwned").exists()

    quiet = infer25(gpu_host, run, verbose=False)
    assert quiet.returncode == 0 and "Generating chunk" not in quiet.stdout  # only with COSMOS_VERBOSE


def test_transfer25_guardrail_block_exits_0_without_a_video(gpu_host: TestHost, sample_video: Path) -> None:
    prompt = "something forbidden [guardrail]"
    run = new_run_25(gpu_host, sample_video, {"prompt": prompt, "vis": {}})
    result = infer25(gpu_host, run)
    assert result.returncode == 0, result
    files = {p.name for p in (local_25(gpu_host, run) / "outputs").iterdir()}
    assert "output.json" in files and "output.mp4" not in files and "output.txt" not in files
    critical = [line.split("] ", 1)[1] for line in result.stdout.splitlines() if "|CRITICAL|" in line]
    assert critical == [
        f"GUARDRAIL BLOCKED: BLOCKLIST: Prompt blocked by censorship: Censored Prompt: {prompt}",
        f"Guardrail blocked generation. Prompt: {prompt}",
    ]
    quiet = infer25(gpu_host, run, verbose=False)
    assert [line for line in quiet.stdout.splitlines() if "|CRITICAL|" in line][0].endswith(
        f"] Guardrail blocked generation. Prompt: {prompt}"
    )
    disabled = infer25(gpu_host, run, "--disable-guardrails")
    assert disabled.returncode == 0 and "Guardrail checks on prompt are disabled" in stdout_lines(disabled)


def test_transfer25_refuses_extra_spec_keys(gpu_host: TestHost, sample_video: Path) -> None:
    run = new_run_25(gpu_host, sample_video, {"prompt": "p", "edge": {}, "output_dir": "elsewhere"})
    result = infer25(gpu_host, run)
    assert result.returncode == 1 and not (local_25(gpu_host, run) / "outputs").exists()
    assert result.stderr.splitlines()[:4] == [
        f"Error validating parameters from '{run}/spec.json' at line 0",
        "1 validation error for InferenceArguments",
        "output_dir",
        "  Extra inputs are not permitted [type=extra_forbidden, input_value='elsewhere', input_type=str]",
    ]


def test_transfer25_guidance_is_an_integer_from_0_to_7(gpu_host: TestHost, sample_video: Path) -> None:
    for guidance, message in [
        (3.5, "Input should be a valid integer, got a number with a fractional part [type=int_from_float"),
        (8, "Input should be less than or equal to 7 [type=less_than_equal, input_value=8, input_type=int]"),
    ]:
        run = new_run_25(gpu_host, sample_video, {"prompt": "p", "edge": {}, "guidance": guidance})
        result = infer25(gpu_host, run)
        assert result.returncode == 1 and "guidance" in result.stderr.splitlines()
        assert f"  {message}" in result.stderr
    run = new_run_25(
        gpu_host,
        sample_video,
        {"prompt": "p", "edge": {}, "guidance": 7, "sigma_max": 80, "seg": {"control_weight": 2}},
    )
    result = infer25(gpu_host, run)
    assert "2 validation errors for InferenceArguments" in result.stderr
    assert "sigma_max" in result.stderr.splitlines() and "seg.control_weight" in result.stderr.splitlines()


def test_transfer25_needs_a_hugging_face_token(gpu_host: TestHost, sample_video: Path) -> None:
    run = new_run_25(gpu_host, sample_video, {"prompt": "p", "depth": {}})
    result = infer25(gpu_host, run, env={"HF_TOKEN": ""})
    assert result.returncode == 1
    assert (
        "401 Client Error" in result.stderr
        and "Access to model nvidia/Cosmos-Guardrail1 is restricted" in result.stderr
    )
    assert re.search(
        r"^subprocess\.CalledProcessError: Command '\['uvx', 'hf>=1\.3\.5', 'download', "
        r"'nvidia/Cosmos-Guardrail1', .*\]' returned non-zero exit status 1\.$",
        result.stderr,
        re.M,
    )
    assert not (local_25(gpu_host, run) / "outputs" / "output.json").exists()


def test_transfer25_exit_token(gpu_host: TestHost, sample_video: Path) -> None:
    run = new_run_25(gpu_host, sample_video, {"prompt": "crash [exit=3]", "edge": {}})
    result = infer25(gpu_host, run)
    assert result.returncode == 3
    assert not (local_25(gpu_host, run) / "outputs" / "output.mp4").exists()


def test_host_config_serves_transfer25_only_when_asked(gpu_host: TestHost) -> None:
    default = tomllib.loads(gpu_host.host_config_toml("gpu1"))["hosts"][0]
    assert "models" not in default and "model" not in default
    both = tomllib.loads(gpu_host.host_config_toml("gpu1", models=("transfer1", "transfer2.5")))["hosts"][0]
    assert both["models"] == ["transfer1", "transfer2.5"] and both["remote_dir"] == gpu_host.remote_dir
    assert both["model"]["transfer2.5"] == {
        "image": gpu_host.image,
        "remote_dir": gpu_host.remote_dir_25,
        "run_args": [*both["run_args"], "-e", "HF_TOKEN=hf_standin"],
    }
    assert (Path(gpu_host.remote_dir_25) / TRANSFER25_SCRIPT).is_file()


def test_a_tests_leftover_run_containers_are_removed_but_a_slurm_jobs_are_not(gpu_host: TestHost) -> None:
    """What the conftest's no_run_outlives_its_test does after each test: a detached run container
    (the Docker executor's) goes; a `--rm` one (a Slurm job's, which a module fixture may own) stays."""
    names = {"kept": f"leftover-kept-{uuid.uuid4().hex[:8]}", "--rm": f"leftover-rm-{uuid.uuid4().hex[:8]}"}
    for kind, name in names.items():
        argv = gpu_host.container_argv("sleep", "300", detach=True)  # docker run -d ...
        argv[3:3] = ["--name", name, "--label", f"cosmos.run_id={name}", *(["--rm"] if kind == "--rm" else [])]
        subprocess.run(argv, check=True, capture_output=True, timeout=60)
    try:
        gpu_host.remove_run_containers()
        exists = {mode: gpu_host.docker("inspect", name, check=False).returncode == 0 for mode, name in names.items()}
        assert exists == {"kept": False, "--rm": True}
    finally:
        gpu_host.docker("rm", "--force", "--time", "0", *names.values(), check=False)
