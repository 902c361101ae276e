"""The details panel's values for each kind of run, and which buttons it shows."""

from __future__ import annotations

from app.details import NO_RUN, prompt_markdown, run_details
from tests.unit.app_fakes import PROMPT, make_run

VIDEO = "/out/run_rs_1/outputs/output.mp4"


def test_a_completed_downloaded_inference_shows_its_video_and_can_be_upscaled():
    run = make_run(download_status="done", output_path=VIDEO)
    details = run_details(run, PROMPT, "log")
    assert details.video == VIDEO and details.log == "log"
    assert "upscale" in details.actions and "enhance" in details.actions
    assert "retry" not in details.actions and "cancel" not in details.actions
    assert "status **completed**" in details.status and "download done" in details.status


def test_no_video_until_the_file_is_there():
    run = make_run(download_status="done", output_path=VIDEO)
    assert run_details(run, PROMPT, "", video_exists=False).video is None
    assert run_details(make_run(status="running", download_status="none"), PROMPT, "").video is None


def test_a_failed_download_shows_retry_and_says_why():
    run = make_run(download_status="failed", download_error="download from gpu1 failed: connection lost")
    details = run_details(run, PROMPT, "")
    assert "retry" in details.actions and details.video is None
    assert "**Download failed:** download from gpu1 failed: connection lost" in details.status


def test_only_an_active_run_can_be_cancelled():
    for status in ("pending", "uploading", "running"):
        assert "cancel" in run_details(make_run(status=status, exit_code=None), PROMPT, "").actions
    assert "cancel" not in run_details(make_run(status="cancelled"), PROMPT, "").actions


def test_a_failed_run_shows_its_error_and_cannot_be_upscaled():
    run = make_run(status="failed", exit_code=3, error="Container exited with code 3")
    details = run_details(run, PROMPT, "")
    assert "**Error:** Container exited with code 3" in details.status and "exit code 3" in details.status
    assert "upscale" not in details.actions and "rerun" in details.actions  # a failed run can be run again


def test_an_enhancement_shows_its_text_and_no_video():
    run = make_run(kind="enhance", download_status="done", output_path="/o/batch_results.json",
                   enhanced_text="a red robot, cinematic", params={})
    details = run_details(run, PROMPT, "")
    assert details.enhanced == "a red robot, cinematic" and details.video is None
    assert "upscale" not in details.actions and "rerun" not in details.actions  # Run again: inference runs only


def test_prompt_markdown_lists_inputs_and_parameters():
    prompt = {**PROMPT, "negative_prompt": "blurry", "depth": "/in/d.mp4", "seg": None}
    text = prompt_markdown(make_run(params={"num_steps": 12, "guidance": 6.5, "seed": 9,
                                            "weights": [0.4, 0.3, 0.2, 0.1]}), prompt)
    assert "video `v.mp4`, depth `d.mp4`" in text and "**Negative:** blurry" in text
    assert "steps 12 · guidance 6.5 · seed 9 · weights vis 0.4, edge 0.3, depth 0.2, seg 0.1" in text
    upscale = make_run(kind="upscale", parent_run_id="rs_0", params={"control_weight": 0.6})
    assert "4K upscale of rs_0 · control weight 0.6" in prompt_markdown(upscale, None)


def test_nothing_selected_shows_no_button():
    assert not NO_RUN.actions


def test_a_new_run_shows_its_model_and_every_parameter():
    params = {"num_steps": 35, "guidance": 3.0, "seed": 2025, "weights": [0.0, 1.0, 0.0, 0.0], "sigma_max": None,
              "blur_strength": "low", "canny_threshold": "high", "fps": 24, "distilled": False,
              "upsample_prompt": True}
    run = make_run(model="transfer2.5", params=params)
    details = run_details(run, PROMPT, "")
    assert "inference on gpu1 · Cosmos-Transfer2.5 · status" in details.status
    assert details.prompt.endswith(
        "**Parameters:** steps 35 · guidance 3.0 · seed 2025 · weights vis 0, edge 1, depth 0, seg 0 · "
        "sigma_max model default · blur strength low · canny threshold high · fps 24 · distilled no · "
        "upsample prompt yes")


def test_an_old_run_shows_the_parameters_it_stored():
    text = prompt_markdown(make_run(params={"num_steps": 35, "seed": 1}), PROMPT)
    assert text.endswith("**Parameters:** steps 35 · seed 1")


def test_progress_shows_only_while_running():
    running = make_run(status="running", exit_code=None, progress="decoding · 2/2 chunks")
    assert run_details(running, PROMPT, "").progress == "⏳ decoding · 2/2 chunks"
    assert run_details(make_run(status="running", exit_code=None), PROMPT, "").progress == ""
    assert run_details(make_run(status="cancelled", progress="decoding"), PROMPT, "").progress == ""
    assert NO_RUN.progress == ""
