"""The page's words (issue 21, item 6): a message said once, only the newest one in each place, and
Compare naming the id it could not find. (A sweep's start, said once and landing on its runs:
tests/e2e/test_new_sweep.py.)"""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import STANDIN_HOST, launched, opened
from tests.e2e.ui import choose, open_tab
from tests.hostkit import TestHost, make_video
from tests.workspace import write_config


def shown_times(page: Page, text: str) -> int:
    """How many times the page shows `text` (hidden tabs and components do not count)."""
    return page.locator("body").inner_text().count(text)


def test_an_empty_page_says_no_runs_yet_once(browser_context: BrowserContext, gpu_host: TestHost, tmp_path):
    """A dashboard with a host and no run: the empty state says what to do, and nothing else repeats it."""
    with launched(tmp_path, "--config", str(write_config(tmp_path, gpu_host))) as url, \
            opened(browser_context, url) as page:
        expect(page.locator("#run-status")).to_contain_text("No runs yet: start one in the New run tab")
        expect(page.locator("#run-counts")).to_be_empty()
        assert shown_times(page, "No runs yet") == 1, page.locator("body").inner_text()


def test_a_second_different_error_replaces_the_first_in_the_new_run_form(page, e2e_api, tmp_path):
    """Neither the form's status line nor the notice keeps an earlier message: not an earlier error of the
    form, not another action's success."""
    prompt = e2e_api.add_prompt("a sweep of one run", make_video(tmp_path / "in.mp4"), name="one-run sweep")
    open_tab(page, "New sweep")
    page.locator("#new-sweep-prompts input").click()
    page.get_by_role("option", name=re.compile(re.escape(prompt["id"]))).click()
    page.keyboard.press("Escape")
    choose(page, "new-sweep-host", STANDIN_HOST)
    page.locator("#new-sweep-start").click()
    expect(page.locator("#notice")).to_contain_text("Started sweep")

    open_tab(page, "New run")
    form = page.locator("#new-run")
    status = form.locator("#new-run-status")
    form.locator("#new-run-prompt textarea").fill("a prompt without a video")
    form.locator("#new-run-start").click()
    expect(status).to_contain_text("choose an input video")
    expect(page.locator("#notice")).to_be_empty()  # the sweep's start was the action before: its word is gone

    form.locator("#new-run-video input[type=file]").set_input_files(make_video(tmp_path / "fresh.mp4"))
    expect(form.locator("#new-run-video")).to_contain_text(re.compile(r"fresh\s*\.mp4"))
    form.locator("#new-run-prompt textarea").fill("")
    form.locator("#new-run-start").click()
    expect(status).to_contain_text("prompt is empty")
    expect(status).not_to_contain_text("choose an input video")
    assert shown_times(page, "❌") == 1, page.locator("body").inner_text()


def test_compare_names_the_id_it_could_not_find(page):
    open_tab(page, "Compare")
    grid = page.locator("#compare-grid")
    pick = page.locator("#compare-pick textarea, #compare-pick input").first
    pick.fill("rs_nosuchrun")
    pick.press("Enter")
    expect(grid).to_contain_text("No run or sweep rs_nosuchrun.")
    expect(grid).not_to_contain_text("Give a sweep id")
    pick.fill("sw_nosuchsweep")
    page.locator("#compare-show").click()
    expect(grid).to_contain_text("No run or sweep sw_nosuchsweep.")
