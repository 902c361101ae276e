"""The experiment table's cells (app/run_table.py): plain functions, runs in, DataFrame cells out."""

from __future__ import annotations

from app import run_table
from app.run_table import (
    DEFAULT_SHOWN,
    cell_text,
    column_props,
    experiment_frame,
    picked_text,
    shown_columns,
    status_cell,
    sweep_cell,
    table_css,
    toggled,
)
from tests.unit.app_fakes import make_run

NAMES = {"ps_1": "red robot"}


def test_the_default_columns_carry_the_parameters_and_scores_after_the_fixed_ones():
    assert shown_columns(None)[:2] == ["pick", "id"]
    assert {"seed", "steps", "guidance", "weights", "sigma_max", "model", "blur_ssim", "canny_f1"} <= set(DEFAULT_SHOWN)
    assert shown_columns(["created", "seed"]) == ["pick", "id", "seed", "created"]  # table order, not pick order
    assert shown_columns([]) == ["pick", "id"]


def test_a_row_shows_the_runs_parameters_as_values():
    run = make_run(params={"num_steps": 20, "guidance": 7.5, "seed": 3, "weights": [0, 0.5, 0, 0],
                           "sigma_max": None})  # fmt: skip
    frame = experiment_frame([run], NAMES, shown_columns(None))
    row = frame.iloc[0]
    assert (row["seed"], row["steps"], row["guidance"]) == (3, 20, 7.5)
    assert row["weights v/e/d/s"] == "0/0.5/0/0"
    assert row["sigma_max"] is None and row["prompt"] == "red robot"
    assert cell_text(row["id"]) == "rs_1" and 'class="rt-id"' in row["id"]
    assert ".rt-id{white-space:nowrap" in table_css()  # ids never wrap


def test_scores_are_shown_when_present_and_blank_when_null():
    scored = make_run("rs_1", metrics={"blur_ssim": 0.83456, "canny_f1": 0.41, "frames": 31})
    unscored = make_run("rs_2", metrics=None)
    legacy = make_run("rs_3")  # a run dict from before the key existed
    frame = experiment_frame([scored, unscored, legacy], NAMES, shown_columns(["blur_ssim", "canny_f1"]))
    assert list(frame["Blur SSIM"]) == [0.835, None, None]
    assert list(frame["Canny-F1"]) == [0.41, None, None]


def test_the_status_is_a_coloured_label_with_its_text_and_the_whole_reason_on_hover():
    reason = "Container exited with code 1: blocked by the guardrail: " + "x" * 200
    cell = status_cell(make_run(status="failed", error=reason))
    assert 'class="rt-st rt-failed"' in cell and ".rt-st.rt-failed{background:#fee2e2;color:#991b1b}" in table_css()
    assert cell_text(cell).startswith("failed: Container exited") and cell_text(cell).endswith("…")
    assert f'title="failed: {reason}"' in cell  # the whole reason, not cut
    assert "<script>" not in status_cell(make_run(status="failed", error="<script>alert(1)</script>"))


def test_a_sweep_id_links_to_its_runs_and_its_compare_view():
    cell = sweep_cell("sw_0123")
    assert 'href="?sweep=sw_0123"' in cell and 'href="?compare=sw_0123"' in cell
    assert cell_text(cell) == "sw_0123 · compare"
    assert sweep_cell(None) == ""


def test_picking_ticks_the_box_and_toggles():
    frame = experiment_frame([make_run("rs_1"), make_run("rs_2")], NAMES, shown_columns([]), picked=("rs_2",))
    assert 'aria-checked="false"' in frame.iloc[0]["pick"] and 'aria-checked="true"' in frame.iloc[1]["pick"]
    assert toggled(["rs_1"], "rs_2") == ["rs_1", "rs_2"] and toggled(["rs_1", "rs_2"], "rs_1") == ["rs_2"]
    assert picked_text([]).startswith("Tick 2-9")
    assert picked_text(["rs_1", "rs_2"]) == "Picked 2: `rs_1`, `rs_2`"


def test_column_props_follow_the_headers():
    columns = shown_columns(["seed", "status"])
    datatype, widths = column_props(run_table.headers(columns))
    assert datatype == ["html", "html", "html", "number"]
    assert len(widths) == 4


def test_short_ids_keep_the_prefix():
    assert run_table.short_id("sw_9820ff0531931752") == "sw_9820ff05"
    assert run_table.short_id("plain") == "plain"


def test_a_sweep_in_markdown_links_its_runs_and_compare():
    assert run_table.sweep_markdown("sw_1") == "sweep [sw_1](?sweep=sw_1) ([compare](?compare=sw_1))"
