"""Runs that work the way the real models do (issue 'Runs that work on the real models'),
through the product against the stand-in, which plays upstream's entry points (docs/upstream.md)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from cosmos_core.api import CosmosAPI, CosmosError, InferenceParams
from tests.hostkit import make_video, wait_until
from tests.integration.test_sync import settled, sha256, start, sync_until
from tests.workspace import Workspace, write_config


@pytest.fixture
def both_models(tmp_path: Path, gpu_host) -> Workspace:
    """gpu1 serves Cosmos-Transfer1 and Cosmos-Transfer2.5 (its own checkout and HF_TOKEN)."""
    return Workspace(tmp_path, write_config(tmp_path, gpu_host, models=("transfer1", "transfer2.5")), gpu_host)


@pytest.fixture
def api25(both_models: Workspace):
    api = both_models.api()
    yield api
    api.close()


def model_argv(log: str) -> list[str]:
    """The command line the stand-in model was given, from the line it prints first."""
    line = next(line for line in log.splitlines() if line.startswith("standin-torchrun argv:"))
    return shlex.split(line.split(":", 1)[1])


def test_a_run_without_a_negative_prompt_completes(api, workspace, sample_video):
    """Upstream crashes on an empty negative prompt in the spec; the product leaves it out."""
    final = sync_until(api, start(api, "a red robot", sample_video)["id"], settled)
    assert final["status"] == "completed", final["error"]
    spec = json.loads((workspace.remote_run_dir(final["id"]) / "spec.json").read_text())
    assert "negative_prompt" not in spec


def test_a_given_negative_prompt_reaches_the_spec_unchanged(api, workspace, sample_video):
    negative = "blurry, 'low' \"quality\"\n$(no) `shell`"
    prompt = api.add_prompt("a red robot", sample_video, negative_prompt=negative)
    final = sync_until(api, api.start_inference(prompt["id"])["id"], settled)
    assert final["status"] == "completed", final["error"]
    remote = workspace.remote_run_dir(final["id"])
    assert json.loads((remote / "spec.json").read_text())["negative_prompt"] == negative.strip()
    assert f"Negative prompt: {negative.strip()}" in (remote / "run.log").read_text()


def test_a_guardrail_block_fails_with_the_guardrail_named(api, sample_video):
    final = sync_until(api, start(api, "something forbidden [guardrail]", sample_video)["id"], settled)
    assert final["status"] == "failed" and final["exit_code"] == 1
    assert final["error"].startswith("Container exited with code 1: blocked by the guardrail: BLOCKLIST:")


def test_out_of_gpu_memory_is_named(api, sample_video):
    final = sync_until(api, start(api, "too big [oom]", sample_video)["id"], settled)
    assert final["status"] == "failed"
    assert "out of GPU memory: torch.OutOfMemoryError: CUDA out of memory" in final["error"]


def test_enhancement_keeps_a_two_paragraph_answer_and_takes_a_prompt_starting_with_a_dash(api, workspace,
                                                                                         sample_video):
    """The real upsampler needs OMP_NUM_THREADS with one process (the stand-in fails without it),
    and reads `--prompt -x` as a missing value."""
    prompt = api.add_prompt("-x marks the spot", sample_video)
    final = sync_until(api, api.start_enhance(prompt["id"])["id"], settled)
    assert final["status"] == "completed", final["error"]
    text = final["enhanced_text"]
    assert text.startswith("-x marks the spot with rich cinematic detail")
    assert "\n\n" in text and len(text.split("\n\n")) == 2
    assert "--prompt=-x marks the spot" in model_argv((workspace.remote_run_dir(final["id"]) / "run.log").read_text())


def test_inputs_reach_the_model_as_the_right_files(api, workspace, tmp_path):
    """A video named depth_clip.mp4 and a depth video named clip.mp4 must not collide."""
    video = make_video(tmp_path / "a" / "depth_clip.mp4", seconds=1)
    depth = make_video(tmp_path / "b" / "clip.mp4", seconds=2)
    prompt = api.add_prompt("a road", video, depth=depth)
    final = sync_until(api, api.start_inference(prompt["id"])["id"], settled)
    assert final["status"] == "completed", final["error"]
    remote = workspace.remote_run_dir(final["id"])
    spec = json.loads((remote / "spec.json").read_text())
    assert sha256(remote.parent.parent / spec["input_video_path"]) == sha256(video)
    assert sha256(remote.parent.parent / spec["depth"]["input_control"]) == sha256(depth)


def test_every_tuned_parameter_reaches_the_command_line_as_upstream_spells_it(workspace, sample_video):
    prompt_id = workspace.cli("prompt", "add", "a harbour", "--video", str(sample_video), check=True).stdout.strip()
    run = json.loads(workspace.cli(
        "run", prompt_id, "--steps", "12", "--guidance", "6.5", "--seed", "9", "--weights", "0,1,0,0",
        "--sigma-max", "80", "--blur-strength", "low", "--canny-threshold", "very_high", "--fps", "16",
        "--distilled", "--upsample-prompt", "--json", check=True).stdout)  # fmt: skip
    assert run["params"] == {"num_steps": 12, "guidance": 6.5, "seed": 9, "weights": [0.0, 1.0, 0.0, 0.0],
                             "sigma_max": 80.0, "blur_strength": "low", "canny_threshold": "very_high", "fps": 16,
                             "distilled": True, "upsample_prompt": True}
    argv = model_argv(workspace.wait_for_marker(run["id"]))
    rel = f"cosmos_runs/{run['id']}"
    assert argv == [
        "--nproc_per_node=1", "--nnodes=1", "--node_rank=0", "cosmos_transfer1/diffusion/inference/transfer.py",
        "--checkpoint_dir", "checkpoints", "--video_save_folder", f"{rel}/outputs", "--video_save_name", "output",
        "--controlnet_specs", f"{rel}/spec.json", "--num_gpus", "1", "--num_steps", "12", "--guidance", "6.5",
        "--seed", "9", "--sigma_max", "80", "--blur_strength", "low", "--canny_threshold", "very_high",
        "--fps", "16", "--use_distilled", "--upsample_prompt", "--offload_prompt_upsampler",
        "--offload_text_encoder_model", "--offload_guardrail_models",
    ]  # fmt: skip
    spec = json.loads((workspace.remote_run_dir(run["id"]) / "spec.json").read_text())
    assert set(spec) == {"prompt", "input_video_path", "edge"} and spec["edge"] == {"control_weight": 1.0}


def test_bad_parameters_are_refused_in_one_line_before_any_upload(workspace, sample_video):
    prompt_id = workspace.cli("prompt", "add", "a harbour", "--video", str(sample_video), check=True).stdout.strip()
    runs_dir = Path(workspace.host.remote_dir) / "cosmos_runs"
    before = set(runs_dir.iterdir()) if runs_dir.is_dir() else set()
    for args, message in [
        (["--sigma-max", "0"], "error: sigma_max must be above 0 and at most 200, got 0"),
        (["--distilled"], "error: the distilled model takes the edge control alone: set the other weights to 0"),
        (["--model", "transfer2.5"], "error: no configured host serves transfer2.5 (add it to a host's models)"),
    ]:
        result = workspace.cli("run", prompt_id, *args)
        assert result.returncode == 1 and result.stderr.strip() == message
    assert json.loads(workspace.cli("runs", "--json", check=True).stdout) == []
    assert (set(runs_dir.iterdir()) if runs_dir.is_dir() else set()) == before


def test_a_running_run_shows_its_stage_and_chunks(api, sample_video):
    run = start(api, "a long road [sleep=6] [clips=3]", sample_video)
    seen = sync_until(api, run["id"], lambda r: r["progress"] and "chunks" in r["progress"], what="progress")
    assert seen["status"] == "running"
    # any stage of the clip loop; or the prompt's encoding, whose line comes just before the loop's bar
    # shows 0/3 (a sync may see that moment)
    assert seen["progress"].split(" · ")[0] in ("encoding the prompt", "encoding the input", "diffusion sampling",
                                                "decoding", "chunk decoded")
    assert seen["progress"].endswith("/3 chunks")
    final = sync_until(api, run["id"], settled)
    assert final["status"] == "completed" and final["progress"] is None


def test_a_transfer25_run_completes_with_its_video(api25, both_models, sample_video):
    prompt = api25.add_prompt("a rainy street [sleep=3] [chunks=2]", sample_video)
    params = InferenceParams(**{**api25.default_params("transfer2.5").to_dict(), "weights": (0, 0.8, 0, 0),
                                "sigma_max": 70})
    run = api25.start_inference(prompt["id"], params=params, model_name="transfer2.5")
    assert run["model"] == "transfer2.5"
    running = sync_until(api25, run["id"], lambda r: r["progress"] and "steps" in r["progress"], what="progress")
    assert "steps" in running["progress"]
    final = sync_until(api25, run["id"], settled)
    assert final["status"] == "completed", final["error"]
    remote = Path(final["download"]["files"][0]).name
    assert remote == "output.mp4" and final["output_path"].endswith("/outputs/output.mp4")
    spec = json.loads((Path(both_models.host.remote_dir_25) / "cosmos_runs" / run["id"] / "spec.json").read_text())
    assert spec["name"] == "output" and spec["edge"] == {"control_weight": 0.8, "preset_edge_threshold": "medium"}
    assert spec["guidance"] == 3 and spec["sigma_max"] == "70" and spec["video_path"] == "inputs/video.mp4"


def test_a_transfer25_guardrail_block_exits_0_but_fails(api25, sample_video):
    prompt = api25.add_prompt("something forbidden [guardrail]", sample_video)
    run = api25.start_inference(prompt["id"], model_name="transfer2.5")
    final = sync_until(api25, run["id"], settled)
    assert final["status"] == "failed" and final["exit_code"] == 0
    assert final["error"].startswith("Container exited with code 0 but wrote no outputs/output.mp4: "
                                     "blocked by the guardrail: ")


def test_transfer25_refuses_what_it_does_not_take(api25, sample_video):
    prompt = api25.add_prompt("a street", sample_video)
    with pytest.raises(CosmosError, match="^guidance must be a whole number, got 3.5$"):
        api25.start_inference(prompt["id"], params=InferenceParams(guidance=3.5, seed=2025, sigma_max=None,
                                                                   weights=(0, 1, 0, 0)), model_name="transfer2.5")
    with pytest.raises(CosmosError, match="the 4K upscaler is Cosmos-Transfer1's"):
        run = api25.start_inference(prompt["id"], model_name="transfer2.5")
        sync_until(api25, run["id"], settled)
        api25.start_upscale(run["id"])


def test_an_older_client_database_keeps_working(api: CosmosAPI, sample_video):
    """Runs made before models existed are Transfer1 runs."""
    run = start(api, "fine", sample_video)
    assert api.get_run(run["id"])["model"] == "transfer1"
    wait_until(lambda: settled(api.get_run(run["id"])), 30, "the run")
