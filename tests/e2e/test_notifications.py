"""Notifications in the page (issue 11, point 5): the tab's title counts the active runs, and a run
that finishes while the page is open is toasted once with its outcome; runs that had already
finished when the page opened are not."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import STANDIN_HOST
from tests.hostkit import make_video

TITLE = "Cosmos Run Dashboard"


def toasts(page: Page):
    return page.locator(".toast-wrap")


def start(e2e_api, text: str, tmp_path) -> dict:
    prompt = e2e_api.add_prompt(text, make_video(tmp_path / "in.mp4"), name=text.split(" [")[0])
    return e2e_api.start_inference(prompt["id"], host=STANDIN_HOST)


def test_the_title_counts_active_runs_and_a_finished_run_is_toasted_once(page, e2e_api, tmp_path):
    expect(page).to_have_title(TITLE, timeout=60_000)  # what other tests started has ended
    before = start(e2e_api, "already over [sleep=3] [exit=3]", tmp_path)
    expect(page).to_have_title(f"(1) {TITLE}")
    expect(toasts(page)).to_contain_text(f"Run {before['id']} (already over) failed: Container exited with code 3")
    expect(page).to_have_title(TITLE)

    fresh = page.context.new_page()  # opened after `before` ended: no toast for it
    try:
        fresh.goto(page.url)
        run = start(e2e_api, "a slow dolly [sleep=4]", tmp_path)
        for tab in (page, fresh):
            expect(tab).to_have_title(f"(1) {TITLE}")
        for tab in (page, fresh):
            expect(toasts(tab)).to_contain_text(f"Run {run['id']} (a slow dolly) completed")
            expect(tab).to_have_title(TITLE)
        assert before["id"] not in toasts(fresh).inner_text()
        assert len(re.findall(run["id"], toasts(page).inner_text())) == 1  # one toast per run, not one per tick
    finally:  # a tab left open keeps ticking under the next tests
        fresh.close()
