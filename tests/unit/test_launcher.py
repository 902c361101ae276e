import json
from pathlib import Path

from cosmos_core.launcher import InferenceParams, PromptInput, plan_enhance, plan_inference, plan_upscale


def test_inference_plan_spec_and_command():
    prompt = PromptInput("a \"robot\" $(x)", "blurry", Path("/in/my video.mp4"), depth=Path("/in/d.mp4"))
    plan = plan_inference("rs_1", prompt, InferenceParams(num_steps=20, guidance=7.5, seed=3,
                                                          weights=(0.5, 0.0, 0.3, 0.0)))
    spec = json.loads(plan.texts["spec.json"])
    assert spec["prompt"] == 'a "robot" $(x)' and spec["negative_prompt"] == "blurry"
    assert spec["input_video_path"] == "cosmos_runs/rs_1/inputs/my video.mp4"
    assert spec["vis"] == {"control_weight": 0.5}
    assert "edge" not in spec and "seg" not in spec
    assert spec["depth"] == {"control_weight": 0.3, "input_control": "cosmos_runs/rs_1/inputs/depth_d.mp4"}
    assert plan.uploads == {"inputs/my video.mp4": Path("/in/my video.mp4"), "inputs/depth_d.mp4": Path("/in/d.mp4")}
    assert plan.argv == ("bash", "cosmos_runs/rs_1/scripts/inference.sh", "cosmos_runs/rs_1", "20", "7.5", "3")
    assert plan.remote_dir("/r/cosmos-transfer1") == "/r/cosmos-transfer1/cosmos_runs/rs_1"


def test_upscale_plan_points_at_the_parent_output():
    plan = plan_upscale("rs_2", "rs_1", 0.7)
    assert json.loads(plan.texts["spec.json"]) == {
        "input_video_path": "cosmos_runs/rs_1/outputs/output.mp4", "upscale": {"control_weight": 0.7}}
    assert plan.argv == ("bash", "cosmos_runs/rs_2/scripts/upscale.sh", "cosmos_runs/rs_2")
    assert plan.uploads == {}


def test_enhance_plan_passes_the_prompt_as_a_file():
    plan = plan_enhance("rs_3", PromptInput("it's; rm -rf /", "", Path("/in/v.mp4")))
    assert plan.texts == {"prompt.txt": "it's; rm -rf /"}
    assert plan.argv == ("bash", "cosmos_runs/rs_3/scripts/enhance.sh", "cosmos_runs/rs_3",
                         "cosmos_runs/rs_3/inputs/v.mp4")
