"""The run actions in a real browser, against the real stand-in host: retry, cancel, upscale, enhance."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from cosmos_core.api import Refresh
from tests.e2e.conftest import STANDIN_HOST
from tests.e2e.ui import expect_status, select_run, wait_video_ready
from tests.hostkit import STANDIN_SECOND_PARAGRAPH, make_video, wait_until

BIG = 80 * 1024 * 1024  # at DOWNLOAD_BUDGET per refresh, more than two refreshes of downloading


def test_a_failed_download_shows_a_retry_that_makes_it_succeed(page, e2e_api, e2e_workspace, tmp_path):
    host = e2e_workspace.host
    prompt = e2e_api.add_prompt(f"a long take [size={BIG}]", make_video(tmp_path / "in.mp4"))
    run = e2e_api.start_inference(prompt["id"], host=STANDIN_HOST)
    select_run(page, run["id"])
    expect(page.locator("#run-status")).to_contain_text(re.compile(r"download \d+%"))  # mid-download
    expect(page.locator("#runs-table")).to_contain_text(re.compile(r"\d+%"))
    host.stop_sshd()  # the connection dies mid-download; the next refreshes cannot reconnect
    try:
        expect(page.locator("#retry-download")).to_be_enabled()
        expect(page.locator("#run-status")).to_contain_text("Download failed")
        expect_status(page, "completed")  # a failed download never fails the run
        expect(page.locator("#host-banner")).to_contain_text("gpu1 is unreachable")
    finally:
        host.start_sshd()
        for connection in (e.shell for e in e2e_api.executors.values()):  # its SFTP session died with sshd too
            connection.close()
    page.locator("#retry-download").click()
    expect(page.locator("#notice")).to_contain_text(f"Download of {run['id']} is done")
    expect(page.locator("#run-status")).to_contain_text("download done")
    expect(page.locator("#retry-download")).to_be_hidden()  # was disabled: what does not apply is hidden
    assert wait_video_ready(page).endswith(f"run_{run['id']}/outputs/output.mp4")
    assert e2e_api.get_run(run["id"], Refresh.NONE)["download"]["status"] == "done"


def test_cancel_stops_a_running_run_while_its_log_and_stage_follow(page, e2e_api, e2e_workspace, tmp_path):
    run = e2e_api.start_inference(
        e2e_api.add_prompt("a slow pan [sleep=60]", make_video(tmp_path / "in.mp4"))["id"], host=STANDIN_HOST)
    select_run(page, run["id"])
    log = page.locator("#run-log textarea")
    expect(log).to_have_value(re.compile(r"step 1/60"))
    expect(log).to_have_value(re.compile(r"step 3/60"))  # the tail follows the run
    expect(page.locator("#run-progress")).to_contain_text("diffusion sampling")  # the stage, from the log
    expect(page.locator("#runs-table")).to_contain_text(re.compile(r"running · GPUs \d · diffusion sampling"))
    expect(page.locator("#cancel-run")).to_be_enabled()
    page.locator("#cancel-run").click()
    expect_status(page, "cancelled")
    expect(page.locator("#run-progress")).to_have_text("")
    expect(page.locator("#cancel-run")).to_be_hidden()
    container = f"cosmos-{run['id']}"
    wait_until(lambda: _not_running(e2e_workspace.host, container), 20, f"{container} to stop")


def test_upscale_and_enhance_start_from_the_details_panel(page, e2e_api, tmp_path):
    prompt = e2e_api.add_prompt("a harbour at dawn", make_video(tmp_path / "in.mp4"), name="harbour")
    parent = e2e_api.start_inference(prompt["id"], host=STANDIN_HOST)
    select_run(page, parent["id"])
    expect_status(page, "completed")

    page.locator("#upscale-run").click()
    expect(page.locator("#notice")).to_contain_text("Started 4K upscale")
    expect(page.locator("#run-status")).to_contain_text("upscale on gpu1")  # the new run is selected
    expect_status(page, "completed")
    assert wait_video_ready(page).endswith("/outputs/output_4k.mp4")
    expect(page.locator("#run-prompt")).to_contain_text(f"4K upscale of {parent['id']}")

    page.locator("#enhance-prompt").click()
    expect(page.locator("#notice")).to_contain_text("Started prompt enhancement")
    expect(page.locator("#run-status")).to_contain_text("enhance on gpu1")
    expect_status(page, "completed")
    expect(page.locator("#run-enhanced textarea")).to_have_value(  # both paragraphs of the answer
        f"a harbour at dawn with rich cinematic detail\n\n{STANDIN_SECOND_PARAGRAPH}")


def _not_running(host, container: str) -> bool:
    result = host.docker("inspect", "--format", "{{.State.Running}}", container, check=False)
    return result.returncode != 0 or result.stdout.strip() == "false"
