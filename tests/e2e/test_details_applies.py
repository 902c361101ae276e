"""The details panel shows only what applies to the selected run (issue 21, item 5), in a real browser
against the real stand-in host: no disabled buttons, no empty log box, no empty video frame."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from cosmos_core.api import CosmosAPI, CosmosError, Refresh
from cosmos_core.config import load_config
from tests.e2e.conftest import STANDIN_HOST
from tests.e2e.ui import expect_status, select_run, wait_video_ready
from tests.hostkit import make_video

MISSING_IMAGE = "cosmos-missing:none"


def expect_hidden(page: Page, *elem_ids: str) -> None:
    for elem_id in elem_ids:
        expect(page.locator(f"#{elem_id}")).to_be_hidden()


def test_a_run_that_never_started_says_why_and_shows_no_log_video_retry_or_cancel(page, e2e_api, e2e_workspace,
                                                                                  tmp_path):
    """Another process (as the CLI would) starts a run on gpu1 with an image the host does not have:
    `docker run` fails, and the run is failed before its job ever existed."""
    image = f'image = "{e2e_workspace.host.image}"'
    text = e2e_workspace.config.read_text()
    assert image in text
    broken = tmp_path / "cosmos.toml"  # the same database and outputs, gpu1 without its image
    broken.write_text(text.replace(image, f'image = "{MISSING_IMAGE}"', 1))
    api = CosmosAPI(load_config(broken))
    try:
        prompt = api.add_prompt("a lighthouse in a storm", make_video(tmp_path / "in.mp4"), name="never started")
        with pytest.raises(CosmosError, match="failed to start: docker run failed on gpu1"):
            api.start_inference(prompt["id"], host=STANDIN_HOST)
    finally:
        api.close()
    run = e2e_api.list_runs(None, Refresh.NONE, search="never started")[0]
    assert (run["status"], run["started_at"], run["queued_at"]) == ("failed", None, None)

    select_run(page, run["id"])
    expect_status(page, "failed")
    missing = page.locator("#run-missing")
    expect(missing).to_be_visible()
    expect(missing).to_contain_text("This run never started: docker run failed on gpu1")
    expect(missing).to_contain_text("It has no log and no video.")
    expect(page.locator("#rerun-run")).to_be_visible()  # what does apply still shows
    expect_hidden(page, "run-log", "run-video", "retry-download", "cancel-run", "upscale-controls", "upscale-run")


def test_a_running_run_shows_cancel_and_its_log_but_no_retry_upscale_or_video(page, e2e_api, tmp_path):
    run = e2e_api.start_inference(
        e2e_api.add_prompt("a slow dolly shot [sleep=60]", make_video(tmp_path / "in.mp4"))["id"], host=STANDIN_HOST)
    select_run(page, run["id"])
    expect_status(page, "running")
    expect(page.locator("#run-log textarea")).to_have_value(re.compile(r"step 1/60"))
    expect(page.locator("#cancel-run")).to_be_visible()
    expect(page.locator("#cancel-run")).to_be_enabled()
    expect(page.locator("#run-missing")).to_contain_text("No video yet")
    expect_hidden(page, "retry-download", "upscale-controls", "upscale-run", "run-video")

    page.locator("#cancel-run").click()  # and once it is cancelled, Cancel no longer applies
    expect_status(page, "cancelled")
    expect_hidden(page, "cancel-run")
    expect(page.locator("#run-missing")).to_contain_text("No video: the run cancelled before it made one.")


def test_a_completed_run_shows_its_video_and_the_upscale_controls_but_no_cancel(page, e2e_api, tmp_path):
    run = e2e_api.start_inference(
        e2e_api.add_prompt("a kite over a beach", make_video(tmp_path / "in.mp4"))["id"], host=STANDIN_HOST)
    select_run(page, run["id"])
    expect_status(page, "completed")
    assert wait_video_ready(page).endswith(f"run_{run['id']}/outputs/output.mp4")
    expect(page.locator("#run-video")).to_be_visible()
    expect(page.locator("#upscale-controls")).to_be_visible()
    expect(page.locator("#upscale-weight")).to_be_visible()
    expect(page.locator("#upscale-run")).to_be_enabled()
    expect(page.locator("#run-log textarea")).to_have_value(re.compile(re.escape("[COSMOS_COMPLETE] exit_code=0")))
    expect_hidden(page, "cancel-run", "retry-download", "run-missing")
