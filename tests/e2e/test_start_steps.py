"""A start that waits says on what, and cancels at any step (issue 21, item 3), on the real page: the
stand-in's docker shim holds `docker run` as a slow daemon would; the form shows that step with its time
counting, and Cancel ends the run `cancelled` with nothing of it left on the host."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from cosmos_core.api import Refresh
from cosmos_core.executors.docker_cli import container_name
from tests.e2e.ui import open_tab
from tests.hostkit import make_video, wait_until

HELD_SECONDS = 8  # how long the shim holds `docker run`: long enough to watch the step and cancel it
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "start-steps.png"  # the README shows it


def start_from_the_form(page, video: Path, prompt: str) -> None:
    open_tab(page, "New run")
    form = page.locator("#new-run")
    form.locator("#new-run-video input[type=file]").set_input_files(video)
    form.locator("#new-run-prompt textarea").fill(prompt)
    form.locator("#new-run-start").click()


def containers_of(gpu_host, run_id: str) -> list[str]:
    names = gpu_host.docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
    return [name for name in names if name == container_name(run_id)]


def test_a_start_held_at_docker_run_shows_that_step_and_cancels_cleanly(page, e2e_api, gpu_host, tmp_path):
    steps = page.locator("#new-run-steps")
    with gpu_host.slow_docker(HELD_SECONDS, "run"):
        start_from_the_form(page, make_video(tmp_path / "held.mp4"), "a start held at docker run")
        expect(steps).to_contain_text("now: starting the container on gpu1 (docker run)")
        expect(steps).to_contain_text("done: connecting to gpu1")
        expect(page.locator("#new-run-start")).to_be_disabled()  # one start at a time from this page
        expect(steps).to_contain_text(re.compile(r"done: uploading to gpu1 · inputs/video\.mp4 [\d.]+/[\d.]+ [kM]?B"))
        expect(steps).to_contain_text(re.compile(r"\(docker run\) · [2-9]\.\ds"))  # its time counts, host silent
        run_id = re.search(r"Starting run (rs_\w+)", steps.inner_text()).group(1)
        page.screenshot(path=SCREENSHOT, full_page=True)
        assert e2e_api.get_run(run_id, Refresh.NONE)["progress"] == "starting the container on gpu1 (docker run)"
        page.locator("#new-run-cancel").click()
        expect(steps).to_contain_text("cancelling: the run is cancelled")
        assert e2e_api.get_run(run_id, Refresh.NONE)["status"] == "cancelled"

    status = page.locator("#new-run-status")
    expect(status).to_contain_text(f"Run {run_id} was cancelled while starting", timeout=(HELD_SECONDS + 30) * 1000)
    expect(page.locator("#new-run-cancel")).to_be_hidden()
    expect(page.locator("#new-run-start")).to_be_enabled()
    expect(steps).to_contain_text(f"Start of run {run_id}")
    wait_until(lambda: not containers_of(gpu_host, run_id), 30, f"run {run_id}'s container to be removed")
    run = e2e_api.get_run(run_id, Refresh.FORCE)
    assert (run["status"], run["error"]) == ("cancelled", "Cancelled by the user")
