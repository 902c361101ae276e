"""Reading and driving the dashboard page in the browser tests: plain functions on a playwright Page."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

VIDEO_READY = "() => { const v = document.querySelector('#run-video video'); return !!v && v.readyState >= 1; }"


def select_run(page: Page, run_id: str) -> None:
    """Click the run's id in the runs table and wait for its details."""
    table = page.locator("#runs-table")
    expect(table).to_contain_text(run_id)
    table.get_by_text(run_id, exact=True).last.click()
    expect(page.locator("#run-status")).to_contain_text(run_id)


def expect_status(page: Page, status: str, timeout: float = 30_000) -> None:
    """The selected run reaches `status` (the page updates itself: no reload)."""
    expect(page.locator("#run-status")).to_contain_text(f"status {status}", timeout=timeout)


def wait_video_ready(page: Page, timeout: float = 20_000) -> str:
    """Wait until the browser has loaded the selected run's video; return its URL."""
    page.wait_for_function(VIDEO_READY, timeout=timeout)
    return page.eval_on_selector("#run-video video", "v => v.currentSrc")


def open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def choose(page: Page, elem_id: str, option: str) -> None:
    """Pick `option` in the dropdown with this elem_id."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(page.locator(f"#{elem_id} input")).to_have_value(option)


def open_section(page: Page, elem_id: str, label: str, inside: str) -> None:
    """Open the accordion `elem_id` (titled `label`) unless it is open already: `inside` is the elem_id
    of a field in it, visible once it is open."""
    field = page.locator(f"#{inside}")
    if not field.is_visible():
        page.locator(f"#{elem_id}").get_by_text(label, exact=True).first.click()
    expect(field).to_be_visible()


def text_box(page: Page, elem_id: str) -> Locator:
    """The typing area of the text field `elem_id` (an input, or a textarea for a Gradio Textbox)."""
    return page.locator(f"#{elem_id} input, #{elem_id} textarea").first


def fill(page: Page, elem_id: str, value: str) -> None:
    """Type `value` into the text field `elem_id`, and wait until the page holds it. A field the page has just
    shown may be set back once to the value it was given, as its form finishes appearing (seen in a full run:
    an empty Address a moment after it was typed): then it is typed again, as a person would."""
    box = text_box(page, elem_id)
    for wait in (3_000, 3_000, None):
        box.fill(value)
        try:
            expect(box).to_have_value(value, timeout=wait)
            return
        except AssertionError:
            if wait is None:
                raise
