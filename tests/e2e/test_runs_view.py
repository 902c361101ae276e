"""The runs view in a real browser: the table, live status, the inline video, filters and paging."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from playwright.sync_api import expect

from cosmos_core.api import Refresh
from cosmos_core.lifecycle import RunStatus
from cosmos_core.repository import DataRepository
from cosmos_core.store.queries import new_id
from tests.e2e.conftest import STANDIN_HOST
from tests.e2e.ui import choose, expect_status, select_run, wait_video_ready
from tests.hostkit import make_video

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot.png"


def test_a_run_started_after_the_page_loaded_completes_without_reload_and_plays(page, e2e_api, e2e_workspace,
                                                                                tmp_path):
    video = make_video(tmp_path / "city.mp4", seconds=3)
    prompt = e2e_api.add_prompt("a rainy city street at night, neon reflections [sleep=3]", video,
                                name="rainy city street")
    run = e2e_api.start_inference(prompt["id"], host=STANDIN_HOST)  # another process starts it, as the CLI would

    select_run(page, run["id"])
    expect_status(page, "running")
    expect(page.locator("#runs-table")).to_contain_text("rainy city street")
    expect_status(page, "completed")
    expect(page.locator("#run-status")).to_contain_text("download done")
    # its scores, made by the page's own ticks (0.3 s of budget each) once the video is verified (the
    # stand-in's output is a clip like the input's, encoded apart)
    expect(page.locator("#run-status")).to_contain_text(re.compile(
        r"Scores \(25 of 50 frames \(1 in 2\)\): Blur SSIM 1\.000 · Canny-F1 0\.9\d\d"), timeout=30_000)
    # and, in the runs table, its thumbnail: one frame of the verified output, served from beside it
    thumb = page.locator(f'#runs-table img.run-thumb[src*="run_{run["id"]}/"]').first
    expect(thumb).to_have_attribute("src", re.compile(rf"/gradio_api/file=.*/run_{run['id']}/outputs/thumb\.jpg$"),
                                    timeout=30_000)
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
    src = wait_video_ready(page)
    outputs = e2e_workspace.root / "outputs"
    assert src.endswith(f"/gradio_api/file={outputs}/run_{run['id']}/outputs/output.mp4")  # served in place,
    assert not list(Path(os.environ["GRADIO_TEMP_DIR"]).rglob("output.mp4"))  # not copied to Gradio's cache
    expect(page.locator("#run-log textarea")).to_have_value(re.compile(re.escape("[COSMOS_COMPLETE] exit_code=0")))
    expect(page.locator("#run-prompt")).to_contain_text("steps 35")
    expect(page.locator("#retry-download")).to_be_hidden()  # not disabled: hidden where they do not apply
    expect(page.locator("#cancel-run")).to_be_hidden()
    expect(page.locator("#upscale-run")).to_be_enabled()

    page.eval_on_selector("#run-video video", "v => { v.muted = true; return v.play(); }")
    page.wait_for_function("() => document.querySelector('#run-video video').currentTime > 1")
    page.eval_on_selector("#run-video video", "v => v.pause()")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOT, full_page=True)


def test_a_failed_run_shows_its_reason_and_filters_and_counts_work(page, e2e_api, tmp_path):
    video = make_video(tmp_path / "lake.mp4")
    crashed = e2e_api.start_inference(
        e2e_api.add_prompt("a frozen lake [exit=3]", video, name="frozen lake")["id"], host=STANDIN_HOST)
    fine = e2e_api.start_inference(
        e2e_api.add_prompt("a desert road", video, name="desert road")["id"], host=STANDIN_HOST)
    table = page.locator("#runs-table")
    expect(table).to_contain_text("failed: Container exited with code 3")
    select_run(page, crashed["id"])
    expect_status(page, "failed")
    expect(page.locator("#run-status")).to_contain_text("Error: Container exited with code 3")
    expect(page.locator("#run-counts")).to_contain_text("failed")

    choose(page, "filter-status", "failed")
    expect(table).not_to_contain_text(fine["id"])
    expect(table).to_contain_text(crashed["id"])
    choose(page, "filter-status", "all")
    page.locator("#filter-search").get_by_role("textbox").fill("desert road")
    page.keyboard.press("Enter")
    expect(table).not_to_contain_text(crashed["id"])
    expect(table).to_contain_text(fine["id"])


def test_thousands_of_runs_are_paged_fifty_at_a_time(page, e2e_api, e2e_workspace, tmp_path):
    """Old history runs are written straight to the database, as an older install would have them."""
    year_ago = time.time() - 365 * 86400
    history = DataRepository(e2e_workspace.root / "outputs", e2e_api.config.sync, clock=lambda: year_ago)
    prompt = e2e_api.add_prompt("an archived experiment", make_video(tmp_path / "old.mp4"), name="archived")
    ids = [history.create_run(run_id=new_id("rs"), prompt_id=prompt["id"], kind="inference", host="gpu1",
                              params={}).id for _ in range(60)]
    for run_id in ids:
        history.transition(run_id, RunStatus.PENDING, status=RunStatus.CANCELLED.value, completed_at=year_ago)
    total = len(e2e_api.list_runs(refresh=Refresh.NONE))

    page.reload()
    page.locator("#filter-search").get_by_role("textbox").fill("archived")
    page.keyboard.press("Enter")
    expect(page.locator("#pager")).to_contain_text("Runs 1–50")
    page.get_by_role("button", name="Older ▶").click()
    expect(page.locator("#pager")).to_contain_text("Runs 51–60")
    expect(page.get_by_role("button", name="Older ▶")).to_be_disabled()
    page.get_by_role("button", name="◀ Newer").click()
    expect(page.locator("#pager")).to_contain_text("Runs 1–50")
    expect(page.locator("#run-counts")).to_contain_text(f"{total} runs")
