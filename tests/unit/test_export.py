"""The export's rows and CSV (pure): every run, every parameter, stable columns."""

from __future__ import annotations

import csv
import io
import json

from cosmos_core.export import RUN_COLUMNS, export_rows, flat_params, to_csv
from cosmos_core.upstream.params import InferenceParams


def _run(run_id: str, params: dict, **fields) -> dict:
    base = {"id": run_id, "prompt_id": "ps_1", "kind": "inference", "model": "transfer1", "host": "gpu1",
            "status": "completed", "exit_code": 0, "error": None, "created_at": "2024-01-01T00:00:00.000Z",
            "queued_at": "2024-01-01T00:00:01.000Z", "started_at": None, "completed_at": None, "output_path": None,
            "parent_run_id": None, "sweep_id": None, "progress": None, "download": {"status": "done", "files": []},
            "params": params}
    return base | fields


PROMPTS = {"ps_1": {"id": "ps_1", "name": "robot", "text": 'a red robot, "quoted", on\ntwo lines'}}


def test_inference_params_flatten_to_one_column_each_with_steps_and_the_four_weights():
    params = InferenceParams(num_steps=20, seed=7, weights=(0.5, 0, 0.25, 1), sigma_max=None).to_dict()
    flat = flat_params(params)
    assert flat["steps"] == 20 and "num_steps" not in flat and "weights" not in flat
    assert (flat["weight_vis"], flat["weight_edge"], flat["weight_depth"], flat["weight_seg"]) == (0.5, 0, 0.25, 1)
    assert flat["seed"] == 7 and flat["guidance"] == 5.0 and flat["sigma_max"] is None
    assert flat["blur_strength"] == "medium" and flat["distilled"] is False


def test_odd_params_stay_visible_without_hiding_the_runs_fields():
    flat = flat_params({"weights": [1, 2], "extra": {"b": 1, "a": [2]}, "status": "x", "steps": 3, "num_steps": 4})
    assert flat["weights"] == "[1, 2]"  # not 4 weights: kept whole, as JSON
    assert flat["extra"] == '{"a": [2], "b": 1}'
    assert flat["param_status"] == "x"  # a parameter never overwrites the run's status column
    assert (flat["steps"], flat["num_steps"]) == (3, 4)  # both spellings stored: each keeps its own


def test_columns_are_the_runs_fields_then_every_parameter_sorted_and_missing_cells_are_none():
    runs = [
        _run("rs_a", InferenceParams(num_steps=10, seed=1).to_dict()),
        _run("rs_b", {"control_weight": 0.5}, kind="upscale", parent_run_id="rs_a"),
        _run("rs_c", {}, kind="enhance", prompt_id="ps_gone", status="failed", exit_code=1, error="boom"),
    ]
    columns, rows = export_rows(runs, PROMPTS)
    params = columns[len(RUN_COLUMNS):]
    assert columns[:len(RUN_COLUMNS)] == list(RUN_COLUMNS)
    assert params == sorted(params) and {"steps", "seed", "weight_vis", "control_weight"} <= set(params)
    assert [r["id"] for r in rows] == ["rs_a", "rs_b", "rs_c"]
    assert all(list(r) == columns for r in rows)  # every row, every column, in order
    a, b, c = rows
    assert (a["steps"], a["seed"], a["control_weight"]) == (10, 1, None)
    assert (b["control_weight"], b["steps"], b["parent_run_id"]) == (0.5, None, "rs_a")
    assert a["prompt_name"] == "robot" and a["prompt_text"].endswith("on\ntwo lines")
    assert (a["queued_at"], a["started_at"]) == ("2024-01-01T00:00:01.000Z", None)  # waited, never got a GPU
    assert (c["prompt_name"], c["prompt_text"], c["error"]) == (None, None, "boom")  # its prompt is unknown
    assert "download" not in columns and "progress" not in columns and "params" not in columns


def test_csv_has_a_header_and_one_row_per_run_and_reads_back():
    runs = [_run("rs_a", InferenceParams(num_steps=10, seed=1, distilled=True).to_dict()),
            _run("rs_b", {"control_weight": 0.5}, kind="upscale")]
    columns, rows = export_rows(runs, PROMPTS)
    text = to_csv(columns, rows)
    assert text.splitlines()[0] == ",".join(columns)
    back = list(csv.DictReader(io.StringIO(text)))
    assert [r["id"] for r in back] == ["rs_a", "rs_b"] and list(back[0]) == columns
    assert (back[0]["steps"], back[0]["seed"], back[0]["weight_seg"], back[0]["distilled"]) == ("10", "1", "0.25",
                                                                                               "true")
    assert back[0]["prompt_text"] == PROMPTS["ps_1"]["text"]  # commas, quotes and newlines survive
    assert (back[1]["steps"], back[1]["control_weight"], back[1]["error"], back[1]["exit_code"]) == ("", "0.5", "",
                                                                                                     "0")


def test_no_runs_is_just_the_header_and_json_rows_are_plain_data():
    columns, rows = export_rows([], {})
    assert columns == list(RUN_COLUMNS) and rows == []
    assert to_csv(columns, rows) == ",".join(RUN_COLUMNS) + "\n"
    _, rows = export_rows([_run("rs_a", {"seed": 3})], PROMPTS)
    assert json.loads(json.dumps(rows)) == rows


def test_the_scores_are_columns_of_their_own_empty_until_made_and_an_error_says_why():
    metrics = {"blur_ssim": 0.83, "canny_f1": 0.41, "canny_precision": 0.45, "canny_recall": 0.38, "frames": 31,
               "label": "31 of 121 frames (1 in 4)", "not_computed": {"seg_miou": "…"}, "error": None}
    runs = [_run("rs_a", {}, metrics=metrics), _run("rs_b", {}, metrics=None),
            _run("rs_c", {}, metrics={"blur_ssim": None, "canny_f1": None, "frames": 0, "error": "cannot read x"})]
    columns, rows = export_rows(runs, PROMPTS)
    scored = {c: rows[0][c] for c in ("blur_ssim", "canny_f1", "canny_precision", "canny_recall", "metrics_frames",
                                      "metrics_error")}
    assert scored == {"blur_ssim": 0.83, "canny_f1": 0.41, "canny_precision": 0.45, "canny_recall": 0.38,
                      "metrics_frames": 31, "metrics_error": None}
    assert rows[1]["blur_ssim"] is None and rows[1]["metrics_frames"] is None
    assert rows[2]["metrics_error"] == "cannot read x" and rows[2]["canny_f1"] is None
    assert "label" not in columns and "not_computed" not in columns
    assert list(csv.DictReader(io.StringIO(to_csv(columns, rows))))[0]["canny_f1"] == "0.41"
