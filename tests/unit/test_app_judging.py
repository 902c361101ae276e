"""Judging in the page, as plain data: the run's line and progress, the table's cells, the Sweep view."""

from __future__ import annotations

from datetime import UTC, datetime

from app import run_table, tables
from app.details import STAR, UNSTAR, progress_markdown, run_details, status_markdown
from app.judging import sweep_frame, sweep_summary
from cosmos_core.sweep_view import sweep_view
from tests.unit.app_fakes import PROMPT, make_run

NOW = datetime(2025, 1, 2, 3, 10, tzinfo=UTC)


def test_the_runs_line_shows_star_note_gpu_time_and_sweep():
    run = make_run(starred=True, note="sharp edges", gpu_seconds=140.0, sweep_id="sw_1")
    text = status_markdown(run, NOW)
    assert text.startswith("★ **rs_1**") and "GPU time 2m 20s" in text and "sweep sw_1" in text
    assert "**Note:** sharp edges" in text
    plain = status_markdown(make_run(), NOW)
    assert "★" not in plain and "GPU time" not in plain and "Note" not in plain
    details = run_details(run, PROMPT, "")
    assert (details.star_label, details.note, "open_sweep" in details.actions) == (UNSTAR, "sharp edges", True)
    assert (run_details(make_run(), PROMPT, "").star_label, run_details(make_run(), PROMPT, "").note) == (STAR, "")


def test_time_left_shows_on_the_progress_line_and_in_the_status_cell():
    running = make_run(status="running", progress="diffusion sampling · 1/2 chunks",
                       time_left_text="about 1m 40s left (from 3 earlier runs)")
    assert progress_markdown(running) == ("⏳ diffusion sampling · 1/2 chunks · time left: about 1m 40s left "
                                          "(from 3 earlier runs)")
    assert tables.status_text(running).endswith("1/2 chunks · about 1m 40s left (from 3 earlier runs)")
    queued = make_run(status="queued", progress=None, queue_position=2, time_left_text="no estimate")
    assert progress_markdown(queued) == "⏳ time left: no estimate"
    assert tables.status_text(queued) == "queued #2 · no estimate"
    assert progress_markdown(make_run(status="completed", time_left_text=None)) == ""


def test_a_starred_runs_prompt_cell_has_the_star_and_a_scored_run_its_thumbnail():
    runs = [make_run("rs_1", starred=True, thumbnail="/out/run_rs_1/outputs/thumb.jpg"), make_run("rs_2")]
    frame = run_table.experiment_frame(runs, {"ps_1": "red robot"}, ["thumbnail", "prompt"], (), NOW)
    assert list(frame["prompt"]) == ["★ red robot", "red robot"]
    assert 'src="/gradio_api/file=/out/run_rs_1/outputs/thumb.jpg"' in frame["frame"][0] and frame["frame"][1] == ""


def test_the_sweep_view_table_and_summary():
    runs = [make_run("rs_a", metrics={"blur_ssim": 0.5, "canny_f1": 0.4}, gpu_seconds=60.0, sweep_id="sw_1",
                     params={"seed": 1, "num_steps": 35}),
            make_run("rs_b", metrics={"blur_ssim": 0.91, "canny_f1": 0.2}, gpu_seconds=30.0, sweep_id="sw_1",
                     params={"seed": 2, "num_steps": 35}, starred=True, note="keep")]
    view = sweep_view("sw_1", runs, "blur_ssim").to_dict()
    frame = sweep_frame(view)
    assert list(frame.columns) == ["id", "best", "status", "seed", "blur_ssim", "canny_f1", "GPU time", "★", "note"]
    assert frame.values.tolist() == [["rs_b", "best", "completed", "2", "0.910", "0.200", "30s", "★", "keep"],
                                     ["rs_a", "", "completed", "1", "0.500", "0.400", "1m 00s", "", ""]]
    summary = sweep_summary(view)
    assert summary.startswith("**Sweep sw_1**: 2 runs (completed 2) · GPU time 1m 30s in all · sorted by **blur_ssim**")
    assert "🏆 Best by blur_ssim: **rs_b** (0.910)" in summary
    unscored = sweep_summary(sweep_view("sw_1", [make_run("rs_c")], "canny_f1").to_dict())
    assert "No run has a canny_f1 score yet" in unscored


def test_the_hosts_tab_shows_each_hosts_gpu_time():
    host = {"name": "gpu1", "hostname": "h", "port": 22, "user": "u", "executor": "docker", "last_ok_at": None,
            "last_error": None, "gpu_seconds": 7260.0}
    frame = tables.hosts_frame([host, {**host, "name": "gpu2", "gpu_seconds": 0.0}], {})
    assert list(frame["GPU time"]) == ["2h 01m", "0s"]
