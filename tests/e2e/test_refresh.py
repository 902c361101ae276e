"""The timer refresh: a quiet tick sends almost nothing, and many tabs do not multiply probes."""

from __future__ import annotations

import json
import time

from playwright.sync_api import Page, expect

from cosmos_core.api import Refresh
from tests.e2e.conftest import STANDIN_HOST
from tests.e2e.ui import expect_status, select_run, wait_video_ready
from tests.hostkit import make_video, wait_until

SKIP = {"__type__": "update"}
# A Gradio tab holds up to two connections open (its heartbeat and the event stream of a tick) and
# Chromium opens at most six per host and profile: more tabs in one profile starve each other's
# requests in the browser, not in the dashboard. So the ten tabs are two per browser context (profile).
TABS_PER_CONTEXT = 2
TABS = 10


class QueueRecorder:
    """Collects, through the DevTools protocol, the results the page's events receive."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.cdp = page.context.new_cdp_session(page)
        self.urls: dict[str, str] = {}
        self.finished: list[str] = []
        self.cdp.on("Network.requestWillBeSent", lambda e: self.urls.__setitem__(e["requestId"], e["request"]["url"]))
        self.cdp.on("Network.loadingFinished", lambda e: self.finished.append(e["requestId"]))
        self.cdp.send("Network.enable")

    def results(self) -> list[tuple[int, list]]:
        """(size of the whole event stream in bytes, output data) of each finished event so far."""
        found = []
        for request_id in self.finished:
            if "/queue/data" not in self.urls.get(request_id, ""):
                continue
            body = self.cdp.send("Network.getResponseBody", {"requestId": request_id})["body"]
            for line in body.splitlines():
                message = json.loads(line.removeprefix("data: ")) if line.startswith("data: ") else {}
                if message.get("msg") == "process_completed" and message.get("success"):
                    found.append((len(body.encode()), message["output"]["data"]))
        return found


def test_a_refresh_where_nothing_changed_sends_only_skips(page, e2e_api, tmp_path):
    run = e2e_api.start_inference(
        e2e_api.add_prompt("a still life", make_video(tmp_path / "in.mp4"))["id"], host=STANDIN_HOST)
    select_run(page, run["id"])
    expect_status(page, "completed")
    wait_video_ready(page)
    recorder = QueueRecorder(page)

    def quiet_tick() -> int | None:
        page.wait_for_timeout(200)  # lets the DevTools events in
        # The last two outputs are the tab's states (runs seen active, what was sent): Gradio sends None for them.
        sizes = [size for size, data in recorder.results() if len(data) > 10 and all(d == SKIP for d in data[:-2])]
        return sizes[-1] if sizes else None

    size = wait_until(quiet_tick, 30, "a tick where nothing changed")
    assert size < 1500, f"a quiet tick sent {size} bytes"
    assert page.eval_on_selector("#run-video video", "v => v.readyState") >= 1  # the video stayed


def test_ten_open_tabs_do_not_multiply_remote_probes(page, browser, dashboard, e2e_api, e2e_workspace, tmp_path):
    others = TABS - 1  # besides `page`, alone in its context
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1100})
                for _ in range(-(-others // TABS_PER_CONTEXT))]
    try:
        tabs = [page] + [contexts[i // TABS_PER_CONTEXT].new_page() for i in range(others)]
        for tab in tabs[1:]:
            tab.goto(dashboard, wait_until="commit")  # they all load at once
        for tab in tabs:
            expect(tab.locator("#runs-table")).to_be_visible()
        host = e2e_workspace.host
        run = e2e_api.start_inference(
            e2e_api.add_prompt("a busy market [sleep=4]", make_video(tmp_path / "in.mp4"))["id"], host=STANDIN_HOST)
        before, start = host.count_exec_sessions(), time.monotonic()

        def settled() -> bool:
            done = e2e_api.get_run(run["id"], Refresh.NONE)
            return done["status"] == "completed" and done["download"]["status"] == "done"

        wait_until(settled, 30, "the dashboard to finish the run", interval=0.2)
        elapsed, sessions = time.monotonic() - start, host.count_exec_sessions() - before
        interval = e2e_api.config.sync.min_interval_seconds
        # Each tab ticks every second: unthrottled, that would be ten probes a second.
        assert sessions <= elapsed / interval + 3, f"{sessions} SSH commands in {elapsed:.1f} s"
        for tab in tabs:
            expect(tab.locator("#runs-table")).to_contain_text(run["id"])
    finally:  # open tabs keep ticking: left open, they would load the dashboard under the next tests
        for context in contexts:
            context.close()
