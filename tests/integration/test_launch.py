"""Starting runs on the real stand-in host (sshd + podman): issue 'Foundation'."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import pytest

from cosmos_core.api import CosmosError, Refresh, StartReport
from tests.hostkit import STANDIN_SECOND_PARAGRAPH, make_video


def test_prompt_add_then_run_starts_the_documented_command_on_the_host(workspace, sample_video):
    prompt_id = workspace.cli("prompt", "add", "a red robot [sleep=1]", "--video", str(sample_video),
                              check=True).stdout.strip()
    assert prompt_id.startswith("ps_")
    run = json.loads(workspace.cli("run", prompt_id, "--steps", "12", "--guidance", "6.5", "--seed", "9",
                                   "--weights", "0.4,0.3,0.2,0.1", "--json", check=True).stdout)
    assert run["status"] in ("queued", "running") and run["kind"] == "inference" and run["host"] == "gpu1"
    assert run["queued_at"] is not None  # every Docker run waits in its host's GPU queue first
    assert (run["started_at"] is None) == (run["status"] == "queued")  # started once it holds its GPUs
    container = workspace.host.docker("inspect", "--format", "{{.Config.Labels}} {{.Name}}",
                                      f"cosmos-{run['id']}").stdout
    assert f"cosmos.run_id:{run['id']}" in container

    log = workspace.wait_for_marker(run["id"])
    lines = log.strip().splitlines()
    assert lines[-1] == "[COSMOS_COMPLETE] exit_code=0"
    argv = shlex.split(next(line for line in lines if line.startswith("standin-torchrun argv:")).split(":", 1)[1])
    rel = f"cosmos_runs/{run['id']}"
    assert argv == [
        "--nproc_per_node=1", "--nnodes=1", "--node_rank=0", "cosmos_transfer1/diffusion/inference/transfer.py",
        "--checkpoint_dir", "checkpoints", "--video_save_folder", f"{rel}/outputs", "--video_save_name", "output",
        "--controlnet_specs", f"{rel}/spec.json", "--num_gpus", "1", "--num_steps", "12", "--guidance", "6.5",
        "--seed", "9", "--sigma_max", "70", "--blur_strength", "medium", "--canny_threshold", "medium",
        "--fps", "24", "--offload_text_encoder_model", "--offload_guardrail_models",
    ]  # fmt: skip
    remote = workspace.remote_run_dir(run["id"])
    assert (remote / "outputs" / "output.mp4").read_bytes()[4:8] == b"ftyp"
    spec = json.loads((remote / "spec.json").read_text())
    assert spec["vis"] == {"control_weight": 0.4} and spec["seg"] == {"control_weight": 0.1}
    assert (remote / "inputs" / "video.mp4").read_bytes() == sample_video.read_bytes()


def test_a_model_that_exits_3_leaves_marker_3(api, sample_video, workspace):
    prompt = api.add_prompt("crash please [exit=3]", sample_video)
    run = api.start_inference(prompt["id"])
    log = workspace.wait_for_marker(run["id"])
    assert log.strip().splitlines()[-1] == "[COSMOS_COMPLETE] exit_code=3"
    assert not (workspace.remote_run_dir(run["id"]) / "outputs" / "output.mp4").exists()


def test_upscale_and_enhance_produce_their_files_on_the_host(api, sample_video, workspace):
    slow = api.start_inference(api.add_prompt("still going [sleep=30]", sample_video)["id"])
    with pytest.raises(CosmosError, match="only a completed inference run can be upscaled"):
        api.start_upscale(slow["id"])
    api.cancel(slow["id"])
    prompt = api.add_prompt("a calm lake at dawn", sample_video)
    steps: list[StartReport] = []
    parent = api.start_inference(prompt["id"], on_progress=steps.append)
    said = list(dict.fromkeys(step.step_words() for step in steps))  # each step once, in order
    assert said == ["connecting to gpu1", "uploading to gpu1", "starting the container on gpu1 (docker run)"]
    assert "inputs/video.mp4" in {step.detail for step in steps}  # its bytes told as they go
    _wait_status(api, parent["id"], "completed")
    upscale = api.start_upscale(parent["id"], 0.6)
    enhance = api.start_enhance(prompt["id"])
    up_log = workspace.wait_for_marker(upscale["id"])
    en_log = workspace.wait_for_marker(enhance["id"])
    assert up_log.strip().endswith("exit_code=0") and en_log.strip().endswith("exit_code=0")
    up_dir, en_dir = workspace.remote_run_dir(upscale["id"]), workspace.remote_run_dir(enhance["id"])
    assert (up_dir / "outputs" / "output_4k.mp4").read_bytes()[4:8] == b"ftyp"
    assert "--video_save_name output_4k" in up_log and "--num_steps 10" in up_log
    spec = json.loads((up_dir / "spec.json").read_text())
    assert spec == {"input_video_path": f"cosmos_runs/{parent['id']}/outputs/output.mp4",
                    "upscale": {"control_weight": 0.6}}
    results = json.loads((en_dir / "outputs" / "batch_results.json").read_text())
    answer = f"a calm lake at dawn with rich cinematic detail\n\n{STANDIN_SECOND_PARAGRAPH}"
    assert results[0]["upsampled_prompt"] == answer


def _wait_status(api, run_id: str, status: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while (run := api.get_run(run_id, Refresh.FORCE))["status"] != status:
        assert time.monotonic() < deadline, f"run {run_id} is {run['status']}, not {status}: {run}"
    return run


HOSTILE = "it's \"quoted\" $(touch /workspace/pwned) `touch /workspace/pwned2`; rm -rf /tmp/x & echo ${HOME} 'end'"


def test_hostile_prompt_text_and_file_names_arrive_intact_and_execute_nothing(api, tmp_path, workspace):
    video = make_video(tmp_path / "my clip; $(touch pwned3) 'q\".mp4")
    prompt = api.add_prompt(HOSTILE, video, negative_prompt="no $(reboot)")
    inference = api.start_inference(prompt["id"])
    enhance = api.start_enhance(prompt["id"])
    inference_log = workspace.wait_for_marker(inference["id"])
    workspace.wait_for_marker(enhance["id"])
    remote = workspace.remote_run_dir(inference["id"])
    spec = json.loads((remote / "spec.json").read_text())
    assert spec["prompt"] == HOSTILE and spec["negative_prompt"] == "no $(reboot)"
    assert (remote / "inputs" / "video.mp4").read_bytes() == video.read_bytes()
    assert f"Prompt: {HOSTILE}" in inference_log
    results = json.loads((workspace.remote_run_dir(enhance["id"]) / "outputs" / "batch_results.json").read_text())
    assert results[0]["prompt"] == HOSTILE
    assert results[0]["upsampled_prompt"] == f"{HOSTILE} with rich cinematic detail\n\n{STANDIN_SECOND_PARAGRAPH}"
    root = workspace.host.remote_dir
    leftovers = [hit for name in ("pwned", "pwned2", "pwned3") for hit in Path(root).rglob(name)]
    assert leftovers == [] and not list(tmp_path.rglob("pwned*"))
