"""The hosts panel in a real browser: checks on opening, a down host shown as down."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.conftest import DOWN_HOST, STANDIN_HOST
from tests.e2e.ui import expect_status, open_tab, select_run
from tests.hostkit import make_video


def test_the_hosts_panel_checks_every_host_and_shows_the_down_one(page, e2e_api, tmp_path):
    run = e2e_api.start_inference(
        e2e_api.add_prompt("a lighthouse", make_video(tmp_path / "in.mp4"))["id"], host=STANDIN_HOST)
    select_run(page, run["id"])
    expect_status(page, "completed")  # the dashboard synced gpu1
    open_tab(page, "Hosts")  # opening the panel runs the checks (one round trip per host)
    table = page.locator("#hosts-table")
    expect(table).to_contain_text(f"✅ ok: {e2e_api.config.host('gpu1').image}")  # image present, in words
    expect(table).to_contain_text("Stand-in GPU, 81920 MiB")  # GPUs: the stand-in's nvidia-smi
    expect(table).to_contain_text(re.compile(rf"{DOWN_HOST}.*❌.*cannot connect", re.S))
    expect(table).to_contain_text(re.compile(r"gpu1.*✅ yes.*20\d\d-\d\d-\d\d \d\d:\d\d", re.S))  # last sync
    page.locator("#check-hosts").click()
    expect(table).to_contain_text("✅ yes")
    open_tab(page, "Runs")
    expect(page.locator("#runs-table")).to_be_visible()  # the rest of the page keeps working
