"""The experiment table's events (app/table_events.py), as plain calls: a click opens or ticks a run,
the picked runs' buttons, the links a sweep id carries."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pytest

from app import table_events
from app.handlers import Handlers
from app.run_table import experiment_frame, shown_columns
from tests.unit.app_fakes import FakeAPI, make_run


@pytest.fixture
def handlers(tmp_path):
    api = FakeAPI(tmp_path)
    api.recent_sweeps = lambda limit=50: ["sw_new", "sw_old"]
    return Handlers(api)


def click(column: int, run_id: str = "rs_2") -> gr.SelectData:
    row = experiment_frame([make_run(run_id)], {}, shown_columns(None)).iloc[0].tolist()
    return gr.SelectData(None, {"index": [0, column], "value": row[column], "row_value": row})


def test_a_click_in_the_row_opens_the_run_and_in_the_first_column_ticks_it():
    assert table_events.clicked(["rs_1"], click(3))[:2] == ["rs_2", gr.skip()]
    selected, picked, note, compare, clear = table_events.clicked(["rs_1"], click(0))
    assert selected == gr.skip() and picked == ["rs_1", "rs_2"] and "Picked 2" in note
    assert compare["interactive"] and clear["interactive"]
    assert table_events.clicked(["rs_1", "rs_2"], click(0))[1] == ["rs_1"]  # ticked again: unticked
    assert table_events.clicked(["rs_1"], click(0, "rs_1"))[3]["interactive"] is False  # none left to compare


def test_a_tenth_pick_drops_the_oldest():
    picked = [f"rs_{i}" for i in range(9)]
    assert table_events.clicked(picked, click(0, "rs_x"))[1] == [*picked[1:], "rs_x"]


def test_the_sweep_filter_offers_the_newest_sweeps_and_a_linked_older_one(handlers):
    assert table_events.sweep_choices(handlers)["choices"] == ["all", "sw_new", "sw_old"]
    assert table_events.sweep_choices(handlers, "sw_ancient")["choices"] == ["all", "sw_ancient", "sw_new", "sw_old"]


def test_a_sweep_link_filters_the_table_and_a_compare_link_opens_compare(handlers):
    load = table_events.from_url(handlers)
    sweep, tabs, pick, grid = load(SimpleNamespace(query_params={"sweep": "sw_old"}))
    assert sweep["value"] == "sw_old" and tabs == pick == grid == gr.skip()
    sweep, tabs, pick, grid = load(SimpleNamespace(query_params={}))
    assert "value" not in sweep and tabs == gr.skip()
    handlers.compare = lambda picked: f"<grid {picked}>"
    sweep, tabs, pick, grid = load(SimpleNamespace(query_params={"compare": "sw_new"}))
    assert tabs.selected == "compare" and pick == "sw_new" and grid == "<grid sw_new>"
