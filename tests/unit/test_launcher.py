import json
from pathlib import Path

import pytest

from cosmos_core.launcher import PromptInput, input_name, plan_enhance, plan_inference, plan_upscale
from cosmos_core.upstream.models import TRANSFER25
from cosmos_core.upstream.params import InferenceParams


def spec_of(plan):
    return json.loads(plan.texts["spec.json"])


def test_inference_plan_spec_and_command():
    prompt = PromptInput("a \"robot\" $(x)", "blurry", Path("/in/my video.mp4"), depth=Path("/in/d.MP4"))
    plan = plan_inference("rs_1", prompt, InferenceParams(num_steps=20, guidance=7.5, seed=3,
                                                          weights=(0.5, 0.0, 0.3, 0.0)))
    spec = spec_of(plan)
    assert spec["prompt"] == 'a "robot" $(x)' and spec["negative_prompt"] == "blurry"
    assert spec["input_video_path"] == "cosmos_runs/rs_1/inputs/video.mp4"
    assert spec["vis"] == {"control_weight": 0.5}
    assert "edge" not in spec and "seg" not in spec
    assert spec["depth"] == {"control_weight": 0.3, "input_control": "cosmos_runs/rs_1/inputs/depth.mp4"}
    assert plan.uploads == {"inputs/video.mp4": Path("/in/my video.mp4"), "inputs/depth.mp4": Path("/in/d.MP4")}
    assert plan.argv == ("bash", "cosmos_runs/rs_1/scripts/inference.sh", "cosmos_runs/rs_1",
                         "--num_steps", "20", "--guidance", "7.5", "--seed", "3", "--sigma_max", "70",
                         "--blur_strength", "medium", "--canny_threshold", "medium", "--fps", "24")
    assert plan.relative_dir == "cosmos_runs/rs_1" and plan.model == "transfer1"


def test_an_empty_negative_prompt_is_left_out_of_the_spec():
    """Upstream: a spec key overrides the flag's default, and an empty negative prompt crashes the model."""
    spec = spec_of(plan_inference("rs_1", PromptInput("p", "", Path("/in/v.mp4")), InferenceParams()))
    assert "negative_prompt" not in spec


def test_inputs_get_fixed_names_by_role_so_they_never_collide():
    prompt = PromptInput("p", "", Path("/a/depth_clip.mp4"), depth=Path("/b/clip.mp4"), seg=Path("/c/clip.mp4"))
    plan = plan_inference("rs_1", prompt, InferenceParams())
    assert plan.uploads == {"inputs/video.mp4": Path("/a/depth_clip.mp4"), "inputs/depth.mp4": Path("/b/clip.mp4"),
                            "inputs/seg.mp4": Path("/c/clip.mp4")}
    assert input_name("video", Path("x.MOV")) == "inputs/video.mov"


def test_a_control_video_whose_weight_is_zero_is_not_sent():
    prompt = PromptInput("p", "", Path("/a/v.mp4"), depth=Path("/b/d.mp4"))
    plan = plan_inference("rs_1", prompt, InferenceParams(weights=(0, 1, 0, 0)))
    assert "depth" not in spec_of(plan) and set(plan.uploads) == {"inputs/video.mp4"}


def test_every_tuned_transfer1_parameter_reaches_its_flag():
    params = InferenceParams(sigma_max=80, blur_strength="very_high", canny_threshold="low", fps=16,
                             weights=(0, 1, 0, 0), distilled=True, upsample_prompt=True)
    argv = plan_inference("rs_1", PromptInput("p", "", Path("/v.mp4")), params).argv
    flags = argv[3:]
    pairs = dict(zip(flags[:14:2], flags[1:14:2], strict=True))
    assert pairs["--sigma_max"] == "80" and pairs["--blur_strength"] == "very_high"
    assert pairs["--canny_threshold"] == "low" and pairs["--fps"] == "16"
    assert flags[14:] == ("--use_distilled", "--upsample_prompt", "--offload_prompt_upsampler")


def test_transfer25_spec_as_upstream_spells_it():
    prompt = PromptInput("a street", "dark", Path("/a/clip.mp4"), depth=Path("/b/d.mp4"))
    params = InferenceParams(num_steps=30, guidance=4, seed=7, weights=(0.2, 1.0, 0.5, 0), sigma_max=80,
                             blur_strength="low", canny_threshold="high")
    plan = plan_inference("rs_9", prompt, params, TRANSFER25)
    assert spec_of(plan) == {
        "name": "output", "prompt": "a street", "negative_prompt": "dark", "video_path": "inputs/video.mp4",
        "guidance": 4, "seed": 7, "num_steps": 30, "sigma_max": "80",
        "vis": {"control_weight": 0.2, "preset_blur_strength": "low"},
        "edge": {"control_weight": 1.0, "preset_edge_threshold": "high"},
        "depth": {"control_weight": 0.5, "control_path": "inputs/depth.mp4"},
    }  # fmt: skip
    assert plan.argv == ("bash", "cosmos_runs/rs_9/scripts/transfer25.sh", "cosmos_runs/rs_9")
    assert plan.model == "transfer2.5"


def test_transfer25_defaults_leave_sigma_max_and_negative_prompt_to_upstream():
    spec = spec_of(plan_inference("rs_9", PromptInput("p", "", Path("/v.mp4")), TRANSFER25.defaults, TRANSFER25))
    assert "sigma_max" not in spec and "negative_prompt" not in spec
    assert spec["guidance"] == 3 and spec["seed"] == 2025 and spec["edge"]["control_weight"] == 1.0


def test_upscale_plan_points_at_the_parent_output():
    plan = plan_upscale("rs_2", "rs_1", 0.7)
    assert spec_of(plan) == {"input_video_path": "cosmos_runs/rs_1/outputs/output.mp4",
                             "upscale": {"control_weight": 0.7}}
    assert plan.argv == ("bash", "cosmos_runs/rs_2/scripts/upscale.sh", "cosmos_runs/rs_2", "--num_steps", "10")
    assert plan.uploads == {}


def test_enhance_plan_passes_the_prompt_as_a_file():
    plan = plan_enhance("rs_3", PromptInput("it's; rm -rf /", "", Path("/in/v.mp4")))
    assert plan.texts == {"prompt.txt": "it's; rm -rf /"}
    assert plan.argv == ("bash", "cosmos_runs/rs_3/scripts/enhance.sh", "cosmos_runs/rs_3",
                         "cosmos_runs/rs_3/inputs/video.mp4")


@pytest.mark.parametrize("model", [None, TRANSFER25])
def test_no_prompt_text_reaches_the_command_line(model):
    """Prompts travel in the spec file; the container command only carries plain flags."""
    params = InferenceParams() if model is None else model.defaults
    plan = plan_inference("rs_1", PromptInput("--seed 9; $(x)", "-neg", Path("/v.mp4")), params,
                          *([model] if model else []))
    assert not any("$(x)" in arg or "-neg" == arg for arg in plan.argv)


def test_no_sigma_max_leaves_upstreams_default():
    argv = plan_inference("rs_1", PromptInput("p", "", Path("/v.mp4")), InferenceParams(sigma_max=None)).argv
    assert "--sigma_max" not in argv and argv[-2:] == ("--fps", "24")
