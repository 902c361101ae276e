"""`cosmos rerun` through the real CLI on the stand-in host (issue 20, point 2): the new run gets the
original's inputs, prompt, model, host and parameters, but for the options given."""

from __future__ import annotations

import json

from tests.integration.test_models import model_argv
from tests.workspace import Workspace


def model_call(workspace: Workspace, run_id: str) -> tuple[list[str], dict]:
    """The model's command line and spec of a run, its own id written as RUN (its directory's name)."""
    argv = [arg.replace(run_id, "RUN") for arg in model_argv(workspace.wait_for_marker(run_id))]
    spec = (workspace.remote_run_dir(run_id) / "spec.json").read_text().replace(run_id, "RUN")
    return argv, json.loads(spec)


def test_rerun_with_a_new_seed_changes_the_seed_alone(workspace, sample_video, tmp_path):
    depth = tmp_path / "depth.mp4"
    depth.write_bytes(sample_video.read_bytes())
    prompt = workspace.cli("prompt", "add", "a harbour at night", "--video", str(sample_video), "--depth",
                           str(depth), "--negative", "blurry", check=True).stdout.strip()
    first = workspace.cli_json("run", prompt, "--steps", "12", "--seed", "7", "--weights", "0,0.4,0.6,0",
                               "--sigma-max", "80", "--blur-strength", "high", "--canny-threshold", "low",
                               "--fps", "16", "--upsample-prompt")
    rerun = workspace.cli("rerun", first["id"], "--seed", "8", "--json")
    assert rerun.returncode == 0, rerun.stderr
    again = json.loads(rerun.stdout)
    assert again["id"] != first["id"] and again["kind"] == "inference"
    assert (again["prompt_id"], again["host"], again["model"]) == (prompt, first["host"], first["model"])
    assert again["params"] == first["params"] | {"seed": 8}

    argv, spec = model_call(workspace, first["id"])
    argv_again, spec_again = model_call(workspace, again["id"])
    seed = argv.index("--seed") + 1
    assert (argv[seed], argv_again[seed]) == ("7", "8")
    assert argv_again == argv[:seed] + ["8"] + argv[seed + 1:]  # the one change on the model's command line
    assert spec_again == spec  # the same prompt, inputs and control blocks
    assert [p["id"] for p in workspace.cli_json("prompts")] == [prompt]  # no duplicate prompt

    plain = workspace.cli("rerun", again["id"], "--no-upsample-prompt", "--steps", "20")
    assert plain.returncode == 0, plain.stderr
    third = workspace.cli_json("show", plain.stdout.strip())
    assert third["params"] == again["params"] | {"upsample_prompt": False, "num_steps": 20}


def test_rerun_refusals_say_why_in_one_line_and_start_nothing(workspace, sample_video):
    prompt = workspace.cli("prompt", "add", "a quiet lane", "--video", str(sample_video), check=True).stdout.strip()
    run_id = workspace.cli("run", prompt, "--seed", "3", check=True).stdout.strip()

    unknown = workspace.cli("rerun", "rs_nope", "--seed", "2")
    assert (unknown.returncode, unknown.stdout, unknown.stderr) == (1, "", "error: no run with id 'rs_nope'\n")
    for usage in (["rerun"], ["rerun", run_id, "--seed", "two"], ["rerun", run_id, "--colour", "red"]):
        assert workspace.cli(*usage).returncode == 2, usage
    model = workspace.cli("rerun", run_id, "--model", "transfer2.5")
    assert model.returncode == 1 and "host gpu1 does not serve transfer2.5" in model.stderr
    bad = workspace.cli("rerun", run_id, "--steps", "0")
    assert bad.returncode == 1 and "steps must be at least 1" in bad.stderr

    sample_video.unlink()  # the input the prompt recorded is gone from this machine
    gone = workspace.cli("rerun", run_id)
    assert gone.returncode == 1 and len(gone.stderr.splitlines()) == 1
    assert f"run {run_id}'s input video {sample_video} is no longer on this machine" in gone.stderr
    assert [r["id"] for r in workspace.cli_json("runs")] == [run_id]
