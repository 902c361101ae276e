"""A sweep's view (pure): the parameters that vary, sorting by a score, marking the best; notes."""

from __future__ import annotations

import pytest

from cosmos_core.run_views import MAX_NOTE_CHARS, check_note
from cosmos_core.store.queries import InvalidInput
from cosmos_core.sweep_view import best_ids, cell, ranked, score_of, sweep_view, total_gpu_seconds, varying
from cosmos_core.upstream.params import InferenceParams


def _run(run_id: str, metrics: dict | None = None, status: str = "completed", gpu_seconds: float | None = 60.0,
         prompt_id: str = "ps_1", model: str = "transfer1", **params) -> dict:
    return {"id": run_id, "prompt_id": prompt_id, "model": model, "status": status, "metrics": metrics,
            "gpu_seconds": gpu_seconds, "starred": False, "note": None,
            "params": InferenceParams(num_steps=35, seed=1).to_dict() | params}


def test_only_the_parameters_that_vary_across_the_sweep_are_listed():
    runs = [_run("rs_a", seed=1, sigma_max=60.0), _run("rs_b", seed=2, sigma_max=60.0),
            _run("rs_c", seed=1, sigma_max=80.0)]
    assert varying(runs) == ["seed", "sigma_max"]
    assert varying(runs[:1]) == []  # one run varies nothing
    assert varying([]) == []
    weights = [_run("rs_a", weights=[0, 0.3, 0, 0]), _run("rs_b", weights=[0, 0.5, 0, 0])]
    assert varying(weights) == ["weights"]
    assert varying([_run("rs_a"), _run("rs_b", prompt_id="ps_2")]) == ["prompt_id"]  # a sweep over two prompts
    assert varying([_run("rs_a"), {**_run("rs_b"), "params": {}}]) != []  # a parameter one run lacks differs


def test_scores_are_read_from_metrics_and_anything_else_is_blank():
    assert score_of(_run("rs_a", {"blur_ssim": 0.8}), "blur_ssim") == 0.8
    assert score_of(_run("rs_a", {"blur_ssim": 1}), "blur_ssim") == 1.0
    for metrics in (None, {}, {"blur_ssim": None}, {"blur_ssim": "0.8"}, {"blur_ssim": float("nan")},
                    {"blur_ssim": True}, {"error": "no video"}):
        assert score_of(_run("rs_a", metrics), "blur_ssim") is None


def test_ranked_best_first_and_unscored_last_in_their_order():
    runs = [_run("rs_none"), _run("rs_low", {"blur_ssim": 0.2, "canny_f1": 0.9}),
            _run("rs_high", {"blur_ssim": 0.9, "canny_f1": 0.1}), _run("rs_later", None, status="running")]
    assert [r["id"] for r in ranked(runs, "blur_ssim")] == ["rs_high", "rs_low", "rs_none", "rs_later"]
    assert [r["id"] for r in ranked(runs, "canny_f1")] == ["rs_low", "rs_high", "rs_none", "rs_later"]
    with pytest.raises(ValueError, match="unknown score 'psnr'; sort by one of blur_ssim, canny_f1"):
        ranked(runs, "psnr")


def test_the_best_is_the_highest_score_ties_all_marked_none_without_scores():
    runs = [_run("rs_a", {"canny_f1": 0.5}), _run("rs_b", {"canny_f1": 0.7}), _run("rs_c", {"canny_f1": 0.7})]
    assert best_ids(runs, "canny_f1") == {"rs_b", "rs_c"}
    assert best_ids(runs, "blur_ssim") == set()
    assert best_ids([], "blur_ssim") == set()


def test_the_view_lists_runs_best_first_with_varying_parameters_scores_and_total_gpu_time():
    runs = [_run("rs_a", {"blur_ssim": 0.5, "canny_f1": 0.4}, seed=1, gpu_seconds=100.0),
            _run("rs_b", {"blur_ssim": 0.9, "canny_f1": 0.3}, seed=2, gpu_seconds=50.5),
            _run("rs_c", None, status="running", seed=3, gpu_seconds=None),
            {**_run("rs_d", {"blur_ssim": 0.7}, seed=4), "starred": True, "note": "sharp edges"}]
    view = sweep_view("sw_1", runs, "blur_ssim").to_dict()
    assert view["sort_by"] == "blur_ssim" and view["gpu_seconds"] == 210.5 == total_gpu_seconds(runs)
    assert view["columns"] == ["id", "best", "status", "seed", "blur_ssim", "canny_f1", "gpu_seconds", "starred",
                               "note"]
    assert [(r["id"], r["best"], r["seed"]) for r in view["runs"]] == [
        ("rs_b", True, 2), ("rs_d", False, 4), ("rs_a", False, 1), ("rs_c", False, 3)]
    assert view["runs"][1] | {} == {"id": "rs_d", "best": False, "status": "completed", "seed": 4, "blur_ssim": 0.7,
                                    "canny_f1": None, "gpu_seconds": 60.0, "starred": True, "note": "sharp edges"}
    assert view["counts"] == {"completed": 3, "running": 1}
    by_canny = sweep_view("sw_1", runs, "canny_f1").to_dict()
    assert [r["id"] for r in by_canny["runs"] if r["best"]] == ["rs_a"]
    steps = sweep_view("sw_2", [_run("rs_a", num_steps=10), _run("rs_b", num_steps=20)]).to_dict()
    assert "steps" in steps["columns"] and "num_steps" not in steps["columns"]  # as the command line says it


def test_cells_read_as_a_table_shows_them():
    assert cell("blur_ssim", 0.83456) == "0.835" and cell("canny_f1", None) == ""
    assert cell("gpu_seconds", 125.0) == "2m 05s" and cell("best", True) == "best" and cell("best", False) == ""
    assert cell("starred", True) == "★" and cell("weights", [0, 0.5, 0, 0]) == "0/0.5/0/0"
    assert cell("sigma_max", 80.0) == "80" and cell("guidance", 6.5) == "6.5" and cell("seed", 7) == "7"


def test_a_note_is_one_bounded_line():
    assert check_note("  sharp, but the sky flickers ") == "sharp, but the sky flickers"
    assert check_note("") is None and check_note("   ") is None  # clears it
    assert check_note("a\tb") == "a b"
    assert check_note("x" * MAX_NOTE_CHARS) == "x" * MAX_NOTE_CHARS
    with pytest.raises(InvalidInput, match=f"at most {MAX_NOTE_CHARS} characters; this one has 201"):
        check_note("x" * 201)
    for bad in ("two\nlines", "carriage\rreturn"):
        with pytest.raises(InvalidInput, match="one line"):
            check_note(bad)
    with pytest.raises(InvalidInput, match="control characters"):
        check_note("bell\x07")
