"""Judging in a real browser (issue 20, point 4): star and note the selected run, filter by the star;
a sweep's view sorted by a chosen score with its best marked, opened from one of its runs."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from cosmos_core.api import Refresh
from cosmos_core.store.tables import Run
from tests.e2e.conftest import STANDIN_HOST
from tests.e2e.ui import choose, open_tab, select_run


def test_star_and_note_on_the_selected_run_are_stored_shown_and_filtered(page, e2e_api, sample_video):
    prompt = e2e_api.add_prompt("a lighthouse in fog", sample_video)["id"]
    plain = e2e_api.start_inference(prompt, STANDIN_HOST)
    judged = e2e_api.start_inference(prompt, STANDIN_HOST)
    select_run(page, judged["id"])

    star = page.locator("#star-run")
    expect(star).to_have_text("☆ Star")
    star.click()
    expect(star).to_have_text("★ Starred (click to unstar)")
    expect(page.locator("#notice")).to_contain_text(f"★ Starred {judged['id']}.")
    expect(page.locator("#run-status")).to_contain_text(f"★ {judged['id']}")
    assert e2e_api.get_run(judged["id"], Refresh.NONE)["starred"] is True

    note = page.locator("#run-note").get_by_role("textbox")
    note.fill("fog edges stay sharp")
    page.locator("#save-note").click()
    expect(page.locator("#notice")).to_contain_text(f"Note on {judged['id']} saved.")
    expect(page.locator("#run-status")).to_contain_text("Note: fog edges stay sharp")
    assert e2e_api.get_run(judged["id"], Refresh.NONE)["note"] == "fog edges stay sharp"

    note.fill("x" * 201)
    page.locator("#save-note").click()
    expect(page.locator("#notice")).to_contain_text("❌ a note is at most 200 characters; this one has 201")
    assert e2e_api.get_run(judged["id"], Refresh.NONE)["note"] == "fog edges stay sharp"  # refused: unchanged

    table = page.locator("#runs-table")
    expect(table).to_contain_text(plain["id"])
    page.locator("#filter-starred input").check()
    expect(table).not_to_contain_text(plain["id"])
    expect(table).to_contain_text(judged["id"])
    page.locator("#filter-starred input").uncheck()
    expect(table).to_contain_text(plain["id"])


def test_a_sweeps_view_sorts_by_the_chosen_score_and_marks_the_best(page, e2e_api, sample_video):
    # Runs that go on for the test's length (a finished run would be scored for real, over these scores),
    # with scores stored as the scoring stores them (the run's `metrics`), to judge them by.
    prompt = e2e_api.add_prompt("a harbour crane at dusk [sleep=600]", sample_video)["id"]
    started = e2e_api.start_sweep([prompt], {"seed": [1, 2, 3]}, host=STANDIN_HOST)
    sweep_id, (first, second, third) = started["sweep_id"], [r["id"] for r in started["runs"]]
    try:
        _judge_the_sweep(page, sweep_id, first, second, third)
    finally:
        for run_id in (first, second, third):
            e2e_api.cancel(run_id)


def _judge_the_sweep(page, sweep_id: str, first: str, second: str, third: str) -> None:
    for run_id, scores in ((first, {"blur_ssim": 0.55, "canny_f1": 0.71}),
                           (second, {"blur_ssim": 0.92, "canny_f1": 0.33}), (third, None)):
        Run.update(metrics=json.dumps(scores) if scores else None).where(Run.id == run_id).execute()

    select_run(page, second)
    page.locator("#open-sweep").click()
    expect(page.get_by_role("tab", name="Sweep view")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#sweep-pick").get_by_role("textbox")).to_have_value(sweep_id)
    summary, table = page.locator("#sweep-summary"), page.locator("#sweep-table")
    expect(summary).to_contain_text(f"Sweep {sweep_id}: 3 runs")
    expect(summary).to_contain_text(f"Best by blur_ssim: {second} (0.920)")
    expect(table).to_contain_text("seed")  # the one parameter that varies
    expect(table).not_to_contain_text("guidance")  # the same for every run: not a column
    text = table.inner_text()
    assert text.index(second) < text.index(first) < text.index(third)  # best first, unscored last
    assert "best" in text and "0.920" in text

    choose(page, "sweep-sort", "canny_f1")
    expect(summary).to_contain_text(f"Best by canny_f1: {first} (0.710)")
    expect(summary).to_contain_text("sorted by canny_f1")
    text = table.inner_text()
    assert text.index(first) < text.index(second)

    open_tab(page, "Sweep view")
    page.locator("#sweep-pick").get_by_role("textbox").fill("sw_nope")
    page.locator("#sweep-pick").get_by_role("textbox").press("Enter")
    expect(summary).to_contain_text("❌ no sweep with id 'sw_nope'")


def test_a_running_run_shows_its_time_left_and_gpu_time(page, e2e_api, sample_video):
    run = e2e_api.start_inference(e2e_api.add_prompt("a slow dolly [sleep=60]", sample_video)["id"], STANDIN_HOST)
    try:
        select_run(page, run["id"])
        expect(page.locator("#run-progress")).to_contain_text(
            re.compile(r"time left: (no estimate|about \d|any moment now)"), timeout=60_000)
        expect(page.locator("#run-status")).to_contain_text(re.compile(r"GPU time \d+s"))
        expect(page.locator("#runs-table")).to_contain_text(re.compile(r"running · .*(no estimate|left|any moment)"))
    finally:
        e2e_api.cancel(run["id"])
