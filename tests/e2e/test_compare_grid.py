"""Side by side in the browser (issue 'A GPU queue…', point 3): a sweep's four videos load and play
together under one control."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from cosmos_core.api import CosmosAPI, Refresh
from tests.e2e.conftest import STANDIN_HOST
from tests.e2e.ui import open_tab
from tests.hostkit import make_video, wait_until

READY = "n => Array.from(document.querySelectorAll('#compare-grid video')).filter(v => v.readyState >= 2).length"


def finished_sweep(api: CosmosAPI, video) -> tuple[str, list[dict]]:
    prompt = api.add_prompt("a sweep to compare", video)
    sweep = api.start_sweep([prompt["id"]], {"seed": [1, 2], "weights": [(0, 0.3, 0, 0), (0, 0.5, 0, 0)]},
                            host=STANDIN_HOST)
    ids = [run["id"] for run in sweep["runs"]]

    def done() -> bool:
        api.sync(Refresh.FORCE)
        runs = [api.get_run(i, Refresh.NONE) for i in ids]
        return all(r["download"]["status"] == "done" and r["metrics_status"] == "done" for r in runs)

    wait_until(done, 90, "the sweep's four videos to arrive and be scored", interval=0.5)
    return sweep["sweep_id"], sweep["runs"]


def test_a_sweeps_videos_play_side_by_side_under_one_control(page, e2e_api, tmp_path):
    sweep_id, runs = finished_sweep(e2e_api, make_video(tmp_path / "in.mp4", seconds=3))
    open_tab(page, "Compare")
    page.locator("#compare-pick textarea, #compare-pick input").first.fill(sweep_id)
    page.locator("#compare-show").click()
    grid = page.locator("#compare-grid")
    expect(grid.locator("video")).to_have_count(4)
    expect(grid).to_contain_text("seed 1 · weights 0/0.3/0/0")  # captions: what differs
    expect(grid).to_contain_text("seed 2 · weights 0/0.5/0/0")
    # and each run's scores (the stand-in's output is a clip like the input's, encoded apart)
    expect(grid.locator("figcaption")).to_have_text([re.compile(r"^seed \d · weights 0/0\.\d/0/0 · Blur SSIM "
                                                                r"1\.000 · Canny-F1 0\.9\d\d$")] * 4)
    page.wait_for_function(f"() => ({READY})() === 4", timeout=30_000)
    assert grid.locator(".compare-play").count() == 1 and grid.locator("video[controls]").count() == 0
    grid.locator(".compare-play").click()
    page.wait_for_function("() => Array.from(document.querySelectorAll('#compare-grid video'))"
                           ".every(v => !v.paused && v.currentTime > 0)", timeout=15_000)
    grid.locator(".compare-play").click()  # the same control pauses them all
    page.wait_for_function("() => Array.from(document.querySelectorAll('#compare-grid video')).every(v => v.paused)",
                           timeout=10_000)
    sources = grid.locator("video").evaluate_all("vs => vs.map(v => v.currentSrc)")
    assert all(f"run_{run['id']}/outputs/output.mp4" in src for run, src in zip(runs, sources, strict=True))
