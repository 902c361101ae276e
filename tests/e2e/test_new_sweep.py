"""The New sweep form in the browser (issue 'A GPU queue…', point 2): the count before anything starts,
then the runs under one sweep id, found in the runs table by that id; the start is said once, in the
notice, and the page lands on the Runs tab filtered to the sweep (issue 21, item 6)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from cosmos_core.api import Refresh
from tests.e2e.conftest import STANDIN_HOST
from tests.e2e.ui import choose, fill, open_section, open_tab
from tests.hostkit import make_video, wait_until


def pick_prompt(page: Page, prompt_id: str) -> None:
    """Open the New sweep tab and choose the prompt in its Prompts field."""
    open_tab(page, "New sweep")
    page.locator("#new-sweep-prompts input").click()
    page.get_by_role("option", name=re.compile(re.escape(prompt_id))).click()
    page.keyboard.press("Escape")


def column_cell(page: Page, run_id: str, header: str) -> str:
    """The runs table's cell of the run's row in the column `header` (as shown)."""
    return page.locator("#runs-table").evaluate(
        """(table, [runId, header]) => {
             const heads = [...table.querySelectorAll('[role=columnheader]')].map(th => th.innerText.trim());
             const row = [...table.querySelectorAll('[role=row]')].find(r => r.innerText.includes(runId));
             return row?.querySelectorAll('[role=gridcell]')[heads.indexOf(header)]?.innerText.trim() ?? '';
           }""", [run_id, header])


def test_a_sweep_over_two_frame_rates_from_the_form_shows_both_in_the_runs_table(page, e2e_api, tmp_path):
    """The form sweeps fps as `cosmos sweep --fps` does (one table of lists serves both)."""
    prompt = e2e_api.add_prompt("frame rates from the form", make_video(tmp_path / "in.mp4"), name="fps sweep")
    pick_prompt(page, prompt["id"])
    expect(page.locator("#new-sweep-max-runs input")).to_have_value("20")  # the CLI's cap, sweeps.MAX_RUNS
    fill(page, "new-sweep-fps", "16,24")
    page.locator("#new-sweep-fps textarea, #new-sweep-fps input").first.press("Tab")
    expect(page.locator("#new-sweep-preview")).to_contain_text("Starts 2 runs: 1 prompt × 2 frame rates")
    choose(page, "new-sweep-host", STANDIN_HOST)
    page.locator("#new-sweep-start").click()
    expect(page.locator("#notice")).to_contain_text(re.compile(r"Started sweep sw_\w+: 2 runs"))
    sweep_id = re.search(r"sw_\w+", page.locator("#notice").inner_text()).group(0)
    runs = {r["id"]: r["params"]["fps"] for r in e2e_api.list_runs(refresh=Refresh.NONE, sweep=sweep_id)}
    assert sorted(runs.values()) == [16, 24]
    expect(page.locator("#filter-sweep input")).to_have_value(sweep_id)
    open_section(page, "table-columns-box", "Columns", "table-columns")
    page.locator("#table-columns").get_by_label("fps", exact=True).check()
    wanted = {run_id: str(fps) for run_id, fps in runs.items()}
    wait_until(lambda: {run_id: column_cell(page, run_id, "fps") for run_id in runs} == wanted, 20,
               f"the runs table's fps column to show {wanted}")


def test_a_sweep_from_the_form_counts_first_then_starts_its_runs(page, e2e_api, tmp_path):
    prompt = e2e_api.add_prompt("a sweep from the form", make_video(tmp_path / "in.mp4"), name="form sweep")
    pick_prompt(page, prompt["id"])
    page.locator("#new-sweep-seeds textarea, #new-sweep-seeds input").first.fill("1-2")
    page.locator("#new-sweep-weights textarea, #new-sweep-weights input").first.fill("0,0.3,0,0; 0,0.5,0,0")
    page.locator("#new-sweep-weights textarea, #new-sweep-weights input").first.press("Tab")
    expect(page.locator("#new-sweep-preview")).to_contain_text("Starts 4 runs: 1 prompt × 2 seeds × 2 weight sets")
    assert e2e_api.list_runs(refresh=Refresh.NONE, search=prompt["name"]) == []  # nothing started yet
    other = e2e_api.start_inference(e2e_api.add_prompt("not in the sweep", make_video(tmp_path / "other.mp4"))["id"],
                                    host=STANDIN_HOST)
    open_tab(page, "Runs")
    choose(page, "filter-status", "completed")  # a filter that would hide the sweep's new runs
    open_tab(page, "New sweep")
    choose(page, "new-sweep-host", STANDIN_HOST)
    page.locator("#new-sweep-start").click()
    # said once, in the notice, and the page goes to the sweep's runs (issue 21, item 6)
    expect(page.locator("#notice")).to_contain_text(re.compile(r"Started sweep sw_\w+: 4 runs"))
    sweep_id = re.search(r"sw_\w+", page.locator("#notice").inner_text()).group(0)
    runs = e2e_api.list_runs(refresh=Refresh.NONE, sweep=sweep_id)
    assert sorted((r["params"]["seed"], r["params"]["weights"][1]) for r in runs) == [(1, 0.3), (1, 0.5), (2, 0.3),
                                                                                      (2, 0.5)]
    expect(page.get_by_role("tab", name="Runs")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#filter-sweep input")).to_have_value(sweep_id)
    expect(page.locator("#filter-status input")).to_have_value("all")
    for run in runs:
        expect(page.locator("#runs-table")).to_contain_text(run["id"])
    expect(page.locator("#runs-table")).not_to_contain_text(other["id"])
    assert page.locator("body").inner_text().count("Started sweep") == 1
    expect(page.locator("#new-sweep-status")).to_be_empty()
    open_tab(page, "Runs")
    page.locator("#filter-search textarea, #filter-search input").first.fill(sweep_id)
    page.locator("#filter-search textarea, #filter-search input").first.press("Enter")
    for run in runs:
        expect(page.locator("#runs-table")).to_contain_text(run["id"])
