"""The dashboard under 20 concurrent browser clients for a minute (issue 'Prove it': faults and bad input).

Twenty real Chromium tabs stay open on the page, each with its own timer refreshing every second
(REFRESH_SECONDS in tests/e2e/conftest.py), while runs start, finish and download on the stand-in host.
Through that minute no response is an error, no refresh fails, every tab keeps ticking and sees every
run end, and the host is still probed at most once per min_interval_seconds: the tabs share one probe.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, Response, expect

from cosmos_core.api import CosmosAPI, CosmosError, Refresh
from tests.e2e.conftest import STANDIN_HOST
from tests.hostkit import make_video, wait_until

CLIENTS = 20
# Two tabs per browser profile: a Gradio tab holds up to two connections open (its heartbeat and its
# event stream) and Chromium opens at most six per host and profile, so more tabs would starve each
# other's requests in the browser, not in the dashboard.
TABS_PER_PROFILE = 2
LOAD_AT_ONCE = 5  # tabs that load the page together
WINDOW_SECONDS = 60.0
MIN_TICKS = 5  # each tab's timer asks every REFRESH_SECONDS; a busy machine answers more slowly
# text -> status: the runs that end during the minute (one sleeps past most of it).
RUNS = {"load one [sleep=5]": "completed", "load two [sleep=20] [exit=3]": "failed",
        "load three [sleep=40]": "completed"}

pytestmark = pytest.mark.slow


@dataclass
class Traffic:
    """Every tab's requests and error responses, as the browser saw them."""

    ticks: Counter[int] = field(default_factory=Counter)  # tab -> events sent to the queue (a tick is one)
    errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def watch(self, tab: int, page: Page) -> None:
        page.on("request", lambda request: self._request(tab, request))
        page.on("response", lambda response: self._response(tab, response))
        page.on("requestfailed", lambda request: self._failed(tab, request))
        page.on("pageerror", lambda error: self.page_errors.append(f"tab {tab}: {error}"))

    def _request(self, tab: int, request: Request) -> None:
        if request.method == "POST" and "/queue/join" in request.url:
            self.ticks[tab] += 1

    def _failed(self, tab: int, request: Request) -> None:
        if request.failure != "net::ERR_ABORTED":  # the page's own cancel (Gradio ends an idle event stream)
            self.errors.append(f"tab {tab}: {request.method} {request.url} failed: {request.failure}")

    def _response(self, tab: int, response: Response) -> None:
        if response.status >= 400:
            self.errors.append(f"tab {tab}: {response.status} {response.request.method} {response.url}")


def settled(api: CosmosAPI, run_id: str) -> dict | None:
    """The run once its download has ended (read only: the dashboard's refreshes do the work)."""
    run = api.get_run(run_id, Refresh.NONE)
    return run if run["download"]["status"] in ("done", "failed") else None


@pytest.fixture
def tabs(browser: Browser) -> Iterator[list[Page]]:
    """CLIENTS tabs, TABS_PER_PROFILE per browser profile (its own cookies, cache and connections)."""
    contexts: list[BrowserContext] = [browser.new_context(viewport={"width": 1200, "height": 900})
                                      for _ in range(CLIENTS // TABS_PER_PROFILE)]
    try:
        yield [context.new_page() for context in contexts for _ in range(TABS_PER_PROFILE)]
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def started_runs(e2e_api: CosmosAPI) -> Iterator[list[str]]:
    """Run ids the test starts; any still active at the end is cancelled (the dashboard is shared)."""
    runs: list[str] = []
    yield runs
    for run_id in runs:
        with suppress(CosmosError):
            e2e_api.cancel(run_id)


def test_twenty_tabs_for_a_minute_get_no_error_and_share_one_probe(tabs, dashboard, e2e_workspace, e2e_api,
                                                                  started_runs, tmp_path):
    """Injects: load, 20 browser tabs each refreshing every second for 60 s, while three runs end."""
    traffic = Traffic()
    for number, tab in enumerate(tabs):
        traffic.watch(number, tab)
    for first in range(0, CLIENTS, LOAD_AT_ONCE):
        batch = tabs[first:first + LOAD_AT_ONCE]
        for tab in batch:
            tab.goto(dashboard, wait_until="commit")
        for tab in batch:
            expect(tab.locator("#runs-table")).to_be_visible(timeout=60_000)
    log = e2e_workspace.root / "dashboard.log"
    log_start = log.stat().st_size
    video = make_video(tmp_path / "load.mp4", seconds=1)
    runs = {e2e_api.start_inference(e2e_api.add_prompt(text, video)["id"], host=STANDIN_HOST)["id"]: end
            for text, end in RUNS.items()}
    started_runs += runs
    host = e2e_workspace.host
    sessions_before, started = host.count_exec_sessions(), time.monotonic()
    ticks_before = Counter(traffic.ticks)

    while (elapsed := time.monotonic() - started) < WINDOW_SECONDS:
        tabs[0].wait_for_timeout(1000)  # the browser's events for every tab are taken in meanwhile
        assert not traffic.errors and not traffic.page_errors, (traffic.errors + traffic.page_errors)[:10]

    sessions = host.count_exec_sessions() - sessions_before
    interval = e2e_api.config.sync.min_interval_seconds
    # One probe per interval, plus one remote sha256 per downloaded file (an output and a log per run).
    allowed = elapsed / interval + 1 + 2 * len(runs)
    assert sessions <= allowed, f"{sessions} remote commands in {elapsed:.0f} s (at most {allowed:.0f})"
    # Every tab kept refreshing (how often depends on how busy the machine is: 2 cores here serve 20 tabs).
    slowest = min(traffic.ticks[n] - ticks_before[n] for n in range(CLIENTS))
    assert slowest >= MIN_TICKS, f"a tab refreshed only {slowest} times in {elapsed:.0f} s"
    for run_id, end in runs.items():  # the tabs' refreshes finish them: nothing is lost under the load
        run = wait_until(lambda r=run_id: settled(e2e_api, r), 60, f"the dashboard to finish {run_id}", interval=0.5)
        assert (run["status"], run["download"]["status"]) == (end, "done"), run
    for tab in tabs:
        for run_id in runs:
            expect(tab.locator("#runs-table")).to_contain_text(run_id)
        expect(tab.locator("#host-banner")).not_to_contain_text("refresh failed")
    assert not traffic.errors and not traffic.page_errors, (traffic.errors + traffic.page_errors)[:10]
    logged = log.read_text(errors="replace")[log_start:]
    assert "Traceback" not in logged and "refresh failed" not in logged, logged[-3000:]
