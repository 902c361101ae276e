"""The new-run form in a real browser: upload a video, set the model's knobs, watch the upload
progress, get a running run; switching the model resets the form."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from cosmos_core.api import Refresh
from tests.e2e.conftest import TRANSFER25_HOST
from tests.e2e.ui import choose, expect_status, open_tab, wait_video_ready
from tests.hostkit import make_video

PADDING = 40 * 1024 * 1024  # makes the SFTP upload last long enough to watch its progress
WATCH_PROGRESS = """() => {
  window.uploadProgress = [];
  new MutationObserver(() => {
    const text = document.querySelector('#new-run')?.textContent || '';
    const match = text.match(/Uploading [^:]+: [0-9.]+\\/[0-9.]+ [kMG]?B/);
    if (match) window.uploadProgress.push(match[0]);
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def shown_file(name: str) -> re.Pattern[str]:
    """A file name as Gradio's file component shows it: the stem and the extension in separate spans,
    so the text may read "depth .mp4"."""
    stem, dot, ext = name.rpartition(".")
    return re.compile(re.escape(stem) + r"\s?" + re.escape(dot + ext))


def test_the_form_starts_a_run_from_an_uploaded_video_showing_upload_progress(page, e2e_workspace, e2e_api,
                                                                               tmp_path):
    video = make_video(tmp_path / "my drone shot.mp4")
    video.write_bytes(video.read_bytes() + bytes(PADDING))
    open_tab(page, "New run")
    form = page.locator("#new-run")
    form.locator("#new-run-video input[type=file]").set_input_files(video)
    expect(form.locator("#new-run-video")).to_contain_text(shown_file("my drone shot.mp4"))
    form.locator("#new-run-depth input[type=file]").set_input_files(make_video(tmp_path / "depth.mp4"))
    expect(form.locator("#new-run-depth")).to_contain_text(shown_file("depth.mp4"))
    form.locator("#new-run-prompt textarea").fill("a drone shot over a forest [sleep=1]")
    form.get_by_label("Negative prompt").fill("blurry")
    form.get_by_label("Steps").fill("12")
    form.get_by_label("Seed").fill("7")
    form.locator("#new-run-sigma-max input").fill("80")
    choose(page, "new-run-blur", "high")
    form.locator("#new-run-fps input").fill("16")
    form.locator("#new-run-upsample input").check()
    page.evaluate(WATCH_PROGRESS)
    form.locator("#new-run-start").click()

    expect(page.locator("#notice")).to_contain_text("Started run rs_", timeout=60_000)
    run_id = re.search(r"Started run (rs_\S+) on", page.locator("#notice").inner_text()).group(1)
    run = e2e_api.get_run(run_id, Refresh.NONE)
    assert run["model"] == "transfer1"
    assert {k: run["params"][k] for k in ("num_steps", "seed", "sigma_max", "blur_strength", "fps",
                                          "upsample_prompt", "canny_threshold")} == {
        "num_steps": 12, "seed": 7, "sigma_max": 80.0, "blur_strength": "high", "fps": 16,
        "upsample_prompt": True, "canny_threshold": "medium"}  # fmt: skip
    assert page.evaluate("window.uploadProgress"), "no upload progress was shown"
    expect(page.get_by_role("tab", name="Runs")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#run-prompt")).to_contain_text("steps 12")
    expect(page.locator("#run-prompt")).to_contain_text("seed 7")
    expect(page.locator("#run-prompt")).to_contain_text("sigma_max 80.0 · blur strength high")
    expect(page.locator("#run-prompt")).to_contain_text("fps 16 · distilled no · upsample prompt yes")
    expect(page.locator("#run-status")).to_contain_text("Cosmos-Transfer1")
    expect(page.locator("#run-prompt")).to_contain_text("Negative: blurry")
    expect(page.locator("#run-prompt")).to_contain_text("video my drone shot.mp4, depth depth.mp4")
    expect_status(page, "completed")
    wait_video_ready(page)
    kept = list((e2e_workspace.root / "outputs" / "inputs").glob("*/my drone shot.mp4"))
    assert [p.read_bytes() == video.read_bytes() for p in kept] == [True]


def test_form_errors_appear_in_the_page(page, e2e_api, tmp_path):
    open_tab(page, "New run")
    form = page.locator("#new-run")
    form.locator("#new-run-prompt textarea").fill("no video given")
    form.locator("#new-run-start").click()
    expect(form.locator("#new-run-status")).to_contain_text("choose an input video")

    e2e_api.add_prompt("an earlier prompt", make_video(tmp_path / "earlier.mp4"))
    open_tab(page, "Runs")
    open_tab(page, "New run")  # opening the tab lists the videos used before
    choose(page, "new-run-picked", "earlier.mp4 (an earlier prompt)")
    choose(page, "new-run-host", "gpu2")  # nothing listens there
    form.locator("#new-run-start").click()
    expect(form.locator("#new-run-status")).to_contain_text("failed to start")
    expect(form.locator("#new-run-status")).to_contain_text("gpu2")
    expect(page.locator("body")).not_to_contain_text("Traceback")


def test_a_transfer25_run_from_the_form_plays_inline_and_switching_back_resets_the_form(page, e2e_api, tmp_path):
    open_tab(page, "New run")
    form = page.locator("#new-run")
    form.locator("#new-run-fps input").fill("12")
    choose(page, "new-run-model", "Cosmos-Transfer2.5")
    expect(form.locator("#new-run-fps")).to_be_hidden()  # Transfer2.5 takes no fps, distilled or upsample
    expect(form.locator("#new-run-distilled")).to_be_hidden()
    expect(form.locator("#new-run-upsample")).to_be_hidden()
    expect(form.get_by_label("Seed")).to_have_value("2025")
    expect(form.locator("#new-run-sigma-max input")).to_have_value("")
    expect(form.locator("#new-run-host input")).to_have_value(TRANSFER25_HOST)  # the one host serving it
    form.locator("#new-run-video input[type=file]").set_input_files(make_video(tmp_path / "clip.mp4"))
    expect(form.locator("#new-run-video")).to_contain_text(shown_file("clip.mp4"))
    form.locator("#new-run-prompt textarea").fill("a robot arm [sleep=4] [chunks=2]")
    form.locator("#new-run-start").click()

    expect(page.locator("#notice")).to_contain_text("Started run rs_", timeout=60_000)
    run_id = re.search(r"Started run (rs_\S+) on", page.locator("#notice").inner_text()).group(1)
    run = e2e_api.get_run(run_id, Refresh.NONE)
    assert (run["model"], run["host"], run["params"]["seed"]) == ("transfer2.5", TRANSFER25_HOST, 2025)
    expect(page.locator("#run-status")).to_contain_text("Cosmos-Transfer2.5")
    expect(page.locator("#run-progress")).to_contain_text("steps")  # the diffusion steps of a chunk
    expect_status(page, "completed")
    assert wait_video_ready(page).endswith("/outputs/output.mp4")

    open_tab(page, "New run")
    choose(page, "new-run-model", "Cosmos-Transfer1")
    expect(form.locator("#new-run-fps input")).to_have_value("24")
    expect(form.locator("#new-run-host input")).to_have_value("gpu1")
