"""Counts as people say them, wherever the page and the CLI word one (issue 21, item 6: '1 runs'), and
the page's messages: a started sweep, Compare's refusals, the browser's clearing of old messages."""

from __future__ import annotations

import json

import pytest

from app import compare, messages, tables
from app.handlers import Handlers
from app.judging import sweep_summary
from app.scores import scores_markdown
from app.sweep_form import started_text
from cosmos_core.cli.tables import showing_line
from cosmos_core.estimates import time_left
from cosmos_core.metrics.plan import plan
from cosmos_core.store import dbcopy
from cosmos_core.sweep_view import sweep_view
from cosmos_core.words import agreeing, count
from tests.unit.app_fakes import FakeAPI, handlers_over, make_run


@pytest.mark.parametrize(("number", "noun"), [(0, "GPUs"), (1, "GPU"), (2, "GPUs")])
def test_a_noun_agrees_with_its_number_alone_or_counted(number, noun):
    assert agreeing(number, "GPU") == noun and count(number, "GPU") == f"{number} {noun}"
    assert agreeing(number, "index", "indices") == ("index" if number == 1 else "indices")


def test_one_of_anything_is_singular_on_the_page():
    assert tables.counts_text({"completed": 1}) == "**1** run: completed **1**"
    assert sweep_summary(sweep_view("sw_1", [make_run("rs_a")], "blur_ssim").to_dict()).startswith(
        "**Sweep sw_1**: 1 run (completed 1)")
    metrics = {"blur_ssim": 0.5, "canny_f1": 0.5, "canny_precision": 0.5, "canny_recall": 0.5, "frames": 1}
    assert scores_markdown(make_run(metrics_status="done", metrics=metrics)).startswith("**Scores** (1 frame): ")
    assert plan(1, 1, (320, 240)).label == "all 1 frame"


def test_one_of_anything_is_singular_in_the_cli():
    assert showing_line(0, {"cancelled": 1}, None) == "showing 0 of 1 run; --all for every run"
    assert showing_line(50, {"cancelled": 70}, "cancelled") == "showing 50 of 70 cancelled runs; --all for every run"
    assert time_left("running", "1/2 steps", 0.0, [60.0], 10.0).text.endswith("(from 1 earlier run)")
    assert dbcopy.summary({"run": 2, "prompt": 1}) == "1 prompt row, 2 run rows"


def test_a_started_sweep_is_one_line_linking_its_runs_and_its_compare_view():
    assert started_text("sw_1", 1) == "✅ Started sweep [sw_1](?sweep=sw_1): 1 run ([compare](?compare=sw_1))"
    assert ": 4 runs (" in started_text("sw_1", 4)


@pytest.fixture
def handlers(tmp_path) -> Handlers:
    api = FakeAPI(tmp_path, runs=[make_run("rs_a"), make_run("rs_b", sweep_id="sw_1")])
    every = api.list_runs
    api.list_runs = lambda status=None, refresh=None, **filters: [  # type: ignore[method-assign]
        run for run in every(status, refresh, **filters) if run.get("sweep_id") == filters["sweep"]]
    return handlers_over(api)


@pytest.mark.parametrize(("picked", "said"), [
    ("rs_xyz", "No run or sweep rs_xyz."),
    ("sw_xyz", "No run or sweep sw_xyz."),
    ("rs_a rs_xyz, rs_zz", "No run or sweep rs_xyz, rs_zz."),
    ("rs_a", "Run rs_a alone: give it with 1 to 8 more run ids, or give a sweep id."),
    ("sw_1", "Sweep sw_1 has no finished videos yet."),
    ("", compare.USAGE),
    (" ".join(f"rs_{n}" for n in range(10)), compare.USAGE),
])  # fmt: skip
def test_compare_says_why_it_shows_nothing_naming_the_ids_it_could_not_find(handlers, picked, said):
    assert handlers.compare(picked) == f"<p>{said}</p>"


def test_the_browser_clears_every_place_an_action_may_write():
    assert messages.clear_js(1) == "() => ''"
    assert json.loads(messages.clear_js(2).removeprefix("() => ")) == ["", ""]
