"""A run's scores on the page: the details panel's line and the Compare captions (pure)."""

from __future__ import annotations

from app.compare import differing
from app.details import run_details
from app.scores import scores_caption, scores_markdown
from tests.unit.app_fakes import PROMPT, make_run

METRICS = {"blur_ssim": 0.8312, "canny_f1": 0.4123, "canny_precision": 0.45, "canny_recall": 0.3804, "frames": 31,
           "label": "31 of 121 frames (1 in 4)", "not_computed": {"depth_rmse": "…", "seg_miou": "…"}, "error": None}


def scored(run_id: str = "rs_1", **fields) -> dict:
    return make_run(run_id, download_status="done", metrics=METRICS, metrics_status="done", **fields)


def test_the_details_show_both_scores_their_frames_and_what_is_not_computed():
    line = scores_markdown(scored())
    assert line == ("**Scores** (31 of 121 frames (1 in 4)): Blur SSIM **0.831** · Canny-F1 **0.412** "
                    "(precision 0.450, recall 0.380) · not computed: Depth RMSE, Seg mIoU "
                    "(they need a neural network on the output)")
    assert line in run_details(scored(), PROMPT, "").status


def test_scores_being_made_failed_or_never_due_read_so():
    assert scores_markdown(make_run(metrics_status="pending")) == "**Scores:** computing on this machine…"
    failed = make_run(metrics_status="failed",
                      metrics={"error": "cannot read output.mp4: Invalid data", "blur_ssim": None})
    assert scores_markdown(failed) == "**Scores:** none: cannot read output.mp4: Invalid data"
    assert scores_markdown(make_run(metrics_status="none")) == "" and scores_markdown(make_run()) == ""
    assert "Scores" not in run_details(make_run(), PROMPT, "").status


def test_compare_captions_end_with_the_scores_of_runs_that_have_them():
    runs = [scored("rs_a", params={"seed": 1}), make_run("rs_b", params={"seed": 2})]
    assert differing(runs, {}) == ["seed 1 · Blur SSIM 0.831 · Canny-F1 0.412", "seed 2"]
    same = [scored("rs_a", params={"seed": 1}), scored("rs_b", params={"seed": 1})]
    assert differing(same, {}) == ["rs_a · Blur SSIM 0.831 · Canny-F1 0.412", "rs_b · Blur SSIM 0.831 · Canny-F1 0.412"]
    assert scores_caption(make_run(metrics={"error": "x", "blur_ssim": None})) == ""
