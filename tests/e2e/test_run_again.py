"""Run again in a real browser (issue 20, point 2): New run filled with every parameter of a run, one
changed, starts a run with exactly that change on the model's command line, from the same prompt."""

from __future__ import annotations

import re
import secrets
from dataclasses import replace

from playwright.sync_api import expect

from cosmos_core.api import Refresh
from tests.e2e.conftest import STANDIN_HOST
from tests.e2e.ui import select_run
from tests.hostkit import make_video
from tests.integration.test_rerun_cli import model_call


def test_run_again_fills_every_parameter_and_starts_with_the_one_change(page, e2e_api, e2e_workspace):
    kept = e2e_workspace.root / "outputs" / "inputs" / secrets.token_hex(4)  # as New run keeps its uploads
    video, depth = make_video(kept / "harbour.mp4"), make_video(kept / "harbour depth.mp4")
    prompt = e2e_api.add_prompt("a harbour at night", video, depth=depth, negative_prompt="blurry", name="harbour")
    params = replace(e2e_api.default_params(), num_steps=12, guidance=6.5, seed=7, weights=(0.0, 0.4, 0.6, 0.0),
                     sigma_max=80.0, blur_strength="high", canny_threshold="low", fps=16, upsample_prompt=True)
    first = e2e_api.start_inference(prompt["id"], STANDIN_HOST, params)
    select_run(page, first["id"])
    page.locator("#rerun-run").click()

    form = page.locator("#new-run")
    expect(page.get_by_role("tab", name="New run")).to_have_attribute("aria-selected", "true")
    expect(form.locator("#new-run-status")).to_contain_text(f"Filled from run {first['id']}")
    expect(form.locator("#new-run-prompt textarea")).to_have_value("a harbour at night")
    expect(form.get_by_label("Negative prompt")).to_have_value("blurry")
    expect(form.get_by_label("Name (optional)")).to_have_value("harbour")
    expect(form.locator("#new-run-model input")).to_have_value("Cosmos-Transfer1")
    expect(form.locator("#new-run-host input")).to_have_value(STANDIN_HOST)
    expect(form.locator("#new-run-picked input")).to_have_value("harbour.mp4 (harbour)")
    expect(form.locator("#new-run-depth")).to_contain_text(re.compile(r"harbour depth\s?\.mp4"))
    for control, weight in zip(("vis", "edge", "depth", "seg"), ("0", "0.4", "0.6", "0"), strict=True):
        expect(form.get_by_role("spinbutton", name=f"number input for {control} weight")).to_have_value(weight)
    for label, value in (("Steps", "12"), ("Guidance", "6.5"), ("Seed", "7")):
        expect(form.get_by_role("spinbutton", name=label, exact=True)).to_have_value(value)
    expect(form.locator("#new-run-sigma-max input")).to_have_value("80")
    expect(form.locator("#new-run-blur input")).to_have_value("high")
    expect(form.locator("#new-run-canny input")).to_have_value("low")
    expect(form.locator("#new-run-fps input")).to_have_value("16")
    expect(form.locator("#new-run-distilled input")).not_to_be_checked()
    expect(form.locator("#new-run-upsample input")).to_be_checked()

    form.get_by_label("Seed").fill("8")
    form.locator("#new-run-start").click()
    expect(page.locator("#notice")).to_contain_text("Started run rs_", timeout=60_000)
    again_id = re.search(r"Started run (rs_\S+) on", page.locator("#notice").inner_text()).group(1)
    again = e2e_api.get_run(again_id, Refresh.NONE)
    assert (again["prompt_id"], again["host"], again["model"]) == (prompt["id"], STANDIN_HOST, "transfer1")
    assert again["params"] == first["params"] | {"seed": 8}

    argv, spec = model_call(e2e_workspace, first["id"])
    argv_again, spec_again = model_call(e2e_workspace, again_id)
    seed = argv.index("--seed") + 1
    assert argv_again == argv[:seed] + ["8"] + argv[seed + 1:]  # the one change on the model's command line
    assert spec_again == spec

