"""The gallery (issue 'A GPU queue…', point 3): completed runs' videos, newest first; a click opens the run."""

from __future__ import annotations

from playwright.sync_api import expect

from cosmos_core.api import Refresh
from tests.e2e.conftest import STANDIN_HOST
from tests.e2e.ui import open_tab
from tests.hostkit import make_video, wait_until


def test_the_gallery_shows_the_newest_completed_videos_and_a_click_opens_the_run(page, e2e_api, tmp_path):
    prompt = e2e_api.add_prompt("a gallery piece", make_video(tmp_path / "in.mp4"), name="gallery piece")
    run = e2e_api.start_inference(prompt["id"], host=STANDIN_HOST)

    def downloaded() -> bool:
        e2e_api.sync(Refresh.FORCE)
        return e2e_api.get_run(run["id"], Refresh.NONE)["download"]["status"] == "done"

    wait_until(downloaded, 60, "the run's video to arrive", interval=0.5)
    open_tab(page, "Gallery")
    gallery = page.locator("#run-gallery")
    expect(gallery).to_contain_text(f"gallery piece · {run['id']}")  # the newest first
    first = gallery.locator("video").first
    assert f"run_{run['id']}/outputs/output.mp4" in first.evaluate("v => v.currentSrc || v.src")
    gallery.get_by_text(f"gallery piece · {run['id']}").click()
    expect(page.locator("#run-status")).to_contain_text(run["id"])  # opened in the Runs tab
