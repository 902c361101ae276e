"""The experiment table in a real browser (issue 20, point 1): sort by a parameter column (as numbers),
filter by a sweep (the filter and a sweep id's links), tick two runs and compare them playing."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from app.run_table import short_id
from cosmos_core.api import CosmosAPI
from tests.e2e.conftest import STANDIN_HOST, opened
from tests.e2e.test_compare_grid import READY, finished_sweep
from tests.e2e.ui import choose
from tests.hostkit import make_video


def seed_sweep(api: CosmosAPI, video, seeds: list[int]) -> tuple[str, dict[int, str]]:
    """A sweep over `seeds` (it need not finish: only its parameters are shown); (sweep id, seed -> run id)."""
    prompt = api.add_prompt("a sweep to sort [sleep=1]", video, name="sort me")
    sweep = api.start_sweep([prompt["id"]], {"seed": seeds}, host=STANDIN_HOST)
    return sweep["sweep_id"], {run["params"]["seed"]: run["id"] for run in sweep["runs"]}


def table_order(page: Page, run_ids: list[str]) -> list[str]:
    """`run_ids` in the order the runs table shows them."""
    text = page.locator("#runs-table").inner_text()
    return sorted(run_ids, key=text.index)


def wait_order(page: Page, expected: list[str]) -> None:
    expect(page.locator("#runs-table")).to_contain_text(expected[0])
    page.wait_for_function(
        "ids => { const t = document.querySelector('#runs-table').innerText;"
        " const at = ids.map(i => t.indexOf(i)); return at.every((p, k) => p >= 0 && (k === 0 || p > at[k - 1])); }",
        arg=expected, timeout=20_000)
    assert table_order(page, expected) == expected


def test_sorting_by_a_parameter_column_orders_the_runs_by_its_value_as_numbers(page, e2e_api, tmp_path):
    sweep_id, by_seed = seed_sweep(e2e_api, make_video(tmp_path / "in.mp4"), [7, 12, 3])
    expect(page.locator("#runs-table")).to_contain_text("seed")  # the parameter is a column
    choose(page, "filter-sweep", sweep_id)
    choose(page, "table-sort", "seed")
    page.locator("#table-order").get_by_text("ascending", exact=True).click()
    wait_order(page, [by_seed[3], by_seed[7], by_seed[12]])  # 12 after 7: numbers, not text
    page.locator("#table-order").get_by_text("descending", exact=True).click()
    wait_order(page, [by_seed[12], by_seed[7], by_seed[3]])


def test_the_sweep_filter_and_a_sweep_ids_links_show_only_its_runs(page, e2e_api, e2e_workspace, dashboard,
                                                                  browser_context, tmp_path):
    video = make_video(tmp_path / "in.mp4")
    sweep_id, by_seed = seed_sweep(e2e_api, video, [1, 2])
    other = e2e_api.start_inference(e2e_api.add_prompt("not in the sweep", video)["id"], host=STANDIN_HOST)
    table = page.locator("#runs-table")
    expect(table).to_contain_text(other["id"])
    choose(page, "filter-sweep", sweep_id)
    for run_id in by_seed.values():
        expect(table).to_contain_text(run_id)
    expect(table).not_to_contain_text(other["id"])
    link = table.get_by_role("link", name=short_id(sweep_id)).last  # its short id; the full one on hover
    assert link.get_attribute("href") == f"?sweep={sweep_id}" and sweep_id in link.get_attribute("title")

    table.get_by_text(by_seed[1], exact=True).last.click()  # the run's details link its sweep too
    expect(page.locator("#run-status")).to_contain_text(f"sweep {sweep_id} (compare)")
    links = page.locator("#run-status a")
    assert [links.nth(i).get_attribute("href") for i in range(2)] == [f"?sweep={sweep_id}", f"?compare={sweep_id}"]

    with opened(browser_context, f"{dashboard}?sweep={sweep_id}") as linked:  # the link, as a new visit
        expect(linked.locator("#filter-sweep input")).to_have_value(sweep_id)
        for run_id in by_seed.values():
            expect(linked.locator("#runs-table")).to_contain_text(run_id)
        expect(linked.locator("#runs-table")).not_to_contain_text(other["id"])


def test_ticking_two_runs_opens_compare_with_both_playing(page, e2e_api, dashboard, browser_context, tmp_path):
    sweep_id, runs = finished_sweep(e2e_api, make_video(tmp_path / "in.mp4", seconds=3))
    first, second = runs[0]["id"], runs[3]["id"]
    choose(page, "filter-sweep", sweep_id)
    table = page.locator("#runs-table")
    for run_id in (first, second):
        expect(table).to_contain_text(run_id)
        table.locator(f'[data-pick="{run_id}"]').last.click()
        expect(page.locator("#table-picked")).to_contain_text(run_id)
    expect(page.locator("#table-picked")).to_contain_text("Picked 2")
    expect(table.locator('[data-pick][aria-checked="true"]:visible')).to_have_count(2)
    page.locator("#compare-picked").click()
    grid = page.locator("#compare-grid")
    expect(grid.locator("video")).to_have_count(2)
    expect(page.locator("#compare-pick textarea, #compare-pick input").first).to_have_value(f"{first} {second}")
    page.wait_for_function(f"() => ({READY})() === 2", timeout=30_000)
    grid.locator(".compare-play").click()
    page.wait_for_function("() => Array.from(document.querySelectorAll('#compare-grid video'))"
                           ".every(v => !v.paused && v.currentTime > 0)", timeout=15_000)
    sources = grid.locator("video").evaluate_all("vs => vs.map(v => v.currentSrc)")
    assert [f"run_{first}/" in sources[0], f"run_{second}/" in sources[1]] == [True, True]

    compare_link = f"{dashboard}?compare={sweep_id}"  # a sweep id's Compare link: it lands on the Compare tab
    with opened(browser_context, compare_link, "#compare-grid") as linked:
        expect(linked.locator("#compare-grid video")).to_have_count(4)
        expect(linked.locator("#compare-pick textarea, #compare-pick input").first).to_have_value(sweep_id)


def test_a_failed_runs_label_reads_as_text_and_holds_its_whole_reason(page, e2e_api, tmp_path):
    crashed = e2e_api.start_inference(e2e_api.add_prompt("a crowded market [oom]", make_video(tmp_path / "in.mp4"),
                                                         name="market")["id"], host=STANDIN_HOST)
    page.locator("#filter-search").get_by_role("textbox").fill(crashed["id"])
    page.keyboard.press("Enter")
    label = page.locator("#runs-table .rt-st.rt-failed").last
    expect(label).to_contain_text("failed: Container exited with code 1", timeout=60_000)
    error = e2e_api.get_run(crashed["id"])["error"]
    assert label.get_attribute("title") == f"failed: {error}"  # the whole reason on hover, however long
    colour = label.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(254, 226, 226)"  # a coloured label, its text the status itself
